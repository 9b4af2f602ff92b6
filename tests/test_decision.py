"""rag/answer/decision.py: the gate, the answer model read by feature name, and the thresholds
that turn its probability into an answer, an answer "à vérifier", or an abstention.

Hand-made feature rows and tiny models: no index, no embedding model.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from rag.answer.decision import (
    BINARY,
    MODEL_FILE,
    Z_CAP,
    Logistic,
    Scale,
    Thresholds,
    corpus_scale,
    decide,
    gate,
    matrix,
    models,
    probability,
    provenance_warning,
)
from rag.answer.features import ANSWER_FEATURES, SENTENCE_FEATURES
from rag.config import DEFAULT_MODEL

LATE_CHUNKED = 2  # sentence vectors of the packaged model (rag/index/embedding.py sentence_kind)


def typical(**changes: float) -> dict[str, float]:
    """An answerable best sentence: the fitting corpora's mean of every feature, a fact of the
    kind asked for, a question about words the corpus uses."""
    answer = models().answer
    row = dict(zip(answer.features, answer.mean.tolist()))
    return row | {"typed": 1.0, "focus_unknown": 0.0, "english": 0.0} | changes


def tiny(mean: float = 0.0, scale: float = 1.0, **provenance: Any) -> Logistic:
    """logit = (x - mean) / scale over one feature "x"."""
    return Logistic(("x",), np.array([1.0]), 0.0, np.array([mean]), np.array([scale]), provenance)


# --- the gate -------------------------------------------------------------------------------


def test_gate_is_open_for_a_typed_sentence_about_known_words() -> None:
    assert gate(typical()) == ""


def test_gate_closes_when_the_best_sentence_holds_no_fact_of_the_kind_asked() -> None:
    assert "no fact of the kind" in gate(typical(typed=0.0))


def test_gate_closes_when_the_question_asks_about_something_the_corpus_never_names() -> None:
    assert "never names" in gate(typical(focus_unknown=1.0))


@pytest.mark.parametrize("closed", [{"typed": 0.0}, {"focus_unknown": 1.0}])
def test_a_closed_gate_gives_probability_zero_and_abstains(closed: dict[str, float]) -> None:
    features = typical(**closed)
    assert probability(features) > 0  # the model alone would have given it a chance

    decision = decide(features, Thresholds(abstain=0.01, sure=0.6))

    assert decision.probability == 0.0 and decision.abstain and decision.gate
    assert not decision.unsure  # an abstention is never "à vérifier"


def test_nothing_retrieved_abstains() -> None:
    decision = decide(None, Thresholds(0.4, 0.6))
    assert decision.abstain and decision.probability == 0.0 and decision.gate == "nothing retrieved"


@pytest.mark.parametrize("features", [None, typical(typed=0.0), typical(focus_unknown=1.0)])
def test_a_closed_gate_abstains_even_at_abstain_threshold_zero(
    features: dict[str, float] | None,
) -> None:
    decision = decide(features, Thresholds(abstain=0.0, sure=0.0))
    assert decision.abstain and not decision.unsure


# --- the thresholds -------------------------------------------------------------------------


def test_open_gate_decision_carries_the_models_probability() -> None:
    features = typical()
    decision = decide(features, Thresholds(0.4, 0.6))
    assert decision.gate == "" and decision.probability == pytest.approx(probability(features))


def test_probability_below_the_abstain_threshold_abstains() -> None:
    p = probability(typical())

    decision = decide(typical(), Thresholds(abstain=p + 0.01, sure=p + 0.02))

    assert decision.abstain and not decision.unsure


def test_probability_between_the_thresholds_answers_marked_unsure() -> None:
    p = probability(typical())

    decision = decide(typical(), Thresholds(abstain=p - 0.01, sure=p + 0.01))

    assert not decision.abstain and decision.below_sure and decision.unsure


def test_probability_above_the_sure_threshold_answers_plainly() -> None:
    p = probability(typical())

    decision = decide(typical(), Thresholds(abstain=p - 0.02, sure=p - 0.01))

    assert not decision.abstain and not decision.unsure


def test_sure_threshold_zero_never_marks_an_answer_unsure() -> None:
    for features in (typical(), typical(logit=-50.0, margin=-50.0), typical(logit=50.0)):
        decision = decide(features, Thresholds(abstain=0.0, sure=0.0))
        assert not decision.abstain and not decision.unsure, features


# --- features are read by name --------------------------------------------------------------


def test_features_are_read_by_name_not_by_position() -> None:
    features = typical()
    shuffled = dict(reversed(list(features.items())))
    assert list(shuffled) != list(features)

    assert probability(shuffled) == probability(features)


def test_a_missing_feature_is_a_key_error_naming_it() -> None:
    features = typical()
    del features["margin"]

    with pytest.raises(KeyError, match="margin"):
        probability(features)


def test_matrix_orders_columns_by_the_names_given() -> None:
    assert matrix([{"a": 1, "b": 2}], ("b", "a")).tolist() == [[2.0, 1.0]]


def test_from_dict_accepts_the_files_features_in_any_order() -> None:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))["answer"]
    order = list(reversed(range(len(data["features"]))))
    permuted = {
        **data,
        **{key: [data[key][i] for i in order] for key in ("features", "weights", "mean", "scale")},
    }

    model = Logistic.from_dict(permuted, ANSWER_FEATURES)

    assert model.features != ANSWER_FEATURES
    assert model.probability([typical()])[0] == pytest.approx(probability(typical()))


@pytest.mark.parametrize(
    "features",
    [
        ("renamed", *ANSWER_FEATURES[1:]),  # one feature the code does not compute
        ANSWER_FEATURES[:-1],  # one feature the code computes is missing
    ],
)
def test_from_dict_refuses_a_file_fitted_on_other_features(features: tuple[str, ...]) -> None:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))["answer"]
    n = len(features)
    other = {**data, "features": list(features)}
    other |= {k: data[k][:n] for k in ("weights", "mean", "scale")}

    with pytest.raises(ValueError, match="evals.fit"):
        Logistic.from_dict(other, ANSWER_FEATURES)


# --- the model's arithmetic -----------------------------------------------------------------


def test_a_feature_within_range_counts_as_its_standard_score() -> None:
    assert tiny(mean=1.0, scale=2.0).logit([{"x": 4.0}])[0] == pytest.approx(1.5)


@pytest.mark.parametrize("value", [1e6, -1e6])
def test_an_absurd_feature_value_counts_as_z_cap_standard_deviations(value: float) -> None:
    assert tiny().logit([{"x": value}])[0] == pytest.approx(np.sign(value) * Z_CAP)


def test_rescaled_takes_the_new_mean_and_scale_by_feature_name() -> None:
    model = Logistic(
        ("a", "b"), np.array([1.0, 1.0]), 0.0, np.array([0.0, 0.0]), np.array([1.0, 1.0])
    )
    scale = Scale(mean={"b": 20.0, "a": 10.0}, scale={"b": 4.0, "a": 2.0})

    moved = model.rescaled(scale)

    assert moved.mean.tolist() == [10.0, 20.0] and moved.scale.tolist() == [2.0, 4.0]
    assert moved.logit([{"a": 12.0, "b": 24.0}])[0] == pytest.approx(1.0 + 1.0)
    assert moved.weights is model.weights and moved.bias == model.bias


def test_an_index_scale_switches_to_the_own_scale_model() -> None:
    fitted = models()
    scale = fitted.default_scale()

    assert probability(typical(), scale) == pytest.approx(
        fitted.answer_own_scale.probability([typical()])[0]
    )


# --- a corpus's own scale -------------------------------------------------------------------


def test_corpus_scale_keeps_binary_features_on_the_default_scale() -> None:
    default = models().default_scale()
    rows = [typical(typed=0.0, english=1.0), typical(typed=1.0, english=0.0)]

    own = corpus_scale(rows, default)

    for name in BINARY:
        assert own.mean[name] == default.mean[name] and own.scale[name] == default.scale[name]


def test_corpus_scale_measures_the_other_features_on_the_rows() -> None:
    default = models().default_scale()
    rows = [typical(logit=1.0, margin=0.0), typical(logit=3.0, margin=4.0)]

    own = corpus_scale(rows, default)

    assert (own.mean["logit"], own.scale["logit"]) == (2.0, 1.0)  # population std
    assert (own.mean["margin"], own.scale["margin"]) == (2.0, 2.0)


def test_corpus_scale_keeps_the_default_of_a_feature_that_never_varies() -> None:
    default = models().default_scale()
    rows = [typical(logit=1.0, cosine=0.5), typical(logit=3.0, cosine=0.5)]

    own = corpus_scale(rows, default)

    assert own.scale["cosine"] == default.scale["cosine"]  # never a division by zero
    assert set(own.mean) == set(own.scale) == set(ANSWER_FEATURES)


# --- provenance -----------------------------------------------------------------------------


def test_every_shipped_model_says_what_made_it() -> None:
    fitted = models()
    for model, names in (
        (fitted.sentence, SENTENCE_FEATURES),
        (fitted.answer, ANSWER_FEATURES),
        (fitted.answer_own_scale, ANSWER_FEATURES),
    ):
        made = model.provenance or {}
        assert set(model.features) == set(names)
        assert {"embed_model", "sentence_vectors", "date", "commit"} <= set(made), made
        assert made["embed_model"] == DEFAULT_MODEL
        assert made["sentence_vectors"] == LATE_CHUNKED
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", made["date"]), made["date"]
        assert re.fullmatch(r"[0-9a-f]{7,40}", made["commit"]), made["commit"]


def test_no_warning_for_an_index_made_like_the_fitting_data() -> None:
    assert provenance_warning(DEFAULT_MODEL, LATE_CHUNKED) == ""


@pytest.mark.parametrize(
    ("embed_model", "kind"), [("bge-m3", LATE_CHUNKED), (DEFAULT_MODEL, 1), ("bge-m3", 1)]
)
def test_one_line_warning_for_an_index_made_otherwise(embed_model: str, kind: int) -> None:
    warning = provenance_warning(embed_model, kind)

    assert warning.startswith("warning: ") and "\n" not in warning
    assert f"this index has {embed_model} and kind {kind}" in warning
    assert "rag calibrate" in warning
