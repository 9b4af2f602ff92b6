"""Conversations: turn a follow-up question into a query that stands on its own.

Without an LLM, a follow-up ("Avec qui s'est-il entretenu ?") borrows the topic words of the
previous turn (``rewrite``); in LLM mode the LLM may rewrite it (``rewrite_with``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag.errors import LLMUnavailable
from rag.text import fold, language, tokenize

if TYPE_CHECKING:
    from rag.answer.llm import LLM

# Words that point back at the previous turn. Not "en", "y", "ce", "this": they are as often
# plain words ("en 2021", "ce jeudi") as pronouns, and a question that has them may stand alone.
_PRONOUNS = set(
    "il elle ils elles lui eux leur leurs son sa ses celui celle ceux celles cela ca "
    "he she they him her his hers their theirs them".split()
)
_STARTS = ("et ", "and ", "puis ", "alors ")
_WORD = re.compile(r"[\w'’-]+")
MAX_CARRIED = 12
MAX_REWRITE_CHARS = 300
ASK_REWRITE = {
    "fr": "Questions précédentes :\n{history}\nDernière question : {question}\n\nRéécris la "
    "dernière question pour qu'elle se comprenne seule, en français, sans y répondre. "
    "Écris seulement la question réécrite.",
    "en": "Previous questions:\n{history}\nLast question: {question}\n\nRewrite the last "
    "question so that it stands alone, in English, without answering it. Write only the "
    "rewritten question.",
}


def rewrite(question: str, history: list[str]) -> str:
    """The question, plus the previous turns' topic words when it is a follow-up.

    Example: ("Avec qui s'est-il entretenu ?", ["Qui est le conseiller de Biden ?"])
             -> "Avec qui s'est-il entretenu ? (conseiller Biden)"
    """
    if not history or not is_follow_up(question):
        return question
    previous = rewrite(history[-1], history[:-1])
    own = set(tokenize(question))
    carried: list[str] = []
    for word in _WORD.findall(previous.replace("(", " ").replace(")", " ")):
        stems = tokenize(word)
        if stems and not own.intersection(stems) and word not in carried:
            carried.append(word)
    if not carried:
        return question
    return f"{question} ({' '.join(carried[-MAX_CARRIED:])})"


def is_follow_up(question: str) -> bool:
    """Questions that start with "et"/"and", use a pronoun, or are two words long lean on the
    previous turn. Example: "Quel est le prix du pétrole en 2021 ?" -> False"""
    folded = fold(question).strip()
    words = set(re.findall(r"[a-z]+", folded.replace("'", " ")))
    return folded.startswith(_STARTS) or bool(words & _PRONOUNS) or len(tokenize(question)) <= 2


def rewrite_with(llm: LLM, question: str, history: list[str]) -> str:
    """A follow-up made to stand alone by the LLM, in the question's language.

    Kept only when it names something of the previous turns that the question does not (the
    reference was resolved) and stays short; otherwise, or when the LLM fails, ``rewrite``'s.
    """
    plain = rewrite(question, history)
    if not history or not is_follow_up(question):
        return plain
    asked = ASK_REWRITE[language(question)].format(
        history="\n".join(f"- {turn}" for turn in history[-3:]), question=question
    )
    try:
        lines = "".join(llm.stream([("user", asked)])).strip().splitlines()
    except LLMUnavailable:
        return plain
    written = " ".join(lines[0].strip(" \"'«»").split()) if lines else ""
    resolved = set(tokenize(written)) & (set(tokenize(" ".join(history))) - set(tokenize(question)))
    return written if resolved and len(written) <= MAX_REWRITE_CHARS else plain
