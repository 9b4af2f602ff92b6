"""rag/reader/train.py on a tiny slice: it trains, checkpoints, resumes, and writes weights and
a model card that a Reader loads. (The shipped weights come from a full run: `make reader`.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag.reader.data import pairs, split_of
from rag.reader.evaluate import auc
from rag.reader.train import DATA, FILES

pytestmark = pytest.mark.slow  # loads the encoder and runs its lower layers: ~30 s


def test_the_training_script_runs_resumes_and_writes_a_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = [sys.executable, "-m", "rag.reader.train", "--limit", "24", "--epochs", "1"]
    command += ["--work", str(tmp_path / "work"), "--out", str(tmp_path / "w.pt")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / "work" / "checkpoint.pt").exists()
    card = (tmp_path / "CARD.md").read_text(encoding="utf-8")
    fields = ("piaf_sentence_accuracy", "squad_auc_answerable", "settings", "data", "commit")
    for field in (*fields, "piaf_span_f1", "squad_span_exact"):
        assert field in card
    seconds = _train_seconds(tmp_path / "CARD.md")
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "resumed at step" in again.stderr, again.stderr[-2000:]
    # nothing was left to train: the card keeps the first run's training time, not the resume's
    assert seconds <= _train_seconds(tmp_path / "CARD.md") <= seconds + 1

    from rag.reader.model import Reader
    from rag.reader.model import card as card_of

    reader = Reader.load(tmp_path / "w.pt")
    logits = reader.logits("Qui est le porte-parole du Kremlin ?", [("Dmitri Peskov l'a dit.", "")])
    assert len(logits) == 1 and card_of(tmp_path / "w.pt")["trained"].startswith("steps ")
    sentence = "Dmitri Peskov l'a dit."
    monkeypatch.setattr("rag.reader.model.SPAN_MIN", 0.0)  # a few steps make no sure phrase
    span = reader.answer_span("Qui est le porte-parole du Kremlin ?", sentence, "")
    assert span is not None and 0 <= span[0] < span[1] <= len(sentence)


def test_a_span_head_try_leaves_the_shipped_weights_alone(tmp_path: Path) -> None:
    from rag.reader.model import WEIGHTS

    before = WEIGHTS.read_bytes()
    command = [sys.executable, "-m", "rag.reader.train", "--span-only", "--limit", "8"]
    command += ["--span-layers", "1", "--span-epochs", "1", "--work", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    tried = tmp_path / "weights-span-1x1-0.0002.pt"
    assert tried.exists() and "piaf_span_f1" in (tmp_path / "CARD.md").read_text("utf-8")
    assert WEIGHTS.read_bytes() == before


def _train_seconds(card: Path) -> int:
    line = next(x for x in card.read_text(encoding="utf-8").splitlines() if "train_seconds" in x)
    return int(line.rsplit(" ", 1)[1])


def test_held_out_articles_never_reach_training() -> None:
    for name in FILES:
        train = {p.group for p in pairs(DATA / name, "train")}
        test = {p.group for p in pairs(DATA / name, "test")}
        assert train and test and not train & test
    assert split_of("Normans") == split_of("Normans")  # by title, the same at every run


def test_the_best_span_is_the_best_start_and_end_in_order_and_in_the_sentence() -> None:
    import torch

    from rag.reader.model import MAX_SPAN, best_span

    logits = torch.zeros(40, 2)
    logits[3, 0], logits[5, 1] = 5.0, 4.0  # start at 3, end at 5
    logits[8, 0] = 9.0  # a better start, outside the sentence
    logits[9, 1] = 9.0
    first, last, probability = best_span(logits, list(range(1, 8)))
    assert (first, last) == (3, 5) and 0.5 < probability < 1
    logits[1, 0], logits[1 + MAX_SPAN, 1] = 50.0, 50.0  # too long apart
    assert best_span(logits, list(range(1, 40)))[:2] != (1, 1 + MAX_SPAN)


def test_a_phrase_is_widened_to_whole_words() -> None:
    from rag.reader.model import whole_words

    text = "Le conseiller, Jake Sullivan, a parlé."
    assert whole_words(text, text.index("e Sull"), text.index("Sulliv") + 6) == (15, 28)
    assert text[slice(*whole_words(text, 3, 5))] == "conseiller"


def test_word_f1_is_squads() -> None:
    from rag.reader.span import word_f1

    assert word_f1("le 14 juillet 1789", "14 juillet") == 0.8
    assert word_f1("Peskov.", "peskov") == 1.0 and word_f1("Biden", "Poutine") == 0.0


def test_auc() -> None:
    assert auc([0.9, 0.1], [True, False]) == 1.0
    assert auc([0.1, 0.9], [True, False]) == 0.0
    assert auc([0.5, 0.5], [True, False]) == 0.5


def test_the_answerable_loss_pushes_down_the_best_sentence_of_an_impossible_question() -> None:
    import torch

    from rag.reader.data import Pair
    from rag.reader.train import loss

    def group(name: str, labels: list[int]) -> list[Pair]:
        return [Pair("q", f"s{i}", "", label, name) for i, label in enumerate(labels)]

    groups = [group("answerable", [1, 0]), group("impossible", [0, 0])]
    logits = torch.tensor([2.0, -2.0, 2.0, -2.0], requires_grad=True)
    plain = loss(logits, groups, listwise=1.0)
    both = loss(logits, groups, listwise=1.0, answerable=1.0)
    both.backward()
    assert logits.grad is not None
    assert both > plain  # the impossible question's best sentence looks like an answer
    assert logits.grad[2] > logits.grad[3] > 0  # its best sentence is pushed down the most


def test_blending_moves_only_the_trained_top_layers_back_toward_e5s() -> None:
    import torch

    from rag.reader.base import load_encoder
    from rag.reader.model import Reader
    from rag.reader.train import blend

    reader = Reader(load_encoder(), top=2)
    pretrained = reader.encoder.layers[-1].fi.weight.clone()
    lower = reader.encoder.layers[0].fi.weight.clone()
    with torch.no_grad():
        reader.encoder.layers[-1].fi.weight.add_(1.0)  # as if training had moved it
        reader.head.weight.fill_(0.5)
    blend(reader, 0.75)
    assert torch.allclose(reader.encoder.layers[-1].fi.weight, pretrained + 0.75, atol=1e-5)
    assert torch.equal(reader.encoder.layers[0].fi.weight, lower)  # frozen: never trained
    assert torch.all(reader.head.weight == 0.5)  # the head is kept as trained
