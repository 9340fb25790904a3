from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

# Load the plugin by module name, whether or not the package's entry point is
# installed: blocking the entry point's name keeps pytest from registering the
# same module twice ("already registered under a different name"). The runs are
# subprocesses, as a user's would be: in process, a plugin the outer session
# already imported cannot be assertion-rewritten, and pytest warns about it.
PLUGIN = ("-p", "no:wrenn_webhooks", "-p", "wrenn_webhooks.pytest_plugin")

INI = """
[pytest]
addopts = --strict-markers
filterwarnings = error
"""

USES_EVERY_FIXTURE = """
import re
from datetime import timedelta

import pytest

from wrenn_webhooks import CapsuleCreate, Event, HostDown, VolumeCreate, WebhookReceiver
from wrenn_webhooks.testing import FrozenClock, signed_request


def test_secret_looks_like_wrenns(wrenn_secret):
    assert re.fullmatch("[0-9a-f]{64}", wrenn_secret)


SEEN = set()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_secret(wrenn_secret, run):
    assert wrenn_secret not in SEEN
    SEEN.add(wrenn_secret)


def test_clock_is_frozen(wrenn_clock):
    assert isinstance(wrenn_clock, FrozenClock)
    start = wrenn_clock()
    assert wrenn_clock() == start == int(start)
    wrenn_clock.advance(timedelta(seconds=5))
    assert wrenn_clock() == start + 5


def test_event_factory_reads_the_clock(wrenn_event, wrenn_clock):
    wrenn_clock.advance(3600)
    event = wrenn_event("capsule.create", team_id="team-x")
    assert isinstance(event, CapsuleCreate)
    assert event.timestamp == wrenn_clock.datetime
    assert event.team_id == "team-x"
    assert type(wrenn_event(CapsuleCreate)) is CapsuleCreate
    assert wrenn_event(CapsuleCreate).timestamp == wrenn_clock.datetime
    assert type(wrenn_event("volume.create")) is VolumeCreate
    assert type(wrenn_event("widget.frobnicate")) is Event


def test_receiver_uses_secret_and_clock(wrenn_receiver, wrenn_secret, wrenn_clock, wrenn_event):
    assert isinstance(wrenn_receiver, WebhookReceiver)
    assert wrenn_receiver.clock is wrenn_clock
    request = signed_request(wrenn_event(), wrenn_secret, timestamp=wrenn_clock.datetime)
    assert wrenn_receiver.handle(*request).status_code == 200
    wrenn_clock.advance(301)
    assert wrenn_receiver.handle(*request).status_code == 401


def test_deliver_is_bound(wrenn_deliver, wrenn_receiver, wrenn_event, wrenn_clock):
    seen = []
    wrenn_receiver.add(seen.append, "host.down")
    start = wrenn_clock()
    results = wrenn_deliver(wrenn_receiver, wrenn_event("host.down"), attempts=3)
    assert [r.status_code for r in results] == [200, 200, 200]
    assert [r.duplicate for r in results] == [False, True, True]
    assert [type(e) for e in seen] == [HostDown]
    assert wrenn_clock() == start + 40
    (refused,) = wrenn_deliver(wrenn_receiver, wrenn_event(), secret="another-secret")
    assert refused.status_code == 401
"""


def test_every_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_handlers=USES_EVERY_FIXTURE)
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(passed=7)


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess(*PLUGIN, "--fixtures")
    for name in ("wrenn_secret", "wrenn_clock", "wrenn_event", "wrenn_receiver", "wrenn_deliver"):
        result.stdout.fnmatch_lines([f"{name} -- *"])


def test_unrelated_tests_are_untouched(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_plain(request):
            assert request.fixturenames == ["request"]
            assert "wrenn_webhooks.testing" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(passed=1)


def test_the_plugin_defines_fixtures_only() -> None:
    code = (
        "import sys, wrenn_webhooks.pytest_plugin as p; "
        "print(sorted(n for n in vars(p) if n.startswith('pytest_')), "
        "'wrenn_webhooks.testing' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] False"
