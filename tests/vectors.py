"""Known-answer vectors, computed outside this code base with
``printf '%s' "$TIMESTAMP.$BODY" | openssl dgst -sha256 -hmac "$SECRET"``."""

SECRET = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"

SAMPLE_TIMESTAMP = "2026-05-24T21:10:37Z"
SAMPLE_BODY = (
    b'{"event":"capsule.pause","outcome":"error","timestamp":"2026-05-24T21:10:37Z",'
    b'"team_id":"team-0k3v9x2m1q8w7e6r5t4y3u2i1","actor":{"type":"system"},'
    b'"resource":{"id":"sb-2b7c4d1e0f9a8b7c6d5e4f3a2","type":"sandbox"},'
    b'"metadata":{"reason":"ttl_expired"},"error":"host unreachable"}'
)
SAMPLE_SIGNATURE = "sha256=955191282d04667bac3b26171db1fb72197789f41c1f88d99001e8a9425f5a6a"

ESCAPED_TIMESTAMP = "2026-05-24T21:10:40Z"
ESCAPED_BODY = (
    '{"event":"capsule.create","outcome":"error","timestamp":"2026-05-24T21:10:39Z",'
    '"team_id":"team-x","actor":{"type":"user","id":"usr-1","name":"Zoë \\u003cadmin\\u003e"},'
    '"resource":{"id":"sb-1","type":"sandbox"},"metadata":{"template":"python\\u0026node"},'
    '"error":"disk full — réessayez"}'
).encode()
ESCAPED_SIGNATURE = "sha256=1afc55bf78ca21100a5c3794617dd7fb48569a9f81be7a41a850b84fd7e65460"

# A body from a Wrenn 0.1.x server: old type name, no outcome, metadata or error.
LEGACY_BODY = (
    b'{"event":"capsule.paused","timestamp":"2025-11-02T08:00:00Z","team_id":"team-7",'
    b'"actor":{"type":"user","id":"usr-9","name":"ada"},'
    b'"resource":{"id":"cl-abc","type":"sandbox"}}'
)
