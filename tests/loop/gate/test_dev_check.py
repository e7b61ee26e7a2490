"""Dev's screen is a paired test: one claim moving one place neither sends a candidate nor stops one,
a real gain sends it, and a shown loss on the unseen stratum keeps it back."""

import numpy as np
import pytest
from scipy import stats

from recft.common.errors import ConfigError
from recft.eval.report import Report
from recft.loop.gate.dev_check import DevRule, dev_evidence, dev_reason, dev_strata
from recft.loop.orchestration.loop_settings import shipped_gate

ONE_PLACE = 1 - 1 / np.log2(3)  # nDCG@10 of one relevant document dropping from rank 1 to rank 2


def report(values) -> Report:
    return Report("dev", "dev", {"ndcg@10": {f"q{i}": float(v) for i, v in enumerate(values)}})


def screen(before, after, unseen=None, rule=None):
    ids = {f"q{i}" for i in range(len(before))}
    unseen = ids if unseen is None else {f"q{i}" for i in unseen}
    strata = {"seen": ids - unseen, "unseen": unseen}
    rule = rule or DevRule.for_gate(0.1, 0.005, shipped_gate(n_resamples=2000))
    return dev_evidence(report(before), report(after), strata, "ndcg@10", rule)


def test_strata_split_dev_by_whether_a_judged_document_trained():
    entries = [{"query_id": "a", "qrels": {"d1": 1}}, {"query_id": "b", "qrels": {"d2": 1, "d3": 1}}]
    assert dev_strata(entries, {"d3"}) == {"seen": {"b"}, "unseen": {"a"}}
    assert dev_strata(entries, set()) == {"seen": set(), "unseen": {"a", "b"}}


def test_one_claim_moving_one_place_neither_sends_nor_stops_a_candidate():
    rng = np.random.default_rng(0)
    before = rng.uniform(0.3, 1.0, 60)
    up = before.copy()
    up[0] += ONE_PLACE  # the mean rises by ~0.006, more than the budget: a rule on the mean would send it
    record = screen(before, up)
    assert record["delta"] > 0.005 and not record["send"] and record["p"] > 0.1
    assert "dev does not show the candidate beats the incumbent" in dev_reason(record)
    down = before.copy()
    down[0] -= ONE_PLACE  # a mean loss beyond the 0.005 budget, shown by nothing
    record = screen(before, down)
    assert record["unseen"]["delta"] < -0.005 and record["unseen"]["within_budget"]
    assert record["unseen"]["p_beyond_budget"] > 0.1


def test_a_real_gain_is_sent_and_a_shown_loss_on_the_unseen_stratum_keeps_it_back():
    rng = np.random.default_rng(1)
    before = rng.uniform(0.3, 0.9, 120)
    after = before.copy()
    after[:60] += rng.uniform(0.05, 0.15, 60)  # the seen stratum gains
    record = screen(before, after, unseen=range(60, 120))
    assert record["send"] and record["p"] < 0.01 and record["seen"]["n"] == 60 and record["unseen"]["delta"] == 0
    after[60:] -= rng.uniform(0.02, 0.06, 60)  # the unseen stratum loses ~0.04, beyond the 0.005 budget
    record = screen(before, after, unseen=range(60, 120))
    assert record["beats_incumbent"] and not record["send"] and not record["unseen"]["within_budget"]
    assert "loss beyond the forgetting budget 0.005" in dev_reason(record)
    unbudgeted = DevRule.for_gate(0.1, None, shipped_gate(n_resamples=2000))
    assert screen(before, after, unseen=range(60, 120), rule=unbudgeted)["send"]


def test_the_screen_runs_the_gates_test_pinned_to_scipy():
    rng = np.random.default_rng(2)
    before = rng.uniform(0.2, 1.0, 40)
    after = before + rng.normal(0.02, 0.05, 40)
    record = screen(before, after, rule=DevRule.for_gate(0.1, 0.005, shipped_gate(test="t")))
    deltas = after - before
    assert record["p"] == pytest.approx(stats.ttest_1samp(deltas, 0.0, alternative="greater").pvalue)
    loss = stats.ttest_1samp(deltas, -0.005, alternative="less").pvalue
    assert record["unseen"]["p_beyond_budget"] == pytest.approx(loss)
    assert record["n"] == 40 and record["ci_low"] < record["delta"] < record["ci_high"]


@pytest.mark.parametrize("level, budget, message", [(0.0, 0.005, "dev.level"), (0.5, 0.005, "dev.level"),
                                                    (0.1, -0.01, "dev.unseen_budget")])  # fmt: skip
def test_a_bad_dev_setting_is_refused_in_one_line(level, budget, message):
    with pytest.raises(ConfigError, match=message):
        DevRule.for_gate(level, budget, shipped_gate())
