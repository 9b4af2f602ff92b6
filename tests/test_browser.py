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
SEARCHING = "Recherche en cours…"
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


# every example the empty chat offers: the file its answer must cite first, and the fact
EXAMPLE_ANSWERS = {
    "Qui est le conseiller à la sécurité nationale de Joe Biden ?": ("002_", "Jake Sullivan"),
    "Quel dernier dirigeant de l'URSS a salué un sommet entre les deux présidents ?": (
        "000_",
        "Gorbatchev",
    ),
    "Comment s'appelle l'ambassadeur russe à Washington rappelé pour consultations ?": (
        "004_",
        "Antonov",
    ),
    "Quel jour Joe Biden s'entretient-il avec Vladimir Poutine en décembre ?": (
        "003_",
        "30 décembre",
    ),
}


def test_every_example_question_of_the_page_is_answered_right(browser: Any, app_url: str) -> None:
    """A newcomer clicks the examples first: each one gets its fact, cited from its article."""
    from playwright.sync_api import expect

    from rag.web.ui import EXAMPLES

    assert set(EXAMPLES) == set(EXAMPLE_ANSWERS)
    for question, (file, fact) in EXAMPLE_ANSWERS.items():
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(app_url, wait_until="load")
        page.get_by_text(question).first.click()
        answer = page.locator('#rag-chat [data-testid="bot"]').last
        expect(answer).to_contain_text(fact)
        expect(answer).to_contain_text("[1]")
        expect(page.locator("#rag-sources .rag-source").first).to_contain_text(file)
        page.close()


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


# records every text the screen-reader status region is given
WATCH_STATUS = """
() => {
  window.__statuses = [];
  new MutationObserver(() => {
    for (const region of document.querySelectorAll('[role="status"]')) {
      const text = region.textContent.trim();
      if (text) window.__statuses.push(text);
    }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}
"""
DIPLOMATIE = "003_b5fe129bdbb88210.txt"
DIPLOMATIE_TITLE = "Crise en Ukraine : Biden va proposer à Poutine une «voie diplomatique»"
DECEMBER = "Quel jour de décembre 2021 Joe Biden et Vladimir Poutine devaient-ils se parler ?"
GORBATCHEV = "Quel dernier dirigeant de l'URSS a salué un sommet entre les deux présidents ?"


def ask(page: Any, question: str) -> Any:
    """Ask ``question`` in the chat; the new bot message once the answer is complete (its
    sources shown)."""
    bots = page.locator('#rag-chat [data-testid="bot"]')
    before = bots.count()
    page.locator("#rag-question textarea").fill(question)
    page.locator("#rag-question textarea").press("Enter")
    page.wait_for_function(
        """([before, searching]) =>
            document.querySelectorAll('#rag-chat [data-testid="bot"]').length > before
            && !document.querySelector('#rag-sources').innerText.includes(searching)""",
        arg=[before, SEARCHING],
    )
    return bots.last


def test_the_api_docs_render_offline(browser: Any, app_url: str) -> None:
    """Issue #23: the bundled Swagger UI said "Unable to render this definition" (OpenAPI 3.1)."""
    from playwright.sync_api import expect

    requests: list[str] = []
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{app_url}docs", wait_until="load")

    ask_operation = page.locator("#operations-default-ask_api_ask_post")
    expect(ask_operation).to_contain_text("/api/ask")
    expect(page.locator("#operations-default-retrieve_api_retrieve_post")).to_be_visible()
    ask_operation.locator(".opblock-summary").click()
    expect(ask_operation.locator(".opblock-body")).to_contain_text('"history"')
    expect(ask_operation.locator(".opblock-body")).to_contain_text('"question"')
    expect(page.locator("section.models")).to_contain_text("AnswerOut")
    assert "Unable to render" not in page.locator("body").inner_text()
    page.close()
    outside = [url for url in requests if not _is_local(url)]
    assert requests and not outside, f"requests left the machine: {outside}"


def test_the_page_points_to_the_api_docs_not_to_gradios_api(browser: Any, app_url: str) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(app_url, wait_until="load")

    expect(page.locator("#rag-about a[href='/docs']")).to_be_visible()
    expect(page.locator("footer")).to_be_visible()
    for name in ("Use via API", "Utiliser via API"):
        expect(page.get_by_text(name)).to_have_count(0)
    expect(page.locator("footer button.show-api")).to_have_count(0)
    page.goto(f"{app_url}?view=api", wait_until="load")  # Gradio's own API page: gone
    expect(page.locator("#rag-question textarea")).to_be_visible()
    expect(page.locator(".api-docs")).to_have_count(0)
    page.close()


def test_an_english_browser_gets_one_language_on_the_page(browser: Any, app_url: str) -> None:
    """Issue #23: Gradio's own strings stayed English in the French page, the screen-reader
    status read "common.complete", and messages' aria-labels held raw HTML."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(app_url, wait_until="load")
    expect(page.locator("#rag-question textarea")).to_be_visible()

    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("footer")).to_contain_text("Paramètres")
    expect(page.locator("footer")).not_to_contain_text("Settings")
    page.get_by_role("tab", name="Corpus").click()
    expect(page.get_by_text("Déposez les fichiers ici")).to_be_visible()
    for english in ("Drop File Here", "Click to Upload"):
        expect(page.get_by_text(english)).to_have_count(0)
    expect(page.locator("input.search-input")).to_have_attribute("placeholder", "Rechercher…")

    page.get_by_role("tab", name="Questions").click()
    page.evaluate(WATCH_STATUS)
    answer = ask(page, QUESTION)
    expect(answer).to_contain_text("Sullivan")
    label = answer.get_attribute("aria-label")
    assert label == f"Réponse : {answer.inner_text().strip()}", label
    assert "<" not in label
    # the region speaks at most every 5 s: "Terminé" may come a few seconds after the answer
    page.wait_for_function("window.__statuses.includes('Terminé')")
    statuses = page.evaluate("window.__statuses")
    assert "Terminé" in statuses and not [s for s in statuses if "common." in s], statuses

    english = ask(page, "What is the recipe for beef bourguignon?")
    expect(english).to_contain_text("I cannot find this information in the corpus.")
    assert english.get_attribute("aria-label") == (
        "Réponse : I cannot find this information in the corpus."
    )
    context.close()


def test_the_article_view_and_the_cards_show_each_title_once(browser: Any, app_url: str) -> None:
    """Issue #23: the view began with the " date 2021-12" header, article 000's title was its
    photo caption, and 003's card repeated its title as the passage's first words."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(app_url, wait_until="load")

    expect(ask(page, DECEMBER)).to_contain_text("30 décembre")
    card = page.locator("#rag-sources .rag-source").first
    expect(card).to_contain_text(DIPLOMATIE)
    assert card.inner_text().count(DIPLOMATIE_TITLE) == 1, card.inner_text()
    card.click()
    view = page.locator("#rag-article .rag-article")
    expect(view.locator("mark")).to_contain_text("30 décembre")
    assert "date 2021-12" not in view.inner_text()
    assert view.inner_text().count(DIPLOMATIE_TITLE) == 1, view.inner_text()

    expect(ask(page, GORBATCHEV)).to_contain_text("Gorbatchev")
    card = page.locator("#rag-sources .rag-source").first
    expect(card).to_contain_text("000_10bf3600e7f0d36b.txt")
    expect(card.locator(".rag-source-title")).not_to_contain_text("illustration")
    card.click()
    expect(page.locator("#rag-article mark")).to_contain_text("Gorbatchev")
    assert "illustration" not in " ".join(page.locator("#rag-article h3").all_inner_texts())
    assert "date 2021-04" not in page.locator("#rag-article").inner_text()
    page.get_by_role("tab", name="Corpus").click()
    table = page.locator("#rag-corpus-table")
    expect(table).to_contain_text("Oublié, Vladimir Poutine le «tueur»")  # 000's title
    expect(table).not_to_contain_text("(illustration)")
    page.close()


def test_cancelling_a_deletion_says_so_and_keeps_the_article(
    browser: Any, app_url: str, app_settings: Settings
) -> None:
    """Issue #23: cancelling the confirmation said "Choisissez l'article à supprimer."."""
    from playwright.sync_api import expect

    name = "004_914667f3d7e9b219.txt"
    asked: list[str] = []
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Corpus").click()
    page.get_by_label("Article à supprimer").click()
    page.get_by_role("option", name=name).click()

    page.locator("#rag-delete").click()

    expect(page.locator("#rag-corpus-status")).to_have_text("Suppression annulée.")
    assert asked == [f"Supprimer {name} du corpus ?"]
    assert (app_settings.corpus_dir / name).exists()
    expect(page.get_by_label("Article à supprimer")).to_have_value(name)  # still chosen
    page.close()


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob") or parsed.hostname in LOCAL_HOSTS
