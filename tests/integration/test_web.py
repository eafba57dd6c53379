"""The web app in a real browser (Debian's headless Chromium driven by Playwright) against the
whole stack, seeded with the demo data ``make run`` seeds (fewer learners).

Signs in with the demo buttons as the learner, the instructor and the admin; every page must
render with data, without a console error and without a problem the accessibility audit
(``web_audit.js``: contrast, names of controls, alt text, one h1) finds; an assistant reply
must stream in; an export must download; a learner's achievement toast and an instructor's
enrollment count arrive live; the instructor's pages work from the keyboard alone.
Screenshots at desktop and phone widths are saved under ``test-artifacts/web/``
(``LEARNSTREAM_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from playwright.async_api import Browser, Page, async_playwright

from learnstream.devstack import demo

from .conftest import Stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed (CI installs it)"
    ),
]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("LEARNSTREAM_TEST_ARTIFACTS", "test-artifacts")) / "web"
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
AUDIT = (Path(__file__).parent / "web_audit.js").read_text()


@pytest.fixture(scope="module")
async def seeded(stack: Stack) -> Stack:
    """The stack with the demo data of 24 learners, once analytics shows the instructor's
    students and achievements the demo learner's first achievement."""
    summary = await demo.seed(stack.base_url, learners=24)
    assert summary.enrollments > 0 and summary.reports > 0, summary
    instructor = await stack.http.post(
        "/api/auth/dev-token", json={"email": demo.DEMO_INSTRUCTOR, "role": "instructor"}
    )
    headers = {"Authorization": f"Bearer {instructor.json()['accessToken']}"}
    learner = await stack.http.post(
        "/api/auth/dev-token", json={"email": demo.DEMO_LEARNER, "role": "student"}
    )
    learner_headers = {"Authorization": f"Bearer {learner.json()['accessToken']}"}
    deadline = time.monotonic() + 120
    while True:
        board = (await stack.http.get("/api/creator/dashboard", headers=headers)).json()
        earned = (await stack.http.get("/api/learner/achievements", headers=learner_headers)).json()
        if (board.get("students") or {}).get("total") and earned.get("earned"):
            return stack
        assert time.monotonic() < deadline, f"the demo data was not worked off: {board}, {earned}"
        await asyncio.sleep(1)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        await launched.close()


class Visit:
    """A browser tab of one size, collecting console errors and saving screenshots."""

    def __init__(self, page: Page, size: str, base_url: str) -> None:
        self.page = page
        self.size = size
        self.base_url = base_url
        self.errors: list[str] = []
        page.on(
            "console", lambda message: self.errors.append(message.text) if message.type == "error" else None
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        # everything, the charting library included, must come from the stack itself
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith((base_url, "data:", "blob:"))
                else self.errors.append(f"asked another host: {request.url}")
            ),
        )

    async def open(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def shot(self, name: str) -> None:
        """Save a screenshot of the page, and audit it: what the audit finds counts as an error."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / f"{name}-{self.size}.png", full_page=True)
        problems = await self.page.evaluate(AUDIT)
        self.errors += [f"{name} ({self.size}): {problem}" for problem in problems]

    async def sign_in(self, button: str, lands_on: str) -> None:
        """Sign in with a demo button and wait for the role's start page (``lands_on``)."""
        await self.open("/")
        await self.page.evaluate("localStorage.clear()")
        await self.open("/")
        await self.page.get_by_role("button", name=button).click()
        await self.page.wait_for_url(f"**{lands_on}")


async def visit(browser: Browser, stack: Stack, size: str) -> Visit:
    context = await browser.new_context(viewport=SIZES[size], accept_downloads=True)
    return Visit(await context.new_page(), size, stack.base_url)


async def charts_drawn(page: Page, selector: str) -> int:
    """How many of the matching elements hold a drawn Plotly chart."""
    await page.wait_for_selector(f"{selector} .main-svg")
    return int(await page.locator(f"{selector}:has(.main-svg)").count())


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_learner_pages_render_with_data(seeded: Stack, browser: Browser, size: str) -> None:
    tab = await visit(browser, seeded, size)
    page = tab.page
    await tab.open("/")
    await tab.shot("sign-in")
    # given the demo learner signed in with the dev-mode button
    await tab.sign_in("Sign in as demo learner", "/dashboard")
    # then the dashboard shows the stats, continue learning, the activity chart and achievements
    await page.get_by_role("heading", name="Welcome back, Demo Learner!").wait_for()
    assert await page.locator("#stats .card").count() == 5
    assert await charts_drawn(page, "#activity-chart") == 1
    assert await page.locator(".badge").count() >= 10, "earned and locked achievements"
    assert await page.locator(".badge[data-earned='true']").count() >= 1
    courses = page.locator("section[aria-label='My courses'] tbody tr")
    assert await courses.count() >= 1
    # the 90-day toggle redraws the chart with 90 bars
    await page.get_by_role("button", name="90 days").click()
    await page.get_by_role("heading", name="Learning activity (last 90 days)").wait_for()
    await tab.shot("dashboard")
    # and a course's progress page lists its modules, lessons, pace and time left
    await page.locator("section[aria-label='My courses'] tbody tr a").first.click()
    await page.wait_for_url("**/progress")
    await page.locator("#course-stats").wait_for()
    assert "lessons / week" in await page.locator("#course-stats").inner_text()
    assert await page.locator("li.lesson").count() >= 3
    await tab.shot("course-progress")
    assert tab.errors == []


@pytest.mark.parametrize("size", list(SIZES))
async def test_an_assistant_reply_streams_in_and_the_history_groups_it(
    seeded: Stack, browser: Browser, size: str
) -> None:
    tab = await visit(browser, seeded, size)
    page = tab.page
    await tab.sign_in("Sign in as demo learner", "/dashboard")
    await tab.open("/chat")
    await page.get_by_role("button", name="+ New Conversation").click()
    # count how often the reply's text grows while it is written
    await page.evaluate(
        """() => {
          window.deltas = 0;
          new MutationObserver((records) => {
            const last = document.querySelector('.message.assistant.streaming .text');
            if (last && last.textContent) window.deltas += records.filter((r) => r.target === last).length;
          }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
        }"""
    )
    await page.get_by_label("Your question").fill("Which worked examples and exercise do the lessons have?")
    await page.get_by_role("button", name="Send").click()
    reply = page.locator(".message.assistant").last
    await reply.wait_for()
    await page.wait_for_selector(".message.assistant:not(.streaming)")
    assert "offline course assistant" in await reply.inner_text()
    assert await page.evaluate("window.deltas") > 1, "the reply arrived in more than one piece"
    # the new conversation is in the sidebar under Today
    history = page.get_by_role("navigation", name="Conversations")
    assert "today" in (await history.inner_text()).lower()
    # and the demo's earlier conversations are filed on their own days (chat keeps their moments)
    groups = await history.locator("h3").all_inner_texts()
    assert len(groups) >= 2, groups
    assert "Which worked examples and exercise do the lessons" in await history.inner_text()
    await tab.shot("chat")
    assert tab.errors == []


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_instructor_pages_render_and_an_export_downloads(
    seeded: Stack, browser: Browser, size: str
) -> None:
    tab = await visit(browser, seeded, size)
    page = tab.page
    await tab.sign_in("Sign in as demo instructor", "/creator")
    # the creator dashboard: figures, daily active learners, courses and the students table
    await page.locator("#creator-stats").wait_for()
    assert await charts_drawn(page, "#dau-chart") == 1
    await page.locator("#creator-students tbody tr").first.wait_for()
    assert await page.locator("#creator-courses li").count() >= 1
    await tab.shot("creator")
    # a course's analytics: stats with trends, four charts, lessons, students needing help
    await page.locator("#creator-courses a").first.click()
    await page.wait_for_url("**/analytics")
    await page.locator("#course-stats").wait_for()
    # the period selector reloads the page for that window
    await page.locator("#period").select_option("90d")
    await page.wait_for_url("**/analytics?period=90d")
    await page.locator("#course-stats").wait_for()
    for chart in ("#trends-chart", "#funnel-chart", "#heatmap-chart", "#distribution-chart"):
        assert await charts_drawn(page, chart) == 1, chart
    assert await page.locator("#lesson-performance tbody tr").count() >= 3
    await tab.shot("course-analytics")
    # the export button downloads the PDF report
    if size == "desktop":
        async with page.expect_download(timeout=60_000) as waiting:
            await page.locator("#export-button").click()
        download = await waiting.value
        path = await download.path()
        assert path is not None
        assert (await asyncio.to_thread(Path(path).read_bytes))[:5] == b"%PDF-"
    # one student's page: stats, timeline, lesson breakdown, notes
    await page.locator("#top-students a").first.click()
    await page.wait_for_url("**/students/**")
    await page.get_by_role("heading", name="Lesson by lesson").wait_for()
    # both sizes may open the same student: each writes a note of its own
    await page.get_by_label("New note").fill(f"Doing well ({size}); suggest the next course.")
    await page.get_by_role("button", name="Add note").click()
    await page.locator("#notes li", has_text=f"Doing well ({size})").wait_for()
    await tab.shot("student")
    assert tab.errors == []


async def test_the_admin_sees_the_platform_overview(seeded: Stack, browser: Browser) -> None:
    tab = await visit(browser, seeded, "desktop")
    page = tab.page
    await tab.sign_in("Sign in as demo admin", "/admin")
    await page.locator("#admin-stats").wait_for()
    assert await charts_drawn(page, "#admin-dau-chart") == 1
    assert "Monthly active" in await page.locator("#admin-stats").inner_text()
    await tab.shot("admin")
    assert tab.errors == []


async def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(seeded: Stack, browser: Browser) -> None:
    tab = await visit(browser, seeded, "desktop")
    page = tab.page
    await tab.open("/chat")
    await page.wait_for_url("**/?next=%2Fchat")
    await page.get_by_label("Email").fill("nobody@example.com")
    await page.get_by_label("Password").fill("wrong password 123")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.get_by_role("alert").filter(has_text="wrong").wait_for()
    errors: list[Any] = [e for e in tab.errors if "401" not in e]
    assert errors == []


async def tab_to(page: Page, selector: str, *, text: str | None = None, presses: int = 80) -> None:
    """Press Tab until the focused element matches ``selector`` (and shows ``text``); every
    element focused on the way must show the focus ring."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """([selector, text]) => {
              const element = document.activeElement;
              const style = getComputedStyle(element);
              return {
                body: element === document.body,
                match: element.matches(selector) && (!text || element.textContent.trim() === text),
                ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
                what: element.outerHTML.slice(0, 100),
              };
            }""",
            [selector, text],
        )
        assert focused["body"] or focused["ring"], f"no visible focus on {focused['what']}"
        if focused["match"]:
            return
    raise AssertionError(f"{selector} {text or ''} not reached with {presses} presses of Tab")


async def progress_column(page: Page) -> list[float]:
    cells = await page.locator("#creator-students tbody tr td:nth-child(3)").all_inner_texts()
    return [float(re.sub(r"[^0-9.]", "", cell)) for cell in cells]


async def test_the_pages_work_from_the_keyboard_alone(seeded: Stack, browser: Browser) -> None:
    tab = await visit(browser, seeded, "desktop")
    page = tab.page
    await tab.open("/")
    await page.evaluate("localStorage.clear()")
    await tab.open("/")
    # the learner signs in and switches the activity chart to 90 days with keys only
    await tab_to(page, "button", text="Sign in as demo learner")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/dashboard")
    await page.locator("#activity-chart .main-svg").first.wait_for()
    await tab_to(page, "button", text="90 days")
    await page.keyboard.press("Space")
    await page.get_by_role("heading", name="Learning activity (last 90 days)").wait_for()
    # the instructor sorts the Students table by progress, highest then lowest first
    await tab.open("/")
    await page.evaluate("localStorage.clear()")
    await tab.open("/")
    await tab_to(page, "button", text="Sign in as demo instructor")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/creator")
    await page.locator("#creator-students tbody tr").first.wait_for()
    await tab_to(page, "button[data-sort='progress']")
    await page.keyboard.press("Enter")
    await page.locator("th[aria-sort='descending'] button[data-sort='progress']").wait_for()
    highest_first = await progress_column(page)
    assert len(highest_first) >= 2 and highest_first == sorted(highest_first, reverse=True), highest_first
    await page.keyboard.press("Enter")  # the focus stays on the column's button
    await page.locator("th[aria-sort='ascending'] button[data-sort='progress']").wait_for()
    lowest_first = await progress_column(page)
    assert lowest_first == sorted(lowest_first) and lowest_first[0] <= highest_first[-1], lowest_first
    # and opens a course's analytics from its link
    await tab_to(page, "#creator-courses a")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/analytics")
    await page.locator("#course-stats").wait_for()
    await tab.shot("keyboard-analytics")
    assert tab.errors == []


async def test_live_updates_reach_the_learner_and_the_instructor(seeded: Stack, browser: Browser) -> None:
    http = seeded.http
    instructor = await http.post(
        "/api/auth/dev-token", json={"email": demo.DEMO_INSTRUCTOR, "role": "instructor"}
    )
    board = await http.get(
        "/api/creator/dashboard", headers={"Authorization": f"Bearer {instructor.json()['accessToken']}"}
    )
    course_id = board.json()["courses"][0]["id"]
    # the instructor watches the course's analytics
    teacher = await visit(browser, seeded, "desktop")
    await teacher.sign_in("Sign in as demo instructor", "/creator")
    await teacher.open(f"/instructor/courses/{course_id}/analytics")
    await teacher.page.locator("#course-stats").wait_for()
    await teacher.page.locator("html[data-live='connected']").wait_for()
    before = int(re.sub(r"\D", "", await teacher.page.locator("#course-stats .value").first.inner_text()))
    # a new learner registers and signs in with email and password
    email = f"live-{uuid4().hex[:10]}@example.com"
    registered = await http.post(
        "/api/auth/register",
        json={"email": email, "password": "a long passphrase 42", "fullName": "Live Learner"},
    )
    assert registered.status_code == 201, registered.text
    learner = await visit(browser, seeded, "desktop")
    await learner.open("/")
    await learner.page.get_by_label("Email").fill(email)
    await learner.page.get_by_label("Password").fill("a long passphrase 42")
    await learner.page.get_by_label("Password").press("Enter")
    await learner.page.wait_for_url("**/dashboard")
    await learner.page.locator("html[data-live='connected']").wait_for()
    # when the learner enrolls (from another device: the API)
    headers = {"Authorization": f"Bearer {registered.json()['accessToken']}"}
    enrolled = await http.post(f"/api/courses/{course_id}/enroll", headers=headers)
    assert enrolled.status_code == 201, enrolled.text
    # then the learner's page shows the achievement as it is unlocked
    await learner.page.locator("#toasts .toast", has_text="Achievement unlocked: First Steps").wait_for(
        timeout=60_000
    )
    # and the instructor's page counts the new student and says who it is
    await teacher.page.locator("#toasts .toast", has_text="New enrollment: Live Learner").wait_for(
        timeout=60_000
    )
    assert (
        int(re.sub(r"\D", "", await teacher.page.locator("#course-stats .value").first.inner_text()))
        == before + 1
    )
    assert learner.errors == [] and teacher.errors == []
