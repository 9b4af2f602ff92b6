"""rag/answer/chat.py: follow-up questions borrow the topic of the previous turn."""

from __future__ import annotations

from rag.answer.chat import is_follow_up, rewrite
from rag.pipeline import Pipeline

FIRST = "Qui est le conseiller à la sécurité nationale de Biden ?"
FOLLOW_UP = "Avec qui s'est-il entretenu ?"


def test_follow_up_carries_the_previous_topic() -> None:
    query = rewrite(FOLLOW_UP, [FIRST])

    assert query.startswith(FOLLOW_UP)
    assert "Biden" in query
    assert "conseiller" in query


def test_follow_up_without_history_is_unchanged() -> None:
    assert rewrite(FOLLOW_UP, []) == FOLLOW_UP


def test_standalone_question_with_history_is_unchanged() -> None:
    question = "Quel pays a proposé d'accueillir le sommet entre Biden et Poutine ?"

    assert not is_follow_up(question)
    assert rewrite(question, [FIRST]) == question


def test_short_and_conjunction_follow_ups_are_detected() -> None:
    assert is_follow_up("Et Poutine ?")
    assert is_follow_up("And when?")
    assert "conseiller" in rewrite("Et Poutine ?", [FIRST])


def test_topic_is_carried_across_several_follow_ups() -> None:
    query = rewrite("Et quand ?", [FIRST, FOLLOW_UP])

    assert "Biden" in query and "conseiller" in query


def test_ask_with_history_answers_the_follow_up(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask(FOLLOW_UP, history=[FIRST])

    assert not answer.abstained
    assert "Patrouchev" in answer.text
    assert answer.sources[0].file == "002_c1d3609a954ad6a6.txt"
    assert answer.question == FOLLOW_UP
    assert "Biden" in answer.query


def test_new_topic_after_a_conversation_is_not_rewritten() -> None:
    question = "Quel est le prix du pétrole en 2021 ?"  # "en" is not a pronoun here

    assert not is_follow_up(question)
    assert rewrite(question, ["Où Biden et Poutine se sont-ils rencontrés ?"]) == question
