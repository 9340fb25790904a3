"""The console in a real browser: headless Chromium driven by Selenium, against a real server.

One browser for the module; each test serves its own app on a free 127.0.0.1 port with
werkzeug's server in a thread. Screenshots go to the test's temporary folder. Skipped,
saying why, without Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them) or without selenium.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.serving import make_server

from scripts.screenshots import CHROMEDRIVER, CHROMIUM, headless_chromium
from tests.console import PREFIX, fill, make_app
from tests.inbox import body_for, put
from wrenn_webhooks.inbox import SQLiteInbox

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium for the module; never lets selenium-manager download anything."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver")
    pytest.importorskip("selenium.webdriver", reason='pip install -e ".[dev]"')
    driver = headless_chromium(tmp_path_factory.mktemp("chromium"), width=1280)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve an app on a free 127.0.0.1 port in a thread; return the console's URL."""
    servers: list[Any] = []

    def start(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}{PREFIX}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def find(browser: WebDriver, by: str, value: str) -> Any:
    """The element, once the page a click is loading has it (up to 10 s)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 10).until(lambda driver: driver.find_element(by, value))


def test_a_dead_letter_retried_by_a_click_is_pending(
    browser: WebDriver, serve: Any, inbox: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    ids = fill(inbox)
    url = serve(make_app(inbox))
    browser.get(url + "/")
    assert browser.find_element(By.ID, "count-dead").text == "1"
    browser.save_screenshot(str(tmp_path / "overview.png"))
    browser.find_element(By.LINK_TEXT, "Dead").click()
    row = find(browser, By.ID, f"event-{ids['dead']}")
    assert "ValueError: no such account" in row.text
    row.find_element(By.LINK_TEXT, str(ids["dead"])).click()
    assert find(browser, By.ID, "state").text == "dead"
    browser.find_element(By.ID, "retry").click()
    # The notice is only on the page the form leads to: once it is there, so is the new state.
    assert f"Event {ids['dead']} is due now." in find(browser, By.CLASS_NAME, "notice").text
    assert browser.find_element(By.ID, "state").text == "pending"
    assert browser.current_url.startswith(f"{url}/event/{ids['dead']}?")
    browser.save_screenshot(str(tmp_path / "retried.png"))
    assert inbox.get(ids["dead"]).status == "pending"
    browser.find_element(By.LINK_TEXT, "Dead").click()
    assert find(browser, By.ID, "no-events").text == "No dead events."
    assert browser.find_elements(By.ID, f"event-{ids['dead']}") == []


def test_the_overview_draws_its_chart_without_any_script(
    browser: WebDriver, serve: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    inbox = SQLiteInbox(tmp_path / "inbox.db")
    fill(inbox)
    browser.get(serve(make_app(inbox)) + "/")
    chart = browser.find_element(By.ID, "activity")
    assert chart.size["width"] >= 600 and chart.size["height"] >= 100
    bars = chart.find_elements(By.TAG_NAME, "rect")
    assert len(bars) == 120
    assert max(float(bar.get_attribute("height") or 0) for bar in bars) == 100.0
    assert browser.find_elements(By.TAG_NAME, "script") == []
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources == []  # nothing fetched besides the page itself
    browser.save_screenshot(str(tmp_path / "chart.png"))
    inbox.close()


def test_hostile_values_show_as_text_and_run_nothing(
    browser: WebDriver, serve: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    inbox = SQLiteInbox(tmp_path / "inbox.db")
    put(inbox, body_for(HOSTILE, metadata={"note": HOSTILE}))
    (item,) = inbox.claim("w1", now=9e9)
    inbox.fail(item.id, {"app.bill": f"Error: {HOSTILE}"}, now=9e9, final=True)
    url = serve(make_app(inbox))
    browser.get(f"{url}/event/{item.id}")
    assert browser.find_element(By.ID, "resource-id").text == HOSTILE
    assert HOSTILE.replace('"', '\\"') in browser.find_element(By.ID, "payload").text
    nothing_ran(browser)
    browser.save_screenshot(str(tmp_path / "hostile-event.png"))
    browser.get(f"{url}/list/dead")
    assert HOSTILE in browser.find_element(By.ID, f"event-{item.id}").text
    nothing_ran(browser)
    browser.save_screenshot(str(tmp_path / "hostile-list.png"))
    inbox.close()


def nothing_ran(browser: WebDriver) -> None:
    """No element came from the event's values, and no script of theirs ran."""
    from selenium.webdriver.common.by import By

    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert browser.execute_script("return window.pwned === undefined") is True
