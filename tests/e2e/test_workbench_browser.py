"""The workbench in a real headless Chromium over the real stack: a county team and its township take a referral
from 待签收 to 已结案 by clicking through the pages; every step is checked on the page and in the register.

Findings go in through patrol; the register is read back through info-share's API as a supervisor. Debian's
``chromium`` and ``chromium-driver`` packages are used (.ci/run installs them). Screenshots at phone (390 px) and
desktop widths go to build/screenshots/.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from deploy.local_stack import ROOT, Stack
from services.common.polling import poll_until
from services.info_share.auth import issue_token
from services.info_share.settings import InfoShareApiSettings
from services.workbench.domain import labels
from tests.lifecycle_fixtures import (
    COUNTY,
    REFERENCE,
    TEAM,
    TOWNSHIP,
    body_party,
    case_detail,
    category_routed_by,
    latest_referral,
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


def next_page_after(driver: WebDriver, act: Callable[[], object]) -> None:
    """Do ``act`` (a click, a script's form submit), then wait until the next page has loaded.

    The old page is marked in its window rather than watched as an element: mid-navigation, chromedriver can answer
    a staleness probe with an inspector error ("Node with given id does not belong to the document") instead of a
    stale-element error; scripts run while the page changes are retried the same way.
    """
    driver.execute_script("window.liandongOldPage = true")
    act()
    WebDriverWait(driver, PAGE_WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.liandongOldPage && document.readyState === 'complete'"))


def submit(driver: WebDriver, segment: str, fields: dict[str, str] | None = None) -> None:
    """Fill one action's form and send it; returns once the page after it is loaded."""
    form = driver.find_element(By.ID, f"form-{segment}")
    for name, value in (fields or {}).items():
        field = form.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.send_keys(value)
    next_page_after(driver, form.find_element(By.ID, f"do-{segment}").click)


def shown_state(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "state").text)


def register_state(stack: Stack, case_id: str) -> str:
    referral = latest_referral(stack, case_id)
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
    """WCAG 2.0–2.2 A and AA rules (contrast and target size among them) checked by axe-core on the page as shown."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    found = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'wcag22aa']}})
           .then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
           .catch(e => done(['axe failed: ' + e]));""")
    return list(found)


def new_team_case(stack: Stack, seed: int) -> tuple[str, dict[str, Any]]:
    case_id = report(stack, category_routed_by("county_department"), seed)
    referral = latest_referral(stack, case_id)
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
    assert str(browser.find_element(By.ID, "csv").get_attribute("href")).endswith("/evaluation.csv")
    assert axe_violations(browser) == []
    screenshot(browser, "evaluation-township")


def test_a_post_without_its_csrf_token_is_refused(stack: Stack) -> None:
    case_id, referral = new_team_case(stack, 302)
    with httpx.Client(base_url=stack.workbench_url, timeout=30) as client:
        assert client.get("/demo/sign-in", params={"as": referral["body_id"]}).status_code == 303
        assert client.cookies  # the signed session cookie
        refused = client.post(f"/referrals/{referral['referral_id']}/accept", data={})
        assert refused.status_code == 403 and "CSRF" in refused.text
        bulk = client.post("/inbox/accept", data={"referral_id": referral["referral_id"]})
        assert bulk.status_code == 403 and "CSRF" in bulk.text
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
    next_page_after(browser, lambda: browser.execute_script("""
        const form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        const csrf = document.querySelector('input[name=csrf_token]').cloneNode();
        form.appendChild(csrf); document.body.appendChild(form); form.submit();""",
                                                            f"/referrals/{referral['referral_id']}/accept"))
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


def figures_of(stack: Stack, body_id: str, as_body: str) -> dict[str, Any]:
    """One body's evaluation figures as info-share gives them to ``as_body``."""
    figures = body_party(stack, as_body).client.get("/v1/stats/evaluation").json()
    return dict(next(b for b in figures["bodies"] if b["body_id"] == body_id))


def next_referral(stack: Stack, case_id: str, attempt: int) -> dict[str, Any]:
    """The case's referral of that attempt (or a later one), once the register holds it."""
    def found() -> dict[str, Any] | None:
        return latest_referral(stack, case_id, attempt)
    return dict(poll_until(found, 30, 0.3, f"referral attempt {attempt} of {case_id}"))  # type: ignore[arg-type]


def shown_figure(driver: WebDriver, table_id: str, body_id: str, field: str) -> int:
    row = driver.find_element(By.CSS_SELECTOR, f"#{table_id} tr[data-body-id='{body_id}']")
    return int(row.find_element(By.CSS_SELECTOR, f"td[data-field='{field}']").text)


def test_returns_in_the_browser_become_a_dispute_that_coordination_decides_on_its_page(
        stack: Stack, browser: WebDriver) -> None:
    case_id, referral = new_team_case(stack, 304)
    reasons = iter(["not_our_duty", "overlapping_duties", "unclear_ownership", "wrong_place"])
    returned_by: list[str] = []
    while not referral["body_id"].startswith("coordination:"):
        body, rid = referral["body_id"], referral["referral_id"]
        sign_in(browser, stack, body)
        open_from_inbox(browser, rid)
        code = next(reasons)
        if not returned_by:  # the first return: the form and its reason codes, checked by axe once
            assert axe_violations(browser) == []
        submit(browser, "return", {"reason_code": code, "reason": "经核查不属本单位职责范围"})
        assert browser.find_element(By.ID, "message").text == "已完成：退回"
        assert shown_state(browser) == "已退回"
        assert labels.RETURN_REASONS[code] in browser.find_element(By.ID, "timeline").text
        returned = next(r for r in case_detail(stack, case_id)["referrals"] if r["referral_id"] == rid)
        assert returned["state"] == "returned" and returned.get("return_reason_code", code) == code
        returned_by.append(body)
        referral = next_referral(stack, case_id, referral["attempt"] + 1)
    assert referral["body_id"] == f"coordination:{COUNTY}" and returned_by[0] == TEAM
    assert case_detail(stack, case_id)["status"] == "disputed"

    # County coordination finds the dispute on its desk and decides it on the referral's page.
    sign_in(browser, stack, f"coordination:{COUNTY}")
    browser.find_element(By.LINK_TEXT, "协调台").click()
    WebDriverWait(browser, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains("/coordination"))
    browser.find_element(By.CSS_SELECTOR, f"#disputes a[href='/referrals/{referral['referral_id']}']").click()
    WebDriverWait(browser, PAGE_WAIT_SECONDS).until(
        expected_conditions.url_contains(f"/referrals/{referral['referral_id']}"))
    assert [a.get_attribute("id") for a in browser.find_elements(By.CSS_SELECTOR, "form.action")] == [
        "form-decision"]  # a dispute is decided, not signed for
    assert_accessible_basics(browser)
    assert axe_violations(browser) == []
    screenshot(browser, "dispute-coordination")
    designated_body = f"team:{COUNTY}:natural_resources"
    submit(browser, "decision", {"body_id": designated_body, "reason": "土地权属明确，由自然资源执法队办理"})
    assert browser.find_element(By.ID, "message").text == "已完成：指定管辖"
    assert shown_state(browser) == "已指定管辖"
    designated = next_referral(stack, case_id, referral["attempt"] + 1)
    assert designated["body_id"] == designated_body and designated["state"] == "issued"
    assert case_detail(stack, case_id)["status"] != "disputed"
    desk = httpx.get(f"http://127.0.0.1:{stack.info_share_port}/v1/coordination/disputes", timeout=30,
                     headers={"Authorization": f"Bearer {coordination_token(stack)}"}).json()
    assert referral["referral_id"] not in {d["referral_id"] for d in desk["disputes"]}
    browser.get(f"{stack.workbench_url}/coordination")
    assert not browser.find_elements(By.CSS_SELECTOR, f"#disputes a[href='/referrals/{referral['referral_id']}']")

    # The township's evaluation table shows the returns that followed, as info-share counts them.
    township = f"township:{TOWNSHIP}"
    sign_in(browser, stack, township)
    browser.get(f"{stack.workbench_url}/evaluation")
    for body in returned_by:
        expected = figures_of(stack, body, township)
        assert expected["returned"] >= 1
        assert shown_figure(browser, "bodies", body, "returned") == expected["returned"]
        assert shown_figure(browser, "bodies", body, "received") == expected["received"]
    assert shown_figure(browser, "bodies", designated_body, "received") == figures_of(
        stack, designated_body, township)["received"]
    assert axe_violations(browser) == []
    screenshot(browser, "evaluation-after-dispute")


def test_new_referrals_appear_in_the_open_inbox_and_are_signed_for_together(stack: Stack, browser: WebDriver
                                                                            ) -> None:
    sign_in(browser, stack, TEAM)
    browser.execute_script("window.notReloaded = true;")  # gone if the page were loaded again
    filed = [new_team_case(stack, seed) for seed in (305, 306)]
    for _case_id, referral in filed:
        assert referral["body_id"] == TEAM
        card_id = f"card-{referral['referral_id']}"
        WebDriverWait(browser, PAGE_WAIT_SECONDS).until(expected_conditions.presence_of_element_located(
            (By.ID, card_id)))
    assert browser.execute_script("return window.notReloaded === true;")
    assert "新到" in browser.find_element(By.ID, "live-news").text
    assert_accessible_basics(browser)
    assert axe_violations(browser) == []
    screenshot(browser, "inbox-live")

    for _case_id, referral in filed:  # ticked from the keyboard: the box takes focus and a space
        browser.find_element(By.ID, f"pick-{referral['referral_id']}").send_keys(" ")
        assert browser.find_element(By.ID, f"pick-{referral['referral_id']}").is_selected()
    next_page_after(browser, browser.find_element(By.ID, "do-bulk-accept").click)
    assert browser.find_element(By.ID, "message").text == "已签收 2 件"
    for case_id, referral in filed:
        assert register_state(stack, case_id) == "accepted"
        assert not browser.find_elements(By.ID, f"pick-{referral['referral_id']}")  # nothing to sign any more


def test_an_agency_extends_the_township_sends_back_for_rework_and_sees_its_agencies(
        stack: Stack, browser: WebDriver) -> None:
    case_id = report(stack, category_routed_by("dispatched_agency"), 307)
    referral = latest_referral(stack, case_id)
    assert referral is not None and referral["body_id"].startswith("agency:")
    agency, rid, township = referral["body_id"], referral["referral_id"], f"township:{TOWNSHIP}"

    sign_in(browser, stack, agency)
    open_from_inbox(browser, rid)
    submit(browser, "extension", {"reason": "需现场核实权属"})
    assert browser.find_element(By.ID, "message").text == "已完成：申请延期"
    assert "已延期" in browser.find_element(By.ID, "body").find_element(By.XPATH, "..").text
    assert shown_state(browser) == "待签收" and latest_referral(stack, case_id)["extended"] is True  # type: ignore[index]
    assert not browser.find_elements(By.ID, "form-extension")  # once only
    submit(browser, "accept")
    submit(browser, "start")
    submit(browser, "feedback", {"outcome": "rectified", "note": "已整改", "evidence": "https://evidence.example/a"})
    assert register_state(stack, case_id) == "result_fed_back"

    sign_in(browser, stack, township)
    open_from_inbox(browser, rid)
    submit(browser, "rework", {"reason": "整改照片缺失"})
    assert browser.find_element(By.ID, "message").text == "已完成：驳回重办"
    assert shown_state(browser) == "办理中" and register_state(stack, case_id) == "handling"
    assert "整改照片缺失" in browser.find_element(By.ID, "timeline").text
    screenshot(browser, "referral-township-rework")

    sign_in(browser, stack, agency)
    open_from_inbox(browser, rid)
    submit(browser, "feedback", {"outcome": "rectified", "note": "补充整改照片",
                                 "evidence": "https://evidence.example/b"})
    sign_in(browser, stack, township)
    open_from_inbox(browser, rid)
    submit(browser, "verify")
    assert register_state(stack, case_id) == "verified"

    # 派驻机构: the agencies working in the township, as a table and a chart with words beside every bar.
    browser.find_element(By.LINK_TEXT, "派驻机构").click()
    WebDriverWait(browser, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains("/township"))
    expected = figures_of(stack, agency, township)
    assert expected["extensions"] >= 1 and expected["reworks"] >= 1
    for field in ("received", "extensions", "reworks", "closed"):
        assert shown_figure(browser, "agencies", agency, field) == expected[field]
    chart = browser.find_element(By.ID, "agency-chart")
    assert REFERENCE.body(agency).name in chart.text and "重办" in chart.text and "延期" in chart.text
    assert str(browser.find_element(By.ID, "csv").get_attribute("href")).endswith("/evaluation.csv")
    assert_accessible_basics(browser)
    assert axe_violations(browser) == []
    screenshot(browser, "township-agencies")
    metrics = httpx.get(f"{stack.workbench_url}/metrics", timeout=30)
    assert metrics.status_code == 200
    assert 'service="workbench"' in metrics.text and 'route="/township"' in metrics.text


def test_sign_in_through_the_idp_code_flow_in_the_browser(stack: Stack, browser: WebDriver) -> None:
    """The authorization-code flow with PKCE, here against the stack's demo IdP, as against a real one."""
    case_id, referral = new_team_case(stack, 308)
    browser.get(f"{stack.workbench_url}/sign-in")
    browser.find_element(By.ID, "oidc-sign-in").click()
    WebDriverWait(browser, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains("/demo-idp/authorize"))
    assert "code_challenge_method=S256" in browser.current_url
    assert_accessible_basics(browser)
    assert axe_violations(browser) == []
    screenshot(browser, "demo-idp")
    browser.find_element(By.ID, "idp-as").send_keys(referral["body_id"])
    browser.find_element(By.ID, "idp-sign-in").click()
    WebDriverWait(browser, PAGE_WAIT_SECONDS).until(expected_conditions.url_contains("/inbox"))
    assert browser.find_element(By.ID, "signed-in-as").text == REFERENCE.body(referral["body_id"]).name
    open_from_inbox(browser, referral["referral_id"])
    submit(browser, "accept")  # the IdP's token is the one info-share checks for the action
    assert shown_state(browser) == "已签收" and register_state(stack, case_id) == "accepted"
    # The pending sign-in's cookie (Path=/oidc) is gone: seen from under /oidc, only the session's is left; and a
    # callback without a state is refused with words, the session kept.
    browser.get(f"{stack.workbench_url}/oidc/callback")
    assert "登录请求无效或已过期" in browser.find_element(By.ID, "error").text
    cookies = {c["name"] for c in browser.get_cookies()}
    assert "liandong_wb" in cookies and "liandong_wb_oidc" not in cookies

    # A callback the browser did not start (no state cookie) signs nobody in.
    with httpx.Client(base_url=stack.workbench_url, timeout=30) as client:
        forged = client.get("/oidc/callback", params={"code": "stolen", "state": "guessed"})
        assert forged.status_code == 400 and not client.cookies.get("liandong_wb")
