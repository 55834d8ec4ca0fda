"""The HTML report in a real browser: headless Chromium opens the file, takes a screenshot,
logs no console error, and the page's counts match the JSON report of the same run.

Needs the Debian packages chromium and chromium-driver (.ci/packages-chromium.txt) and
selenium (test extra); skipped when they are missing. The browser is started with no
network features (no sync, no component updates, no QUIC) and a fresh profile.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def test_report_is_self_contained(tienda: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "-c", str(tienda), "-o", str(page)])
    assert result.exit_code == 1  # the example has errors, like validate
    text = page.read_text(encoding="utf-8")
    for network in ("http://cdn", "https://cdn", "<link ", "src=\"http", "src='http",
                    "@import", "fetch("):
        assert network not in text
    assert "Why products were left out" in text and "Fill rate per field" in text
    assert "id='changes'" in text  # the ledger's section, filled when a ledger exists


def test_build_writes_the_report_too(tienda: Path, tmp_path: Path) -> None:
    page = tmp_path / "build.html"
    result = runner.invoke(app, ["build", "-c", str(tienda), "--report", str(page), "-q"])
    assert result.exit_code == 0, result.output
    assert page.exists() and (tienda.parent / "feeds" / "google_es.xml").exists()


@pytest.fixture
def browser(tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_in_headless_chromium(tienda: Path, tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    runner.invoke(app, ["report", "-c", str(tienda), "-o", str(page)])
    expected = json.loads(runner.invoke(app, ["validate", "-c", str(tienda), "-f",
                                              "json"]).stdout)
    browser.get(page.as_uri())
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    def count(key: str) -> int:
        element = browser.find_element(By.CSS_SELECTOR, f".kpis [data-count='{key}']")
        return int(element.text.replace(",", ""))

    assert count("rows") == expected["rows"] == 40
    assert count("products") == expected["products"]
    assert count("errors") == expected["summary"]["errors"]
    assert count("warnings") == expected["summary"]["warnings"]
    for name, channel in expected["channels"].items():
        row = browser.find_element(By.CSS_SELECTOR, f"tr[data-channel='{name}']")
        items = row.find_element(By.CSS_SELECTOR, "[data-count='items']").text
        assert int(items.replace(",", "")) == channel["items"]
    embedded = browser.execute_script(
        "return JSON.parse(document.getElementById('feedsync-report').textContent)")
    assert embedded["summary"] == expected["summary"]
    problems = browser.find_elements(By.CSS_SELECTOR, "#problems tbody tr")
    assert len(problems) == len(expected["problems"])

    # search narrows the problems table; sorting by count puts the biggest first
    browser.find_element(By.ID, "search").send_keys("gtin")
    visible = [r for r in problems if r.is_displayed()]
    assert len(visible) == 1 and "invalid-gtin" in visible[0].text
    browser.find_element(By.ID, "search").clear()
    browser.execute_script("var s = document.getElementById('search');"
                           "s.value=''; s.dispatchEvent(new Event('input'));")
    count_header = browser.find_elements(By.CSS_SELECTOR, "#problems thead th")[4]
    count_header.click()
    count_header.click()  # descending
    first = browser.find_element(By.CSS_SELECTOR, "#problems tbody tr td:nth-child(5)")
    assert first.text == str(max(p["count"] for p in expected["problems"]))
    assert browser.get_log("browser") == []
