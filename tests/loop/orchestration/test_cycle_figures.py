import json

import numpy as np

from recft.loop.gate.verdicts import VERDICTS
from recft.loop.orchestration.cycle_figures import COLORS, cycle_figures, verdict_shares_by_n


def test_small_probes_flip_between_verdicts_large_ones_do_not():
    rng = np.random.default_rng(0)
    deltas = rng.normal(-0.03, 0.08, 640)  # a real but small drop, just past the 0.02 tolerance
    shares = verdict_shares_by_n(deltas, tolerance=0.02, sizes=[20, 40, 640], draws=40)
    assert shares[20]["inconclusive"] > 0.5  # at n=20 the check mostly cannot decide
    assert shares[640]["inconclusive"] + shares[640]["forgetting"] == 1.0
    assert all(abs(sum(s.values()) - 1) < 1e-9 for s in shares.values())


def test_figures_are_drawn_from_history_alone(tmp_path):
    probe = {
        "name": "trecdl",
        "delta": -0.01,
        "ci_low": -0.03,
        "ci_high": 0.01,
        "n": 97,
        "threshold": -0.02,
        "per_query_delta": {f"q{i}": float(v) for i, v in enumerate(np.random.default_rng(1).normal(-0.01, 0.05, 97))},
    }
    golden = {"delta": 0.02, "ci_low": 0.005, "ci_high": 0.035, "n": 300}
    lines = [
        {
            "cycle": c,
            "verdict": v,
            "metric": "mrr@10",
            "candidate_metric": 0.6 + c / 100,
            "incumbent_metric": 0.6,
            "threshold": 0.6,
            "golden": golden,
            "probes": [probe],
        }
        for c, v in ((1, "PROMOTED"), (2, "REJECTED"))
    ]
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    paths = cycle_figures(history, tmp_path / "figures")
    assert sorted(p.name for p in paths) == ["forgetting_vs_n.png", "golden.png", "probes.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_every_verdict_has_its_colour():
    assert set(COLORS) == set(VERDICTS)
