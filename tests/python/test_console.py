"""The web console in a real headless Chromium (Debian's `chromium` + `chromium-driver`), driven by selenium.

Covers: login (nothing visible before it, keyboard-only sign-in), the overview and its charts, the
errors page (errors made by pushing documents that fail processing, filtered by code, searched by
primary key, linked to their request page), and a search with highlighted matches. Every step saves a
screenshot to $PIER_SCREENSHOT_DIR (default <repo>/target/console-screenshots); pytest's summary says
where.

The browser and driver are the Debian packages at fixed paths, passed explicitly, so that selenium
never asks selenium-manager to download anything. scripts/test.sh installs them when missing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import SCREENSHOT_DIR
from test_v3_push_sdk import OpenSearchClient

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# The overview draws a chart once the server has sampled the table (every 15 s) and the page has
# refreshed itself (every 15 s): allow two rounds and some slack.
CHART_TIMEOUT_S = 50

# Selenium must not phone home or fetch drivers, whatever the environment says.
os.environ["SE_AVOID_STATS"] = "true"
os.environ["SE_OFFLINE"] = "true"

SCHEMA = {
    "tables": {"main": {"name": "main", "primaryTable": True, "fields": {
        "id": {"name": "id", "type": "LITERAL", "primaryKey": True},
        "title": {"name": "title", "type": "TEXT", "primaryKey": False},
        "n": {"name": "n", "type": "INT", "primaryKey": False},
    }}},
    "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "en_standard"}},
                "filterFields": ["n"]},
}


@pytest.fixture(scope="module")
def screenshots():
    # Screenshots of an earlier run would pass for this run's: remove them (only them).
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOT_DIR.glob("*.png"):
        old.unlink()
    return SCREENSHOT_DIR


@pytest.fixture
def browser(screenshots):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver "
                    "(scripts/test.sh does it)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-proxy-server", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str) -> Path:
    path = SCREENSHOT_DIR / f"{name}.png"
    # Whole-page screenshots: the errors table is taller than the window.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(1000, min(int(height) + 40, 6000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


def log_in(driver, pier, path: str = "/") -> None:
    """Open `path`, get sent to the login page, and log in with the keyboard only."""
    driver.get(pier.url(path))
    assert urlparse(driver.current_url).path == "/login"
    key = driver.find_element(By.ID, "key_id")
    assert driver.switch_to.active_element == key, "the key id field has focus"
    key.send_keys(pier.key_id, Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "secret", "Tab moves to the secret"
    active.send_keys(pier.secret, Keys.ENTER)
    WebDriverWait(driver, 10).until(lambda d: urlparse(d.current_url).path != "/login")


def follow(driver, element, path_part: str) -> None:
    """Clicks a link or button that navigates, and waits until the browser is on the new page
    (a click returns before the navigation it starts has finished)."""
    element.click()
    WebDriverWait(driver, 10).until(lambda d: path_part in d.current_url)


def text(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


@pytest.fixture
def shop(pier, make_app):
    """An app with searchable documents and processing errors: returns (app, request id of the bad push)."""
    app = make_app(SCHEMA, prefix="console")
    client = OpenSearchClient(pier.endpoint, pier.key_id, pier.secret)
    good = [{"cmd": "add", "fields": {"id": f"doc{i}", "title": title, "n": i}}
            for i, title in enumerate(["pier keeps searching", "a quiet harbour", "the pier at night"])]
    client.push_document(app, "main", good, {"X-Pier-Wait": "visible"})
    # 7302 (wrong type): a string or an object in the INT field. The key with markup must show as text.
    bad = [{"cmd": "add", "fields": {"id": f"bad{i:02}", "n": "not a number"}} for i in range(30)]
    bad.append({"cmd": "add", "fields": {"id": "<b>odd</b>", "n": {"x": 1}}})
    res = client.push_document(app, "main", bad, {"X-Pier-Wait": "visible"})
    request_id = res["body"]["request_id"]
    pier.wait_request_processed(request_id)
    return app, request_id


def test_login_is_required_and_leads_to_the_overview(pier, browser, shop):
    app, _ = shop
    browser.get(pier.url("/"))
    assert urlparse(browser.current_url).path == "/login"
    assert app not in browser.page_source
    # The form's fields have labels.
    for field in ("key_id", "secret"):
        assert browser.find_element(By.CSS_SELECTOR, f"label[for={field}]").text
    browser.find_element(By.ID, "key_id").send_keys(pier.key_id)
    browser.find_element(By.ID, "secret").send_keys("wrong secret", Keys.ENTER)
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
    assert "do not match" in text(browser, "[role=alert]")
    shot(browser, "01-login-refused")

    log_in(browser, pier)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    article = browser.find_element(By.XPATH, f"//article[.//h3/a[text()='{app}']]")
    row = article.find_element(By.XPATH, ".//tbody/tr[th/a[text()='main']]")
    assert row.find_elements(By.TAG_NAME, "td")[0].text == "3"
    # The charts appear once the sampler has seen the table; the page refreshes itself.
    WebDriverWait(browser, CHART_TIMEOUT_S).until(lambda d: d.find_element(
        By.XPATH, f"//article[.//h3/a[text()='{app}']]").find_elements(By.CSS_SELECTOR, "svg.spark[role=img]"))
    label = browser.find_element(By.CSS_SELECTOR, "svg.spark").get_attribute("aria-label")
    assert label.startswith("Documents over the last hour"), label
    shot(browser, "02-overview")

    follow(browser, browser.find_element(By.XPATH, f"//article[.//h3/a[text()='{app}']]//a[text()='main']"),
           f"/apps/{app}/tables/main")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Schema of {app}/main"
    assert "en_standard" in browser.find_element(By.TAG_NAME, "main").text
    shot(browser, "03-schema")

    follow(browser, browser.find_element(By.CSS_SELECTOR, "header form button"), "/login")
    browser.get(pier.url("/"))
    assert urlparse(browser.current_url).path == "/login", "logged out"


def test_errors_page_filters_by_code_and_key_and_links_to_the_request(pier, browser, shop):
    app, request_id = shop
    log_in(browser, pier, f"/apps/{app}/errors")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Processing errors of {app}"
    assert text(browser, "#error-count") == "Errors 1–31 of 31, newest first."
    rows = browser.find_elements(By.CSS_SELECTOR, "#errors tbody tr")
    assert len(rows) == 31
    # The key with markup is text, not markup.
    assert browser.find_elements(By.XPATH, "//table[@id='errors']//code[text()='<b>odd</b>']")
    assert not browser.find_elements(By.CSS_SELECTOR, "#errors b")
    shot(browser, "04-errors")

    # Filter by code with the keyboard: type into the labelled field and press Enter.
    code = browser.find_element(By.ID, "code")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=code]").text == "Error code"
    codes = {r.find_elements(By.TAG_NAME, "td")[3].text for r in rows}
    assert "7302" in codes
    code.send_keys("7302", Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: "code=7302" in d.current_url)
    shown = browser.find_elements(By.CSS_SELECTOR, "#errors tbody tr")
    assert shown and {r.find_elements(By.TAG_NAME, "td")[3].text for r in shown} == {"7302"}
    shot(browser, "05-errors-code-7302")

    # Pages of 20: the second page holds the rest.
    browser.get(pier.url(f"/apps/{app}/errors?limit=20"))
    assert text(browser, "#error-count") == "Errors 1–20 of 31, newest first."
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a[rel=next]"), "offset=")
    assert text(browser, "#error-count") == "Errors 21–31 of 31, newest first."

    # Search by primary key, then follow the error to its request.
    browser.get(pier.url(f"/apps/{app}/errors"))
    browser.find_element(By.ID, "pk").send_keys("bad07", Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: "pk=bad07" in d.current_url)
    shown = browser.find_elements(By.CSS_SELECTOR, "#errors tbody tr")
    assert len(shown) == 1 and "bad07" in shown[0].text
    follow(browser, shown[0].find_element(By.LINK_TEXT, request_id), request_id)
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Request {request_id}"
    assert text(browser, "#request-status").startswith("processed")
    outcomes = browser.find_elements(By.CSS_SELECTOR, "#outcomes tbody tr")
    assert len(outcomes) == 31
    assert any("<b>odd</b>" in r.text for r in outcomes)
    shot(browser, "06-request")


def test_search_shows_highlighted_results_and_readable_errors(pier, browser, shop):
    app, _ = shop
    log_in(browser, pier, f"/apps/{app}/search")
    box = browser.find_element(By.ID, "q")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=q]").text == "V3 query clauses"
    box.send_keys("query=default:'pier'&&sort=+n", Keys.ENTER)
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "search-summary")))
    assert text(browser, "#search-summary").startswith("2 documents match; showing 2")
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == ["doc0", "doc2"]
    marks = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results em")]
    assert marks == ["pier", "pier"]
    shot(browser, "07-search")

    browser.get(pier.url(f"/apps/{app}/search?q={quote('query=nosuchindex:x')}"))
    alert = browser.find_element(By.CSS_SELECTOR, "#search-error[role=alert]")
    assert "Error 6" in alert.text
    shot(browser, "08-search-error")



def test_upload_jobs_show_progress_and_cancel(pier, browser, tmp_path):
    from test_adb_jobs import BIG_DIM, MID_ROWS, Coll, write_rows

    BIG_ROWS = 25_000

    c = Coll(pier, BIG_DIM)
    path = tmp_path / "rows.jsonl"
    rows = write_rows(path, BIG_DIM, rows=MID_ROWS)
    with path.open("rb") as f:
        uploaded = pier.post("/api/v1/uploads", data=f).json()
    done = pier.post("/api/v1/upload-jobs", json={"namespace": c.ns, "collection": c.name,
                                                   "file_url": uploaded["url"]}).json()
    job_row = f"//table[@id='jobs']//tr[th/code[text()='{done['id']}']]"
    # The overview follows the job as it runs, without a reload, to its end: status, rows and no
    # cancel button.
    log_in(browser, pier, "/")
    WebDriverWait(browser, 120, poll_frequency=0.5,
                  ignored_exceptions=[NoSuchElementException, StaleElementReferenceException]).until(
        lambda d: d.find_element(By.XPATH, job_row + "/td[@class='status']").text == "Success")
    row = browser.find_element(By.XPATH, job_row)
    assert row.find_element(By.CSS_SELECTOR, "td.status").text == "Success"
    assert f"{rows:,} of {rows:,}" in row.text
    assert not row.find_elements(By.TAG_NAME, "button")

    # A running job has a cancel button that works from the keyboard. The file is big enough
    # (about 190 MB) that the job is still checking or applying rows when the cancel arrives.
    big = tmp_path / "big.jsonl"
    write_rows(big, BIG_DIM, rows=BIG_ROWS)
    with big.open("rb") as f:
        uploaded_big = pier.post("/api/v1/uploads", data=f).json()
    running = pier.post("/api/v1/upload-jobs", json={"namespace": c.ns, "collection": c.name,
                                                      "file_url": uploaded_big["url"]}).json()
    browser.get(pier.url("/"))
    row = browser.find_element(By.XPATH, f"//table[@id='jobs']//tr[th/code[text()='{running['id']}']]")
    status = row.find_element(By.CSS_SELECTOR, "td.status").text
    assert status in ("Start", "Running"), status
    shot(browser, "07-upload-job-running")
    cancel = row.find_element(By.XPATH, ".//button[text()='Cancel']")
    assert cancel.get_attribute("aria-label") == f"Cancel job {running['id']}"
    cancel.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: urlparse(d.current_url).fragment == "jobs-heading")
    job = None
    for _ in range(100):
        job = pier.get(f"/api/v1/upload-jobs/{running['id']}").json()
        if job["status"] == "Cancelled":
            break
        time.sleep(0.2)
    assert job["status"] == "Cancelled"
    browser.get(pier.url("/"))
    row = browser.find_element(By.XPATH, f"//table[@id='jobs']//tr[th/code[text()='{running['id']}']]")
    assert row.find_element(By.CSS_SELECTOR, "td.status").text == "Cancelled"
    shot(browser, "08-upload-job-cancelled")
    for upload in (uploaded, uploaded_big):
        pier.delete(f"/api/v1/uploads/{upload['id']}")
