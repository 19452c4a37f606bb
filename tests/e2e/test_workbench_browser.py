"""The workbench in a real headless Chromium over the real stack: a county team and its township take a referral
from 待签收 to 已结案 by clicking through the pages; every step is checked on the page and in the register.

Findings go in through patrol; the register is read back through info-share's API as a supervisor. Debian's
``chromium`` and ``chromium-driver`` packages are used (.ci/run installs them). Screenshots at phone (390 px) and
desktop widths go to build/screenshots/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from deploy.local_stack import ROOT, Stack
from services.info_share.auth import issue_token
from services.info_share.settings import InfoShareApiSettings
from tests.e2e.test_lifecycle_api import (
    COUNTY,
    REFERENCE,
    TOWNSHIP,
    _latest_referral,
    case_detail,
    category_routed_by,
    report,
)

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
PHONE, DESKTOP = (390, 844), (1280, 900)
# An action's request waits for dispatch's verdict (LIANDONG_ACTION_WAIT_SECONDS, 10 s) before the page answers.
PAGE_WAIT_SECONDS = 40


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    unique = uuid.uuid4().hex[:8]
    built = Stack(run_dir=tmp_path_factory.mktemp("workbench"), bootstrap_servers=kafka_bootstrap,
                  topic_prefix=f"t{unique}", group_prefix=f"g{unique}", inherit_settings=False)
    try:
        built.start_all()
        yield built
    finally:
        built.stop()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("apt-get install chromium chromium-driver (Debian's headless browser and its driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(*DESKTOP)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, stack: Stack, body_id: str) -> None:
    driver.get(f"{stack.workbench_url}/demo/sign-in?as={body_id}")
    WebDriverWait(driver, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains("/inbox"))
    assert driver.find_element(By.ID, "signed-in-as").text == REFERENCE.body(body_id).name


def sign_out(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form[action='/sign-out'] button").click()
    WebDriverWait(driver, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains("/sign-in"))


def open_from_inbox(driver: WebDriver, referral_id: str) -> str:
    """Open the referral from its inbox card; the card's words (state and deadline) as shown."""
    card = driver.find_element(By.ID, f"card-{referral_id}")
    words = card.text
    card.find_element(By.CSS_SELECTOR, "h2 a").click()
    WebDriverWait(driver, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains(f"/referrals/{referral_id}"))
    return words


def submit(driver: WebDriver, segment: str, fields: dict[str, str] | None = None) -> None:
    """Fill one action's form and send it; returns once the page after it is loaded."""
    form = driver.find_element(By.ID, f"form-{segment}")
    for name, value in (fields or {}).items():
        field = form.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.send_keys(value)
    old = driver.find_element(By.TAG_NAME, "html")
    form.find_element(By.ID, f"do-{segment}").click()
    WebDriverWait(driver, PAGE_WAIT_SECONDS).until(expected_conditions.staleness_of(old))


def shown_state(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "state").text)


def register_state(stack: Stack, case_id: str) -> str:
    referral = _latest_referral(stack, case_id)
    assert referral is not None
    return str(referral["state"])


def screenshot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in (("phone", PHONE), ("desktop", DESKTOP)):
        driver.set_window_size(width, height)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
    driver.set_window_size(*DESKTOP)


def assert_accessible_basics(driver: WebDriver) -> None:
    """Chinese page language, a label for every visible field, and nothing loaded from another origin."""
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hans"
    unlabelled = driver.execute_script("""
        return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(f => !f.id || !document.querySelector(`label[for="${f.id}"]`)).map(f => f.name);""")
    assert unlabelled == []
    outside = driver.execute_script("""
        return performance.getEntriesByType('resource').map(e => e.name)
            .filter(u => !u.startsWith(location.origin));""")
    assert outside == []


def axe_violations(driver: WebDriver) -> list[str]:
    """WCAG 2 A and AA rules (contrast among them) checked by axe-core on the page as it is shown."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    found = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})
           .then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
           .catch(e => done(['axe failed: ' + e]));""")
    return list(found)


def new_team_case(stack: Stack, seed: int) -> tuple[str, dict[str, Any]]:
    case_id = report(stack, category_routed_by("county_department"), seed)
    referral = _latest_referral(stack, case_id)
    assert referral is not None and referral["body_id"].startswith(f"team:{COUNTY}:")
    return case_id, referral


def test_a_team_and_its_township_take_a_referral_to_closed_in_the_browser(stack: Stack, browser: WebDriver) -> None:
    case_id, referral = new_team_case(stack, 301)
    team, rid = referral["body_id"], referral["referral_id"]

    sign_in(browser, stack, team)
    assert_accessible_basics(browser)
    assert axe_violations(browser) == []
    screenshot(browser, "inbox-team")
    card_words = open_from_inbox(browser, rid)
    assert "待签收" in card_words
    assert any(words in card_words for words in ("剩余", "今日到期", "超期"))  # the deadline in words
    assert REFERENCE.townships[TOWNSHIP].name in card_words
    assert shown_state(browser) == "待签收"
    assert_accessible_basics(browser)
    assert axe_violations(browser) == []
    screenshot(browser, "referral-team-issued")

    submit(browser, "accept")
    assert browser.find_element(By.ID, "message").text == "已完成：签收"
    assert shown_state(browser) == "已签收" and register_state(stack, case_id) == "accepted"
    submit(browser, "start")
    assert shown_state(browser) == "办理中" and register_state(stack, case_id) == "handling"
    # info-share's 422 is shown on the page, the form is still there, and nothing changed.
    submit(browser, "feedback", {"outcome": "rectified", "evidence": "ftp://not-a-web-link"})
    assert "填写内容不符合要求" in browser.find_element(By.ID, "error").text
    assert shown_state(browser) == "办理中" and register_state(stack, case_id) == "handling"
    submit(browser, "feedback", {"outcome": "rectified", "note": "已责令当事人整改完毕",
                                 "evidence": "https://evidence.example/photo-1"})
    assert shown_state(browser) == "已反馈" and register_state(stack, case_id) == "result_fed_back"
    timeline = browser.find_element(By.ID, "timeline").text
    assert "签收" in timeline and "开始办理" in timeline and "已整改" in timeline
    assert browser.find_elements(By.ID, "no-actions")  # the body has nothing left to do on it
    screenshot(browser, "referral-team-fed-back")
    sign_out(browser)

    sign_in(browser, stack, f"township:{TOWNSHIP}")
    open_from_inbox(browser, rid)
    assert shown_state(browser) == "已反馈"
    submit(browser, "verify", {"note": "现场核查属实"})
    assert shown_state(browser) == "核查通过" and register_state(stack, case_id) == "verified"
    submit(browser, "close", {"note": "整改到位，结案"})
    assert shown_state(browser) == "已结案" and register_state(stack, case_id) == "closed"
    assert case_detail(stack, case_id)["status"] == "closed"
    screenshot(browser, "referral-township-closed")

    # The township's figures: its own row, and the CSV link the page offers.
    browser.get(f"{stack.workbench_url}/evaluation")
    assert REFERENCE.townships[TOWNSHIP].name in browser.find_element(By.ID, "townships").text
    assert browser.find_element(By.ID, "csv").get_attribute("href").endswith("/evaluation.csv")
    assert axe_violations(browser) == []
    screenshot(browser, "evaluation-township")


def test_a_post_without_its_csrf_token_is_refused(stack: Stack) -> None:
    case_id, referral = new_team_case(stack, 302)
    with httpx.Client(base_url=stack.workbench_url, timeout=30) as client:
        assert client.get("/demo/sign-in", params={"as": referral["body_id"]}).status_code == 303
        assert client.cookies  # the signed session cookie
        refused = client.post(f"/referrals/{referral['referral_id']}/accept", data={})
        assert refused.status_code == 403 and "CSRF" in refused.text
        forged = client.post(f"/referrals/{referral['referral_id']}/accept", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        figures = client.get("/evaluation.csv")  # info-share's CSV, with this session's token
        assert figures.status_code == 200 and figures.text.startswith("body_name,")
        assert referral["body_id"] in figures.text
    assert register_state(stack, case_id) == "issued"


def test_a_session_of_another_body_cannot_act_on_the_referral(stack: Stack, browser: WebDriver) -> None:
    case_id, referral = new_team_case(stack, 303)
    other_team = next(b.body_id for b in REFERENCE.bodies()
                      if b.body_id.startswith(f"team:{COUNTY}:") and b.body_id != referral["body_id"])
    sign_in(browser, stack, other_team)
    assert not browser.find_elements(By.ID, f"card-{referral['referral_id']}")
    # A well-formed request from the other body's own session, CSRF token included: info-share refuses it.
    old = browser.find_element(By.TAG_NAME, "html")
    browser.execute_script("""
        const form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        const csrf = document.querySelector('input[name=csrf_token]').cloneNode();
        form.appendChild(csrf); document.body.appendChild(form); form.submit();""",
                           f"/referrals/{referral['referral_id']}/accept")
    WebDriverWait(browser, PAGE_WAIT_SECONDS).until(expected_conditions.staleness_of(old))
    assert "无权办理" in browser.find_element(By.ID, "error").text
    screenshot(browser, "refused-other-body")
    assert register_state(stack, case_id) == "issued"


def test_county_coordination_sees_its_desk(stack: Stack, browser: WebDriver) -> None:
    sign_in(browser, stack, f"coordination:{COUNTY}")
    browser.find_element(By.LINK_TEXT, "协调台").click()
    WebDriverWait(browser, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains("/coordination"))
    assert browser.find_element(By.ID, "disputes") and browser.find_element(By.ID, "overdue")
    desk = httpx.get(f"http://127.0.0.1:{stack.info_share_port}/v1/coordination/disputes", timeout=30,
                     headers={"Authorization": f"Bearer {coordination_token(stack)}"}).json()
    shown = browser.find_element(By.ID, "overdue").find_elements(By.CSS_SELECTOR, "tbody a")
    assert len(shown) == len(desk["overdue"])  # the page lists what info-share's desk holds
    assert axe_violations(browser) == []
    screenshot(browser, "coordination")


def coordination_token(stack: Stack) -> str:
    settings = InfoShareApiSettings(jwt_secret=stack.jwt_secret)  # type: ignore[arg-type,call-arg]
    return issue_token(settings, "test-coordination", role="county_coordination", body_id=f"coordination:{COUNTY}")
