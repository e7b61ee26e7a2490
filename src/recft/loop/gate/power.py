"""How many queries the golden set and each probe need, against how many they have.

σ is the sd of per-query deltas, pooled over every cycle in ``history.jsonl``; the golden set is
sized for its *next* look (a smaller α than the last: see ``recft.loop.gate.looks``), a probe for the
plain α. ``recft manage power --mde 0.01`` prints it.

Which golden metric carries the most signal per query is a question for stored reports, asked once,
before a loop's first look: ``recft manage power --metrics`` pairs each decision's incumbent and
candidate golden reports (or ``--reports BASE CAND…``) and prints, per metric, the effective-n
multiplier (t_metric / t_current)² — how many times more queries the current gate metric would need
to see what that metric sees. It says nothing about which metric favours a candidate.
"""

from __future__ import annotations

import numpy as np

from recft.common.errors import ConfigError
from recft.eval.paired_tests import queries_needed
from recft.loop.gate.looks import alpha_for_look
from recft.loop.gate.promotion import check_label


def _sd(row: dict) -> float | None:
    """A check's per-query sd; older history lines have only Δ and d_z (= Δ / sd)."""
    if row.get("sd") is not None:
        return row["sd"]
    dz = row.get("effect_size")
    return abs(row["delta"] / dz) if dz not in (None, 0) and np.isfinite(dz) else None


def _pooled(sds: list[float]) -> float:
    sds = [s for s in sds if s is not None and np.isfinite(s)]
    return float(np.sqrt(np.mean(np.square(sds)))) if sds else float("nan")


def power_rows(lines: list[dict], mde: float, power: float, alpha: float = 0.025, rule: str = "pi2") -> list[dict]:
    """One row for the golden metric and one per probe check (against the incumbent, and the base), then
    the dev split's screen and its unseen stratum (``recft.loop.gate.dev_check``) at the screen's level."""
    return [*_gate_rows(lines, mde, power, alpha, rule), *_dev_rows(lines, mde, power)]


def _dev_rows(lines: list[dict], mde: float, power: float) -> list[dict]:
    """Dev screens a candidate at ``dev.level``: how many dev queries that test needs, and its strata."""
    screens = [ln["dev"]["screen"] for ln in lines if (ln.get("dev") or {}).get("screen", {}).get("n")]
    if not screens:
        return []
    last, level = screens[-1], screens[-1]["level"]
    rows = [_row(f"dev {last['metric']} (screen)", [s.get("sd") for s in screens], last["n"], mde, power, level)]
    unseen = [s["unseen"] for s in screens if s["unseen"].get("n")]
    if unseen:
        label = f"dev {last['metric']} unseen stratum"
        rows.append(_row(label, [u.get("sd") for u in unseen], unseen[-1]["n"], mde, power, level))
    return rows


def _gate_rows(lines: list[dict], mde: float, power: float, alpha: float, rule: str) -> list[dict]:
    decided = [ln for ln in lines if ln.get("golden")]
    if not decided:
        return []
    last = decided[-1]
    looks = (last.get("looks") or {}).get("look", len(decided))
    next_alpha = alpha_for_look(looks + 1, alpha, rule)
    golden_sds = [_sd(ln["golden"]) for ln in decided]
    rows = [_row(f"golden {last['metric']}", golden_sds, last["golden"]["n"], mde, power, next_alpha)]
    checks: dict[tuple[str, str, str], list[dict]] = {}
    for ln in decided:
        for probe in ln.get("probes", []):
            checks.setdefault((probe["name"], probe["metric"], probe.get("against", "incumbent")), []).append(probe)
    for (name, metric, against), seen in checks.items():
        rows.append(_row(check_label(name, metric, against), [_sd(p) for p in seen], seen[-1]["n"], mde, power, alpha))
    return rows


def _row(label: str, sds: list, n: int, mde: float, power: float, alpha: float) -> dict:
    sd = _pooled(sds)
    return {
        "set": label,
        "sd": sd,
        "cycles": len(sds),
        "alpha": alpha,
        "n": n,
        "needed": queries_needed(sd, mde, alpha, power),
    }


def paired_t(a: dict, b: dict) -> float:
    """The paired t statistic of b − a over the queries both vectors hold."""
    from recft.eval.stats import paired_arrays

    _, x, y = paired_arrays(a, b)
    d = y - x
    sd = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
    return float(np.mean(d) / sd * np.sqrt(d.size)) if sd > 0 else 0.0


def metric_multipliers(pairs: list[tuple], current: str) -> list[dict]:
    """Per metric of the reports, over (reference, candidate) report pairs: each pair's (t_metric / t_current)²,
    their median, and the pooled Σt_metric² / Σt_current² (a pair with no signal on either adds nothing)."""
    metrics = sorted(set.intersection(*(set(a.per_query) & set(b.per_query) for a, b in pairs)))
    if current not in metrics:
        have = ", ".join(metrics)
        raise ConfigError(f"--current {current}: the reports have no per-query {current} (they have {have})")
    base = [paired_t(a.per_query[current], b.per_query[current]) for a, b in pairs]
    rows = []
    for metric in metrics:
        t = [paired_t(a.per_query[metric], b.per_query[metric]) for a, b in pairs]
        ratios = [(tm / tc) ** 2 for tm, tc in zip(t, base) if tc != 0]
        pooled = sum(x * x for x in t) / sum(x * x for x in base) if any(base) else float("nan")
        rows.append({
            "metric": metric,
            "pairs": len(pairs),
            "median": float(np.median(ratios)) if ratios else float("nan"),
            "pooled": pooled,
            "mean_t": float(np.mean(t)),
        })  # fmt: skip
    return sorted(rows, key=lambda row: -row["pooled"])
