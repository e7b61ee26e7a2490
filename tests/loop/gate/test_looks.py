"""The levels of looks on a loop's ledger: the reference sequences, the series sums to α, the fingerprint is content."""

import dataclasses
import math

import pytest

from recft.data.sources import SourceSpec, load_source
from recft.loop.gate.looks import SpendingError, alpha_for_look, alpha_spent, golden_fingerprint, golden_sample, levels

from conftest import DATA


def test_pi2_spending_sums_to_alpha_and_never_exceeds_it():
    assert alpha_for_look(1, 0.025, "pi2") == pytest.approx(0.025 * 6 / math.pi**2)
    assert alpha_spent(10, 0.025, "pi2") < alpha_spent(10_000, 0.025, "pi2") < 0.025
    assert alpha_spent(10_000, 0.025, "pi2") == pytest.approx(0.025, rel=1e-3)
    assert alpha_for_look(7, 0.025, "none") == 0.025 and alpha_spent(10, 0.025, "none") == pytest.approx(0.25)
    with pytest.raises(SpendingError, match="must be one of fallback, pi2, lond, none"):
        alpha_for_look(1, 0.025, "obrien")


def test_the_fallback_procedure_reproduces_the_reference_sequence():
    """Tian & Ramdas's fallback: α·γ_t, plus the previous level when the previous look rejected."""
    p = [0.3, 0.001, 0.4, 0.5, 0.003, 0.2, 0.6, 0.01]
    expected = [0.015198, 0.003800, 0.005488, 0.000950, 0.000608, 0.000422, 0.000310, 0.000237]
    assert levels(0.025, "fallback", p) == pytest.approx(expected, abs=5e-7)
    assert levels(0.025, "fallback", [0.3, 0.4])[1] == pytest.approx(alpha_for_look(2, 0.025, "pi2"))


def test_lond_multiplies_by_discoveries_and_pi2_never_recycles():
    p = [0.001, 0.5, 0.5]
    lond, pi2 = levels(0.025, "lond", p), levels(0.025, "pi2", p)
    assert lond[1] == pytest.approx(2 * 0.025 * 6 / (math.pi**2 * 4))  # one discovery before look 2
    assert pi2 == pytest.approx([alpha_for_look(k, 0.025, "pi2") for k in (1, 2, 3)])
    assert levels(0.025, "none", p) == [0.025] * 3


def test_the_golden_fingerprint_follows_content_not_location(tmp_path):
    spec = SourceSpec(name="cranfield", path=str(DATA / "cranfield"))
    fingerprint = golden_fingerprint(load_source(spec, 42))
    renamed = dataclasses.replace(spec, name="other-name")
    assert golden_fingerprint(load_source(renamed, 42)) == fingerprint
    strict = dataclasses.replace(spec, min_relevance=2)
    assert golden_fingerprint(load_source(strict, 42)) != fingerprint
    sample = dataclasses.replace(spec, corpus_sample=600)  # other documents, the same queries: still the same looks
    assert golden_fingerprint(load_source(sample, 42)) == fingerprint


def test_golden_refresh_draws_disjoint_seeded_samples_until_the_pool_is_used_up():
    pool = [f"q{i}" for i in range(10)]
    samples = [golden_sample(pool, 3, index, seed=42) for index in range(3)]
    assert all(len(s) == 3 for s in samples) and len(set().union(*samples)) == 9  # disjoint
    assert golden_sample(pool, 3, 1, seed=42) == samples[1] and golden_sample(pool, 3, 1, seed=7) != samples[1]
    with pytest.raises(SpendingError, match="gives 3 fresh samples, all used; decision 4 needs a larger pool"):
        golden_sample(pool, 3, 3, seed=42)


def test_a_registry_made_before_the_ledger_keeps_its_looks_and_its_metric(tmp_path):
    """Looks recorded per golden fingerprint, without a metric column, all count on the one ledger; their
    metric comes from the history, and a lineage that has looked cannot switch metric."""
    import sqlite3

    from recft.loop.gate.looks import check_ledger_metric
    from recft.loop.storage.registry import Registry

    db = sqlite3.connect(tmp_path / "registry.sqlite")
    db.executescript(
        "CREATE TABLE looks (seq INTEGER PRIMARY KEY AUTOINCREMENT, golden TEXT NOT NULL, version TEXT, "
        "at TEXT NOT NULL, alpha REAL NOT NULL, p REAL, sd REAL, verdict TEXT NOT NULL);"
        "INSERT INTO looks (golden, version, at, alpha, p, sd, verdict) VALUES "
        "('fp-a', 'v0002-cycle1', 't', 0.0152, 0.07, 0.1, 'INCONCLUSIVE'), "
        "('fp-b', 'v0003-cycle2', 't', 0.0038, 0.2, 0.1, 'INCONCLUSIVE');"
    )
    db.commit()
    db.close()
    registry = Registry(tmp_path)
    looks = registry.looks()
    assert [look["golden"] for look in looks] == ["fp-a", "fp-b"] and looks[0]["metric"] is None
    history = [{"candidate": "v0002-cycle1", "metric": "mrr@10"}]
    check_ledger_metric("mrr@10", looks, history)  # the metric it has always used: fine
    with pytest.raises(SpendingError, match=r"gate.metric=ndcg@10, but this loop's ledger has decided on mrr@10"):
        check_ledger_metric("ndcg@10", looks, history)
    assert registry.record_look("fp-c", None, 0.0017, 0.5, 0.1, "INCONCLUSIVE", "mrr@10") == 3


@pytest.mark.parametrize(
    "override, term",
    [
        ({"alpha_spending": "none"}, "alpha_spending"),
        ({"test": "t"}, "test"),
        ({"margin": 0.005}, "margin"),
        ({"forgetting_tolerance": 0.05}, "forgetting_tolerance"),
        ({"slice_tolerance": 0.05}, "slice_tolerance"),
        ({"slices": ()}, "slices"),
        ({"slices_against": ("incumbent",)}, "slices_against"),
        ({"confidence": 0.9}, "alpha"),
        ({"metric": "mrr@10"}, "metric"),
    ],
)
def test_the_ledgers_terms_are_fixed_at_its_first_look(tmp_path, override, term):
    """Every term a look is held to is written with the first look, in its transaction, and another value
    is refused in one line naming the old term and a new registry.root. (Before, only the metric was
    checked: the kill test itself switched gate.alpha_spending between looks of one registry.)"""
    from recft.loop.gate.looks import check_ledger_terms, ledger_terms
    from recft.loop.orchestration.loop_settings import shipped_gate
    from recft.loop.storage.registry import Registry

    registry = Registry(tmp_path)
    gate = shipped_gate(probe_metric=None, slices=("seen_in_training:unseen",))
    assert registry.ledger_terms() == {}
    check_ledger_terms(gate, registry.ledger_terms(), 0)  # nothing fixed before the first look
    registry.record_look("fp", None, 0.0152, 0.5, 0.1, "INCONCLUSIVE", gate.metric, ledger_terms(gate))
    registry.record_look("fp", None, 0.0038, 0.5, 0.1, "INCONCLUSIVE", gate.metric, {"test": "t"})  # ignored
    assert registry.ledger_terms() == ledger_terms(gate)
    check_ledger_terms(gate, registry.ledger_terms(), 2)
    changed = shipped_gate(
        probe_metric=None, **{"slices": ("seen_in_training:unseen",), **override}
    )  # a tuple here, a list stored
    with pytest.raises(SpendingError, match=rf"ledger has held every look to {term}=.*another registry.root$"):
        check_ledger_terms(changed, registry.ledger_terms(), 2)
