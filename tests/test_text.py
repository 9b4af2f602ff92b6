"""rag/text.py: folding and the stemmed content words every comparison of the project uses."""

from __future__ import annotations

import pytest

from rag.text import fold, tokenize


def test_fold_example_of_the_docstring() -> None:
    assert fold("Sécurité l’Otan") == "securite l'otan"


def test_fold_lowercases_and_strips_accents() -> None:
    assert fold("ÉTÉ à Genève, Œuvre naïve") == "ete a geneve, œuvre naive"


@pytest.mark.parametrize("apostrophe", ["’", "‘", "`", "'"])
def test_fold_makes_every_apostrophe_a_plain_one(apostrophe: str) -> None:
    assert fold(f"l{apostrophe}Otan") == "l'otan"


def test_fold_leaves_plain_ascii_as_it_is_but_lowercase() -> None:
    assert fold("Joe Biden, 16 juin 2021 !") == "joe biden, 16 juin 2021 !"


def test_tokenize_example_of_the_docstring() -> None:
    assert tokenize("L'accumulation des troupes") == ["accumul", "troup"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l’armée", ["arme"]),
        ("L'armée", ["arme"]),
        ("qu’a dit l`Otan", ["dit", "otan"]),
        ("jusqu'à Genève", ["genev"]),
        ("lorsqu'elle arriva", ["arriv"]),
        ("d'abord", ["abord"]),
    ],
)
def test_tokenize_drops_elisions(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_tokenize_removes_french_stopwords() -> None:
    assert tokenize("le la les des du et dans pour avec sur") == []


def test_tokenize_removes_english_stopwords_and_question_words() -> None:
    assert tokenize("What is the NATO and where is it?") == ["nato"]
    assert tokenize("quel quelle combien pourquoi quand comment") == []


def test_tokenize_stems_inflected_forms_to_one_word() -> None:
    assert tokenize("gouvernement gouvernements") == ["gouvern", "gouvern"]
    assert tokenize("troupe") == tokenize("troupes") == ["troup"]


def test_tokenize_folds_case_and_accents_before_stemming() -> None:
    assert tokenize("GENÈVE") == tokenize("geneve") == tokenize("Genève")


def test_tokenize_splits_words_glued_by_scraping() -> None:
    assert tokenize("duRGPD") == ["rgpd"]  # "du RGPD": "du" is a stopword
    assert tokenize("laCNIL") == ["cnil"]
    assert tokenize("simplesà respecter") == ["simpl", "respect"]  # "simples à respecter"


def test_tokenize_of_text_without_words_is_empty() -> None:
    assert tokenize("") == [] and tokenize(" ... !? ") == []
