"""A headless Chromium for the tests that look at pages the way a learner would (the site, the demo).

It drives Debian's ``chromium`` through ``chromedriver`` with selenium (the ``browser`` extra), never a browser
that something downloads at run time. Where either is missing, ``chromium()`` skips the test with the reason and
the fix. Every wait is bounded. Requests are logged so that a test can check that a page reached nothing but
the machine itself.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = ("chromium", "chromium-browser")
CHROMEDRIVER = "chromedriver"
INSTALL_BROWSER = "apt-get install -y chromium chromium-driver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    # Nothing but this machine: any other host name fails to resolve, so no page can reach the internet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")


def _binaries() -> tuple[str, str]:
    """(browser, driver) paths, or skip the test saying what to install."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip('selenium is not installed (the "browser" extra): pip install -e ".[browser]" -c .ci/constraints.txt')
    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    driver = shutil.which(CHROMEDRIVER)
    if browser is None or driver is None:
        pytest.skip(f"no headless browser (chromium and chromedriver not found): {INSTALL_BROWSER}")
    return browser, driver


@contextlib.contextmanager
def chromium(page_load_timeout: float = 60):
    """A selenium WebDriver for a fresh headless Chromium profile, closed afterwards."""
    browser, driver_path = _binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="headless-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        driver.set_page_load_timeout(page_load_timeout)
        driver.set_script_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


def requested_urls(driver) -> list[str]:
    """Every URL the browser requested since the last call (from Chromium's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def external(urls: list[str], allowed_prefixes: tuple[str, ...] = ()) -> list[str]:
    """The URLs that left this machine: neither a local scheme nor one of ``allowed_prefixes``."""
    return [url for url in urls if not url.startswith(LOCAL_SCHEMES + tuple(allowed_prefixes))]


def wait_for(driver, condition, timeout: float = 30, message: str = ""):
    """Poll ``condition(driver)`` until it returns something truthy, at most ``timeout`` seconds."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, message)


def file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()
