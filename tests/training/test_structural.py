"""Structural edits on fixed sentences, and the miner that turns them into hard negatives."""

import pytest

from recft.data.pairs import Pair
from recft.training.structural import EDITS, StructuralMiner, antonym, negation, role_swap

from conftest import compose_train


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("Aspirin inhibits platelet aggregation.", "Aspirin does not inhibit platelet aggregation."),
        ("Smoking causes lung cancer.", "Smoking does not cause lung cancer."),
        (
            "Vitamin D supplementation reduced the risk of fractures.",
            "Vitamin D supplementation did not reduce the risk of fractures.",
        ),
        ("Obesity is associated with increased mortality.", "Obesity is not associated with increased mortality."),
        ("The drug does not cause liver damage.", "The drug causes liver damage."),  # removal
        ("Einstein did not enjoy playing the violin.", "Einstein enjoyed playing the violin."),
        (
            "1 in 5 million in UK have abnormal PrP positivity.",
            "1 in 5 million in UK do not have abnormal PrP positivity.",
        ),
        ("The trial wasn't blinded.", "The trial was blinded."),
    ],
)
def test_negation(sentence, expected):
    assert negation(sentence) == expected


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("Aspirin inhibits platelet aggregation.", "Platelet aggregation inhibits aspirin."),
        ("Obesity is associated with increased mortality.", "Increased mortality is associated with obesity."),
        ("The drug does not cause liver damage.", "Liver damage does not cause the drug."),
        ("Einstein taught his mother the violin.", "His mother the violin taught Einstein."),
        ("Smoking causes lung cancer, which kills.", "Lung cancer causes smoking, which kills."),
    ],
)
def test_role_swap(sentence, expected):
    assert role_swap(sentence) == expected


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("Exercise increases insulin sensitivity.", "Exercise decreases insulin sensitivity."),
        ("Higher levels of IL-6 predict poor outcome.", "Lower levels of IL-6 predict poor outcome."),
        ("Statins reduced LDL cholesterol.", "Statins enhanced LDL cholesterol."),
        ("The effect was positive.", "The effect was negative."),
    ],
)
def test_antonym(sentence, expected):
    assert antonym(sentence) == expected


def test_edits_leave_other_sentences_alone_and_refuse_what_they_cannot_edit():
    passage = "Background on the cohort. Aspirin inhibits platelet aggregation. Nothing else."
    assert negation(passage) == "Background on the cohort. Aspirin does not inhibit platelet aggregation. Nothing else."
    assert role_swap("BC1 RNA is able to prime itself.") is None  # a copula has no object to swap
    assert antonym("Cells were counted.") is None
    for edit in EDITS.values():
        assert edit("") is None


def test_miner_never_returns_the_positive_and_is_deterministic():
    pairs = [
        Pair("q1", "does aspirin inhibit aggregation", "d1", "Aspirin inhibits platelet aggregation.", "tiny"),
        Pair("q2", "smoking and cancer", "d2", "Smoking causes lung cancer.", "tiny"),
        Pair("q3", "tables", "d3", "Table 1.", "tiny"),  # no edit applies: no negative
    ]
    miner = StructuralMiner(num_negatives=3)
    negatives = miner.structural_negatives(pairs)
    assert negatives == StructuralMiner(num_negatives=3).structural_negatives(pairs)
    assert [doc_id for doc_id, _ in negatives[("tiny", "q1")]] == ["d1#negation", "d1#role_swap", "d1#antonym"]
    assert negatives[("tiny", "q3")] == []
    for pair in pairs:
        for doc_id, text in negatives[("tiny", pair.query_id)]:
            assert text != pair.passage and doc_id != pair.doc_id
    assert miner.made == {"negation": 2, "role_swap": 2, "antonym": 1}
    rotating = StructuralMiner(num_negatives=1, rotate=True)
    mixed = rotating.structural_negatives(pairs)
    assert [mixed[("tiny", q)][0][0] for q in ("q1", "q2")] == ["d1#negation", "d2#role_swap"]
    with pytest.raises(ValueError, match="unknown structural edit"):
        StructuralMiner(edits=["paraphrase"])


@pytest.mark.parametrize("miner", ["structural", "structural_topk"])
def test_training_with_structural_negatives(tiny_model_dir, tiny_train_beir, tmp_path, miner):
    from recft.training.job import train_job

    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, "adapter.rank=4", f"miner={miner}")
    summary = train_job(cfg, tmp_path)
    assert set(summary["epochs"]) >= {0, 1}
