"""``recft manage power``: queries needed per gate metric and probe, σ pooled over the history."""

import json

import numpy as np
import pytest

from recft.eval.paired_tests import queries_needed
from recft.loop.gate.power import power_rows
from recft.loop.storage.registry import Registry
from recft.manage import main

LINES = [
    {
        "cycle": k,
        "metric": "mrr@10",
        "golden": {"n": 300, "sd": sd, "delta": 0.01, "effect_size": 0.01 / sd},
        "looks": {"look": k},
        "probes": [
            {
                "name": "trecdl",
                "metric": "ndcg@10",
                "against": "incumbent",
                "n": 97,
                "delta": -0.01,
                "effect_size": -0.01 / 0.035,
            }
        ],
    }
    for k, sd in ((1, 0.12), (2, 0.16))
]


def test_sigma_is_pooled_over_cycles_and_the_golden_set_is_sized_for_its_next_look():
    golden, probe = power_rows(LINES, mde=0.01, power=0.8)
    pooled = np.sqrt((0.12**2 + 0.16**2) / 2)
    assert golden["sd"] == pytest.approx(pooled) and golden["alpha"] == pytest.approx(0.025 * 6 / (np.pi**2 * 9))
    assert golden["needed"] == queries_needed(pooled, 0.01, golden["alpha"], 0.8)
    assert probe["set"] == "probe trecdl ndcg@10" and probe["sd"] == pytest.approx(0.035)  # from d_z alone
    assert probe["needed"] == queries_needed(0.035, 0.01, 0.025, 0.8) and probe["n"] == 97
    assert power_rows([], 0.01, 0.8) == []


def test_a_protected_slice_is_named_as_the_gate_names_it():
    slice_check = {"name": "seen_in_training:unseen", "metric": "mrr@10", "against": "slice", "n": 120, "sd": 0.1}
    lines = [{**line, "probes": [*line["probes"], {**slice_check, "delta": 0.0}]} for line in LINES]
    labels = [row["set"] for row in power_rows(lines, mde=0.01, power=0.8)]
    assert labels == ["golden mrr@10", "probe trecdl ndcg@10", "golden slice seen_in_training:unseen mrr@10"]


def test_manage_power_prints_needed_against_available(tmp_path, capsys):
    Registry(tmp_path)  # a registry (recft manage refuses a folder without one)
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in LINES))
    assert main(["--registry", str(tmp_path), "power", "--mde", "0.02"]) == 0
    out = capsys.readouterr().out
    needed = queries_needed(np.sqrt((0.12**2 + 0.16**2) / 2), 0.02, 0.025 * 6 / (np.pi**2 * 9), 0.8)
    assert "golden mrr@10" in out and str(needed) in out and "Δ = 0.02" in out
    empty = Registry(tmp_path / "empty").root  # a registry with no decided cycle: nothing to size from
    assert main(["--registry", str(empty), "power"]) == 2
    assert main(["--registry", str(tmp_path / "nowhere"), "power"]) == 2 and not (tmp_path / "nowhere").exists()


def test_dev_is_sized_for_its_screen_even_when_every_cycle_was_skipped():
    """Dev's screen (``recft.loop.gate.dev_check``) runs at ``dev.level``: how many dev queries it needs for the
    stated power, from every screened cycle's sd, SKIPPED ones included — beside how many dev holds."""
    screen = lambda n, sd: {"n": n, "sd": sd, "level": 0.1, "metric": "ndcg@10",  # noqa: E731
                            "unseen": {"n": n // 2, "sd": sd * 2}}  # fmt: skip
    lines = [{"cycle": 1, "verdict": "SKIPPED", "dev": {"screen": screen(60, 0.1)}},
             {"cycle": 2, "verdict": "SKIPPED", "dev": {"screen": screen(70, 0.2)}}]  # fmt: skip
    whole, unseen = power_rows(lines, mde=0.02, power=0.8)
    pooled = np.sqrt((0.1**2 + 0.2**2) / 2)
    assert whole["set"] == "dev ndcg@10 (screen)" and whole["n"] == 70 and whole["alpha"] == 0.1
    assert whole["needed"] == queries_needed(pooled, 0.02, 0.1, 0.8) and whole["sd"] == pytest.approx(pooled)
    assert unseen["set"] == "dev ndcg@10 unseen stratum" and unseen["n"] == 35
    assert unseen["sd"] == pytest.approx(2 * pooled)
