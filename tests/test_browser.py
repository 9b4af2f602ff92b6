"""The app in a real headless Chromium: ask, watch the answer stream, open the cited article."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx
import pytest

from rag.config import Settings
from tests.conftest import _serve, free_port

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser-answer.png"
QUESTION = "Qui est le conseiller à la sécurité nationale de Joe Biden ?"
COUNTRIES = (
    "Quels pays se sont dits prêts à accueillir le sommet entre Joe Biden et Vladimir Poutine ?"
)
# records every text the last bot message shows, to see the answer arrive in pieces
WATCH_ANSWER = """
() => {
  window.__answers = [];
  const chat = document.querySelector('#rag-chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('[data-testid="bot"]');
    const text = bots.length ? bots[bots.length - 1].innerText : '';
    if (text && window.__answers[window.__answers.length - 1] !== text) window.__answers.push(text);
  }).observe(chat, {childList: true, subtree: true, characterData: true});
}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def test_ask_see_streamed_answer_and_open_the_highlighted_article(
    browser: Any, app_url: str
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(app_url, wait_until="load")

    expect(page.get_by_text(QUESTION).first).to_be_visible()  # an example on the empty chat
    page.evaluate(WATCH_ANSWER)
    page.locator("#rag-question textarea").fill(QUESTION)
    page.locator("#rag-question textarea").press("Enter")

    answer = page.locator('#rag-chat [data-testid="bot"]').last
    expect(answer).to_contain_text("Sullivan")
    expect(answer).to_contain_text("[1]")
    expect(answer.locator(".rag-unsure")).to_have_count(0)  # a sure answer: no warning
    source = page.locator("#rag-sources .rag-source").first
    expect(source.locator("mark")).to_contain_text("Jake Sullivan")
    expect(source).to_contain_text("002_c1d3609a954ad6a6.txt")
    pieces = page.evaluate("window.__answers")
    assert len([p for p in pieces if "Sullivan" not in p]) >= 2, pieces  # it streamed in

    source.click()
    marked = page.locator("#rag-article mark")
    expect(marked).to_contain_text("Jake Sullivan")
    expect(page.locator("#rag-article .rag-passage")).to_contain_text("Finlande")
    expect(marked).to_be_in_viewport()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    context.close()

    outside = [url for url in requests if not _is_local(url)]
    assert requests and not outside, f"requests left the machine: {outside}"


@pytest.fixture(scope="module")
def unsure_url(app_settings: Settings, app_pipeline: Pipeline) -> Iterator[str]:
    """The app with RAG_SURE_THRESHOLD=1: every answer it gives is below it."""
    settings = replace(app_settings, sure_threshold=1.0, port=free_port())
    server = _serve(replace(app_pipeline, settings=settings), settings)
    try:
        yield server.url
    finally:
        server.stop()


def test_an_unsure_answer_shows_its_warning(browser: Any, unsure_url: str) -> None:
    """An answer below RAG_SURE_THRESHOLD tells the reader to check, with its own confidence."""
    from playwright.sync_api import expect

    asked = COUNTRIES
    reply = httpx.post(f"{unsure_url}api/ask", json={"question": asked}, timeout=60)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert not data["abstained"] and data["unsure"], data
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(unsure_url, wait_until="load")
    question = page.locator("#rag-question textarea")
    question.fill(asked)
    question.press("Enter")

    answer = page.locator('#rag-chat [data-testid="bot"]').last
    expect(answer).to_contain_text("Finlande")
    expect(answer.locator(".rag-unsure")).to_contain_text(
        f"À vérifier : confiance {100 * data['confidence']:.0f} %"
    )
    page.close()


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob") or parsed.hostname in LOCAL_HOSTS
