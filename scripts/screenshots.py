"""Refresh the inbox console's screenshots in docs/images/ (``make screenshots``).

    python scripts/screenshots.py [OUT_DIR]

Stores an hour of sample events through a receiver in inbox mode (each signed as Wrenn
signs it), lets a worker handle them as the hour goes by (one handler fails now and
then, one event is dead-lettered), serves the console on a free 127.0.0.1 port and
saves ``console-overview.png``, ``console-dead.png`` and ``console-event.png`` with
headless Chromium (Debian's ``chromium`` and ``chromium-driver``). Nothing leaves the
machine: selenium is given the driver, so it downloads nothing.
"""

from __future__ import annotations

import logging
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Request
from werkzeug.serving import make_server

from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.flask import console
from wrenn_webhooks.inbox import SQLiteInbox, Worker
from wrenn_webhooks.testing import FrozenClock, encode_event, make_event, signed_request

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SECRET = "sample-secret-for-screenshots-only-0123456789abcdef0123456789abcd"
KINDS = ("capsule.pause", "capsule.resume", "capsule.create", "capsule.destroy")


def add_handlers(receiver: WebhookReceiver, clock: FrozenClock, *, pager_down_from: float) -> None:
    """An app's handlers: billing fails for one account, the pager is down at the end."""

    def audit(event: Event) -> None:
        pass

    def close_billing(event: Event) -> None:
        if event.resource.id == "sb-billing-42":
            raise ValueError("no such account: acme-42")

    def page_on_call(event: Event) -> None:
        if clock.now >= pager_down_from:
            raise ConnectionError("pager unreachable: 503 from pager.example.com")

    for handler in (audit, close_billing, page_on_call):  # named as an app's handlers are
        handler.__module__, handler.__qualname__ = "app.webhooks", handler.__name__
    receiver.add(audit, "*")
    receiver.add(close_billing, "capsule.destroy")
    receiver.add(page_on_call, "capsule.pause", outcome="error")


def sample_inbox(folder: Path) -> SQLiteInbox:
    """An inbox holding the last hour of a small team's events, as a worker left it."""
    inbox = SQLiteInbox(folder / "inbox.db", retry_delays=(60, 300))
    clock = FrozenClock(time.time() - 3600)
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    rng = random.Random(7)
    add_handlers(receiver, clock, pager_down_from=clock.now + 50 * 60)

    def deliver(event: Event) -> None:
        receiver.handle(*signed_request(encode_event(event), SECRET, timestamp=clock.datetime))
        clock.advance(rng.uniform(1, 7))

    worker = Worker(receiver)
    for minute in range(60):
        if minute == 12:  # its billing handler fails on every attempt: dead-lettered
            billing = {"id": "sb-billing-42", "type": "sandbox"}
            deliver(make_event("capsule.destroy", now=clock, resource=billing))
        for _ in range(rng.choice((1, 2, 3, 5, 8))):
            kind = rng.choice(KINDS)
            outcome = "error" if kind == "capsule.pause" and rng.random() < 0.4 else "success"
            deliver(make_event(kind, outcome=outcome, now=clock))
        if minute < 58:  # the last two minutes' events are still waiting
            while worker.run_once():
                pass
        clock.set(clock.now - clock.now % 60 + 60)
    return inbox


def serve(inbox: SQLiteInbox) -> tuple[str, object]:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "screenshots"

    def local_only(request: Request) -> bool:
        return request.remote_addr == "127.0.0.1"

    app.register_blueprint(console(inbox, authorize=local_only), url_prefix="/console")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/console", server


def headless_chromium(profile: Path, *, width: int = 1200) -> WebDriver:
    """Debian's Chromium, headless, driven by its own chromedriver (selenium downloads nothing).

    The screenshots and the console's browser tests both use it.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={width},900",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def shoot(url: str, out: Path, profile: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = headless_chromium(profile)
    try:
        driver.get(url + "/")
        driver.save_screenshot(str(out / "console-overview.png"))
        driver.find_element(By.LINK_TEXT, "Dead").click()
        driver.save_screenshot(str(out / "console-dead.png"))
        driver.find_element(By.CSS_SELECTOR, "#events tbody a").click()
        driver.save_screenshot(str(out / "console-event.png"))
    finally:
        driver.quit()


def main() -> None:
    logging.getLogger("wrenn_webhooks").setLevel(logging.CRITICAL)  # the failures are samples
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images"
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        sys.exit(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver"
        )
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wrenn-screenshots-") as tmp:
        inbox = sample_inbox(Path(tmp))
        url, server = serve(inbox)
        try:
            shoot(url, out, Path(tmp) / "chromium")
        finally:
            server.shutdown()  # type: ignore[attr-defined]
            inbox.close()
    for name in ("overview", "dead", "event"):
        print(out / f"console-{name}.png")


if __name__ == "__main__":
    main()
