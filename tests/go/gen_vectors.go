// Command gen_vectors writes the Go-encoded event vectors that
// tests/test_go_vectors.py checks the Python encoder and parser against.
//
// Regenerate (standard library only, from the repository root):
//
//	go run tests/go/gen_vectors.go > tests/data/go_vectors.json
//
// Each vector is {"name", "fields", "wire_b64"}: "wire_b64" is the base64 of
// json.Marshal(event), the exact body Wrenn puts on the wire; "fields" holds
// the same event's field values as plain JSON (no omitempty, so empty values
// show as "", and "metadata" as a list of [key, value] pairs in the order
// they were inserted, or null for a nil map) so the test can rebuild the
// event without reading the wire bytes.
//
// Invalid UTF-8 inside a Go string goes on the wire as the six-character
// escape \ufffd, one per bad byte, and reaches "fields" as U+FFFD. A receiver
// decoding the wire sees U+FFFD, which json.Marshal writes as raw UTF-8, so
// such a body does not survive decode + encode byte for byte, not even in Go.
// For those vectors "go_roundtrip_b64" holds what Go itself produces from
// json.Unmarshal(wire) followed by json.Marshal; it is absent when that
// round trip gives the wire bytes back, as it does for every valid string.
//
// The control characters 0x08 and 0x0c are deliberately absent: Go 1.19 to
// 1.21 write them as \u0008 and \u000c, while the Go versions Wrenn builds
// with (1.22 and later) write \b and \f, so their wire bytes depend on the
// toolchain that runs this program. Everything else here encodes the same
// way in every Go release since 1.19.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// ActorKind, Actor, Resource, Outcome and Event are copied from Wrenn's
// pkg/events/event.go at v0.2.0 (seed/event.go in the protocol notes).

type ActorKind string

type Actor struct {
	Type ActorKind `json:"type"`
	ID   string    `json:"id,omitempty"`
	Name string    `json:"name,omitempty"`
}

type Resource struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type Outcome string

type Event struct {
	Event     string            `json:"event"`
	Outcome   Outcome           `json:"outcome,omitempty"`
	Timestamp string            `json:"timestamp"`
	TeamID    string            `json:"team_id"`
	Actor     Actor             `json:"actor"`
	Resource  Resource          `json:"resource"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// pairs keeps metadata in insertion order; Go's map forgets it and the
// encoder sorts the keys (by their raw bytes).
type pairs [][2]string

type fieldsActor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

type fields struct {
	Event     string      `json:"event"`
	Outcome   string      `json:"outcome"`
	Timestamp string      `json:"timestamp"`
	TeamID    string      `json:"team_id"`
	Actor     fieldsActor `json:"actor"`
	Resource  Resource    `json:"resource"`
	Metadata  pairs       `json:"metadata"`
	Error     string      `json:"error"`
}

type vector struct {
	Name    string `json:"name"`
	Fields  fields `json:"fields"`
	WireB64 string `json:"wire_b64"`
	// GoRoundtripB64 is set only when it differs from WireB64.
	GoRoundtripB64 string `json:"go_roundtrip_b64,omitempty"`
}

type spec struct {
	name string
	ev   Event
	md   pairs
	// nilMetadata leaves Event.Metadata nil instead of an empty map.
	nilMetadata bool
}

// ts formats a fixed moment the way Wrenn's events.Now() formats time.Now().
func ts(year int, month time.Month, day, hour, minute, sec, nsec int, loc *time.Location) string {
	return time.Date(year, month, day, hour, minute, sec, nsec, loc).UTC().Format(time.RFC3339)
}

var (
	t0       = ts(2026, time.May, 24, 21, 10, 37, 0, time.UTC)
	user     = Actor{Type: "user", ID: "usr-4f8a2c", Name: "ada"}
	apiKey   = Actor{Type: "api_key", ID: "key-9d1e7b", Name: "ci deploy key"}
	system   = Actor{Type: "system"}
	sandbox  = Resource{ID: "sb-2b7c4d1e0f9a8b7c6d5e4f3a2", Type: "sandbox"}
	snapshot = Resource{ID: "python-3.12", Type: "snapshot"}
	host     = Resource{ID: "host-eu-west-1a-07", Type: "host"}
	team     = "team-0k3v9x2m1q8w7e6r5t4y3u2i1"
)

// controls is every C0 control character except 0x08 and 0x0c (see the
// header comment), then DEL.
func controls() string {
	var b strings.Builder
	for c := 0; c < 0x20; c++ {
		if c == 0x08 || c == 0x0c {
			continue
		}
		b.WriteByte(byte(c))
	}
	b.WriteByte(0x7f)
	return b.String()
}

func base(event string, outcome Outcome, actor Actor, resource Resource) Event {
	return Event{
		Event:     event,
		Outcome:   outcome,
		Timestamp: t0,
		TeamID:    team,
		Actor:     actor,
		Resource:  resource,
	}
}

func with(e Event, edit func(*Event)) Event {
	edit(&e)
	return e
}

func specs() []spec {
	ctl := controls()
	nonASCII := "café 日本 😀 \ufffd \ufffe \U0010ffff e\u0301 עברית ß Ω"
	mixed := "<a href=\"x\">&amp;</a>\u2028\u2029 \"q\" \\ / é 日本 😀\n\r\t" + ctl
	long := strings.Repeat(mixed, 1+65536/len(mixed))

	manyKeys := pairs{}
	for i := 0; i < 200; i++ {
		// A fixed permutation of 0..199 (73 is coprime with 200).
		k := (i * 73) % 200
		manyKeys = append(manyKeys, [2]string{fmt.Sprintf("key_%03d", k), fmt.Sprintf("v%d", i)})
	}

	return []spec{
		// Every event type of the seed, in realistic shapes.
		{name: "capsule.create/success/user", ev: base("capsule.create", "success", user, sandbox),
			md: pairs{{"template", "python-3.12"}}},
		{name: "capsule.create/error/system", ev: with(base("capsule.create", "error", system, sandbox),
			func(e *Event) { e.Error = "boot timed out after 30s" }),
			md: pairs{{"reason", "inferred_from_host_state"}}},
		{name: "capsule.pause/success/api_key", ev: base("capsule.pause", "success", apiKey, sandbox)},
		{name: "capsule.pause/error/protocol-example", ev: with(base("capsule.pause", "error", system, sandbox),
			func(e *Event) { e.Error = "host unreachable" }),
			md: pairs{{"reason", "ttl_expired"}}},
		{name: "capsule.resume/success", ev: base("capsule.resume", "success", user, sandbox)},
		{name: "capsule.resume/error", ev: with(base("capsule.resume", "error", system, sandbox),
			func(e *Event) { e.Error = "snapshot missing: sb-2b7c/mem.img" }),
			md: pairs{{"reason", "restored_after_host_recovery"}}},
		{name: "capsule.destroy/success/orphaned", ev: base("capsule.destroy", "success", system, sandbox),
			md: pairs{{"reason", "orphaned"}}},
		{name: "capsule.destroy/error", ev: with(base("capsule.destroy", "error", user, sandbox),
			func(e *Event) { e.Error = "rpc error: code = Unavailable desc = connection refused" })},
		{name: "template.snapshot.create/success", ev: base("template.snapshot.create", "success", user, snapshot)},
		{name: "template.snapshot.create/error", ev: with(base("template.snapshot.create", "error", apiKey, snapshot),
			func(e *Event) { e.Error = "disk full — réessayez" })},
		{name: "template.snapshot.delete/success", ev: base("template.snapshot.delete", "success", user, snapshot)},
		{name: "template.snapshot.delete/system-cleanup", ev: base("template.snapshot.delete", "success", system, snapshot),
			md: pairs{{"reason", "cleanup_after_create_error"}}},
		{name: "host.up", ev: base("host.up", "", system, host), nilMetadata: true},
		{name: "host.down", ev: base("host.down", "", system, host), nilMetadata: true},
		{name: "capsule.state.changed", ev: base("capsule.state.changed", "", system, sandbox),
			md: pairs{{"to", "paused"}, {"from", "running"}}},
		{name: "channel.test", ev: with(base("channel.test", "", system, Resource{ID: "test", Type: "channel"}),
			func(e *Event) { e.TeamID = "test" }), nilMetadata: true},

		// Types newer servers send (not in the seed's model).
		{name: "volume.create", ev: base("volume.create", "success", user, Resource{ID: "vol-1", Type: "volume"}),
			md: pairs{{"name", "data"}}},
		{name: "volume.delete/error", ev: with(base("volume.delete", "error", user, Resource{ID: "vol-1", Type: "volume"}),
			func(e *Event) { e.Error = "volume is attached to a running capsule" }), md: pairs{{"name", "data"}}},

		// Types and values the seed does not know.
		{name: "unknown-type/widget.frobnicate", ev: base("widget.frobnicate", "success", user, Resource{ID: "widget-1", Type: "widget"})},
		{name: "legacy-type/capsule.paused", ev: base("capsule.paused", "", user, Resource{ID: "cl-abc", Type: "sandbox"}),
			nilMetadata: true},
		{name: "unknown-outcome-and-actor-kind", ev: base("capsule.pause", "partial", Actor{Type: "service_account", ID: "sa-1"}, sandbox)},

		// Empty values: omitempty drops outcome, metadata, error, actor id and name only.
		{name: "empty/optional-fields-omitted", ev: base("capsule.create", "", Actor{Type: "user"}, sandbox)},
		{name: "empty/nil-metadata", ev: base("capsule.create", "success", user, sandbox), nilMetadata: true},
		{name: "empty/required-strings-kept", ev: Event{Timestamp: t0}},
		{name: "empty/actor-id-only", ev: base("capsule.pause", "success", Actor{Type: "api_key", ID: "key-1"}, sandbox)},
		{name: "empty/actor-name-only", ev: base("capsule.pause", "success", Actor{Type: "user", Name: "ada"}, sandbox)},
		{name: "empty/metadata-values-and-key", ev: base("capsule.destroy", "success", system, sandbox),
			md: pairs{{"reason", ""}, {"", "empty key"}, {"note", ""}}},

		// Metadata key order: inserted unsorted, Go sorts by the keys' bytes.
		{name: "metadata/many-keys-unsorted", ev: base("capsule.create", "success", user, sandbox),
			md: pairs{{"zeta", "26"}, {"alpha", "1"}, {"Zulu", "Z"}, {"mid", "m"}, {"_under", "_"}, {"10", "ten"},
				{"9", "nine"}, {"a.b", "dot"}, {"a-b", "dash"}, {"a", "short"}, {"aa", "double"}, {"A", "upper"},
				{"template", "python-3.12"}, {"reason", "ttl_expired"}, {"from", "running"}, {"to", "paused"}}},
		{name: "metadata/tricky-key-order", ev: base("capsule.create", "success", user, sandbox),
			md: pairs{{"😀", "emoji"}, {"\ufffd", "replacement"}, {"日本", "cjk"}, {"é", "e-acute"}, {"~", "tilde"},
				{"\x7f", "del"}, {"z", "z"}, {"<", "lt"}, {"&", "amp"}, {"\u2028", "ls"}, {"a\x00", "a-nul"},
				{"a", "a"}, {"a b", "a-space"}, {"\"", "quote"}, {"\\", "backslash"}, {"\n", "newline"}, {"", "empty"}}},
		{name: "metadata/200-keys", ev: base("capsule.create", "success", user, sandbox), md: manyKeys},

		// String escaping, one concern per vector, in every string field.
		{name: "escape/html", ev: with(base("capsule.create", "error", Actor{Type: "user", ID: "usr-<1>", Name: "Zoë <admin> & co"}, sandbox),
			func(e *Event) { e.Error = "<script>alert('x')</script> && a>b" }),
			md: pairs{{"template", "python&node"}, {"<key>", "<value>"}}},
		{name: "escape/line-separators", ev: with(base("capsule.pause", "error", user, sandbox),
			func(e *Event) { e.Error = "line\u2028separator\u2029paragraph" }),
			md: pairs{{"reason", "\u2028\u2029"}}},
		{name: "escape/quote-backslash-slash", ev: with(base("capsule.pause", "error", Actor{Type: "user", Name: `O"Brien \ co`}, Resource{ID: `sb-"1"\2/3`, Type: "sand/box"}),
			func(e *Event) { e.Error = `path C:\tmp\"x" /var/run/` }),
			md: pairs{{`k"\/`, `v"\/`}}},
		{name: "escape/newline-cr-tab", ev: with(base("capsule.destroy", "error", user, sandbox),
			func(e *Event) { e.Error = "first line\nsecond\r\nthird\ttabbed\n" }),
			md: pairs{{"multi\nline", "a\rb\tc"}}},
		{name: "escape/c0-controls-and-del", ev: with(base("capsule.create", "error", Actor{Type: "user", Name: ctl}, Resource{ID: ctl, Type: "sandbox"}),
			func(e *Event) { e.Error = ctl; e.TeamID = "team-" + ctl }),
			md: pairs{{ctl, ctl}, {"del", "\x7f"}}},
		{name: "escape/non-ascii-raw", ev: with(base("capsule.create", "error", Actor{Type: "user", Name: "Zoë 日本 😀"}, sandbox),
			func(e *Event) { e.Error = nonASCII }),
			md: pairs{{"template", "ümlaut-日本-😀"}, {"é", nonASCII}}},

		// Invalid UTF-8 inside Go strings: json.Marshal writes one U+FFFD per bad byte.
		{name: "invalid-utf8/values", ev: with(base("capsule.create", "error", Actor{Type: "user", Name: "bad\xffname"}, Resource{ID: "sb-\xc3", Type: "sandbox"}),
			func(e *Event) {
				// lone 0xff, truncated 2-byte sequence, UTF-16 surrogate as UTF-8,
				// overlong '/', beyond U+10FFFF, stray continuation bytes
				e.Error = "a\xffb\xc3(c\xed\xa0\x80d\xc0\xafe\xf4\x90\x80\x80f\x80\xbf"
			}),
			md: pairs{{"reason", "\xfe\xff"}}},
		{name: "invalid-utf8/event-team-actor", ev: base("capsule.\xff", "succ\xc3ss", Actor{Type: "us\xe2\x82er", ID: "usr-\x80"}, Resource{ID: "x", Type: "sand\xffbox"})},
		{name: "invalid-utf8/metadata-key", ev: base("capsule.create", "success", user, sandbox),
			md: pairs{{"temp\xfflate", "x"}, {"a", "1"}, {"z", "2"}}},
		// Go sorts map keys by their raw bytes before it replaces invalid
		// UTF-8, so "\xff" lands after "😀" (f0 9f 98 80) on the wire, while
		// after decoding U+FFFD (ef bf bd) sorts before the emoji.
		{name: "invalid-utf8/metadata-key-order", ev: base("capsule.create", "success", user, sandbox),
			md: pairs{{"\xff", "invalid"}, {"😀", "emoji"}}},

		// Very long strings.
		{name: "long/error-64k-mixed", ev: with(base("capsule.create", "error", user, sandbox),
			func(e *Event) { e.Error = long }),
			md: pairs{{"reason", long[:4096]}}},
		{name: "long/ascii-ids", ev: base("capsule.pause", "success",
			Actor{Type: "user", ID: "usr-" + strings.Repeat("0123456789abcdef", 1024), Name: strings.Repeat("n", 10000)},
			Resource{ID: "sb-" + strings.Repeat("z", 50000), Type: "sandbox"})},

		// Timestamps as events.Now() formats them: UTC, RFC 3339, whole seconds.
		{name: "timestamp/unix-epoch", ev: with(base("host.up", "", system, host),
			func(e *Event) { e.Timestamp = ts(1970, time.January, 1, 0, 0, 0, 0, time.UTC) })},
		{name: "timestamp/leap-day", ev: with(base("host.down", "", system, host),
			func(e *Event) { e.Timestamp = ts(2028, time.February, 29, 12, 0, 0, 0, time.UTC) })},
		{name: "timestamp/nanoseconds-truncated", ev: with(base("host.up", "", system, host),
			func(e *Event) { e.Timestamp = ts(2026, time.December, 31, 23, 59, 59, 999999999, time.UTC) })},
		{name: "timestamp/from-other-zone", ev: with(base("host.up", "", system, host),
			func(e *Event) {
				e.Timestamp = ts(2026, time.January, 1, 3, 15, 0, 123456789, time.FixedZone("IST", 5*3600+1800))
			})},
		{name: "timestamp/year-9999", ev: with(base("host.up", "", system, host),
			func(e *Event) { e.Timestamp = ts(9999, time.December, 31, 23, 59, 59, 0, time.UTC) })},
		{name: "timestamp/go-zero-time", ev: with(base("host.down", "", system, host),
			func(e *Event) { e.Timestamp = time.Time{}.UTC().Format(time.RFC3339) })},
		{name: "timestamp/year-0999", ev: with(base("host.down", "", system, host),
			func(e *Event) { e.Timestamp = ts(999, time.July, 4, 1, 2, 3, 0, time.UTC) })},
	}
}

func build(s spec) (vector, error) {
	ev := s.ev
	if !s.nilMetadata {
		ev.Metadata = make(map[string]string, len(s.md))
		for _, kv := range s.md {
			ev.Metadata[kv[0]] = kv[1]
		}
	}
	wire, err := json.Marshal(ev)
	if err != nil {
		return vector{}, fmt.Errorf("%s: %w", s.name, err)
	}
	var decoded Event
	if err := json.Unmarshal(wire, &decoded); err != nil {
		return vector{}, fmt.Errorf("%s: %w", s.name, err)
	}
	again, err := json.Marshal(decoded)
	if err != nil {
		return vector{}, fmt.Errorf("%s: %w", s.name, err)
	}
	roundtrip := ""
	if string(again) != string(wire) {
		roundtrip = base64.StdEncoding.EncodeToString(again)
	}
	md := s.md
	if s.nilMetadata {
		md = nil
	} else if md == nil {
		md = pairs{}
	}
	return vector{
		Name: s.name,
		Fields: fields{
			Event:     ev.Event,
			Outcome:   string(ev.Outcome),
			Timestamp: ev.Timestamp,
			TeamID:    ev.TeamID,
			Actor:     fieldsActor{Type: string(ev.Actor.Type), ID: ev.Actor.ID, Name: ev.Actor.Name},
			Resource:  ev.Resource,
			Metadata:  md,
			Error:     ev.Error,
		},
		WireB64:        base64.StdEncoding.EncodeToString(wire),
		GoRoundtripB64: roundtrip,
	}, nil
}

func main() {
	out := []byte("[\n")
	seen := map[string]bool{}
	list := specs()
	for i, s := range list {
		if seen[s.name] {
			fmt.Fprintf(os.Stderr, "duplicate vector name %q\n", s.name)
			os.Exit(1)
		}
		seen[s.name] = true
		v, err := build(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		line, err := json.Marshal(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out = append(out, line...)
		if i < len(list)-1 {
			out = append(out, ',')
		}
		out = append(out, '\n')
	}
	out = append(out, "]\n"...)
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
