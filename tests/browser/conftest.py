"""Browser tests for the dashboard: headless Chromium driven by Selenium.

Each module starts the real `dlq serve` (the e2e harness's DlqServer, loaded
from tests/e2e/conftest.py) and one headless Chromium (Debian's chromium and
chromium-driver) at 1280x800. After every test a screenshot is saved under
--shots-dir (default <repo>/build/browser-shots), named after the test, pass
or fail. Console errors and CSP violations fail the test that caused them.
Run with Debian's interpreter:

    /usr/bin/python3 -m pytest tests/browser --dlq-bin build/dlq
"""

import importlib.util
import os
import re
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("dlq_e2e_harness",
                                               REPO / "tests" / "e2e" / "conftest.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)
DlqServer = harness.DlqServer
ADMIN_SECRET = harness.ADMIN_SECRET
uid = harness.uid

CHROMIUM = os.environ.get("DLQ_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DLQ_CHROMEDRIVER", "/usr/bin/chromedriver")


def pytest_addoption(parser):
    parser.addoption("--dlq-bin", default=os.environ.get("DLQ_BIN", str(REPO / "build" / "dlq")),
                     help="path of the dlq binary under test (default <repo>/build/dlq)")
    parser.addoption("--shots-dir", default=str(REPO / "build" / "browser-shots"),
                     help="where each test's screenshot goes")


@pytest.fixture(scope="session")
def dlq_bin(pytestconfig):
    path = Path(pytestconfig.getoption("--dlq-bin")).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(f"dlq binary not found or not executable: {path}")
    return str(path)


@pytest.fixture(scope="session")
def shots_dir(pytestconfig):
    d = Path(pytestconfig.getoption("--shots-dir"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(dlq_bin, tmp_path_factory):
    srv = DlqServer(dlq_bin, tmp_path_factory.mktemp("dlq")).start()
    yield srv
    srv.stop()


def make_driver(width=1280, height=800):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: scripts/bootstrap test installs chromium and "
                        "chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", f"--window-size={width},{height}",
                "--lang=en-US"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(30)
    return drv


@pytest.fixture(scope="module")
def driver():
    drv = make_driver()
    yield drv
    drv.quit()


# Messages the browser may log that are not the page's fault.
_BENIGN = re.compile(r"favicon|status of 40[1349]|status of 409")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """After each test body: save a screenshot (pass or fail), and fail a
    passing test whose page logged console errors or CSP violations."""
    outcome = yield
    rep = outcome.get_result()
    if call.when != "call":
        return
    drv = item.funcargs.get("phone") or item.funcargs.get("driver")
    if drv is None:
        return
    shots = Path(item.config.getoption("--shots-dir"))
    shots.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    try:
        drv.save_screenshot(str(shots / f"{Path(str(item.fspath)).stem}-{name}.png"))
        logs = drv.get_log("browser")
    except Exception as e:  # noqa: BLE001 - a dead browser is reported by the test itself
        rep.sections.append(("screenshot", f"no screenshot: {e}"))
        return
    bad = [e["message"] for e in logs
           if (e["level"] == "SEVERE" and not _BENIGN.search(e["message"]))
           or "Content Security Policy" in e["message"]]
    if bad and rep.passed:
        rep.outcome = "failed"
        rep.longrepr = f"browser console errors: {bad}"


# ---- helpers used by the tests ----

def wait(drv, cond, timeout=10, what="condition"):
    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: cond(d))
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}; url={drv.current_url}") from None


def css(drv, sel, timeout=10):
    """css waits until sel matches a displayed element and returns it."""
    def find(d):
        for el in d.find_elements(By.CSS_SELECTOR, sel):
            if el.is_displayed():
                return el
        return None
    return wait(drv, find, timeout, f"element {sel!r}")


def all_css(drv, sel):
    return drv.find_elements(By.CSS_SELECTOR, sel)


def sign_in(drv, srv, secret=ADMIN_SECRET, page="#/overview"):
    drv.get(srv.base + "/")
    drv.execute_script("sessionStorage.clear()")
    drv.get(srv.base + "/" + page)
    drv.refresh()  # a new hash alone does not reload the page
    box = css(drv, "#signin-token")
    box.send_keys(secret)
    css(drv, "#signin-submit").click()
    css(drv, "#who-role")
    return drv


def goto(drv, srv, hash_):
    drv.get(srv.base + "/" + hash_)
    time.sleep(0.05)


def table_rows(drv, timeout=10):
    """table_rows waits for the failures table to be drawn and returns its rows."""
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "table[data-test=entries][data-rows]"),
         timeout, "the failures table")
    return all_css(drv, "table[data-test=entries] tbody tr")


def dialog_submit(drv):
    css(drv, "dialog[open] [data-test=dialog-submit]").click()
    wait(drv, lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), 15,
         "the dialog to close")


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is not a passing test (house rule): any skip fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; skips do not count as passing",
                            red=True)
        session.exitstatus = 1
