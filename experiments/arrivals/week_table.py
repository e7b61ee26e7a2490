"""The markdown table of a week run by ``default_week.sh``: one row per run, from its ``days.tsv`` and the
registry's ``history.jsonl`` — the verdict with n, Δ, CI, p and the look's level, where the golden Δ
comes from (the unseen and seen slices), the recipe dev chose, dev's screen and the forgetting probe.

    .venv/bin/python experiments/arrivals/week_table.py outputs/default_week/real
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

HEADER = (
    "| run | exit | wall s | cycle: verdict | pairs trained of so far (sealed / dev queries) | recipe chosen on dev "
    "(dev Δ; epoch, w) | dev screen n: Δ (one-sided p) | golden n (sealed) | Δ nDCG@10 [95 % CI] | p | look: level "
    "| unseen n: Δ [95 % CI] | seen n: Δ | TREC DL Δ |"
)
HEADER_RULE = "| ---: | ---: | ---: | --- | --- | --- | --- | --- | --- | ---: | --- | --- | --- | --- |"


def signed(value: float) -> str:
    return f"{value:+.4f}".replace("-", "−")


def interval(row: dict) -> str:
    return f"{signed(row['delta'])} [{signed(row['ci_low'])}, {signed(row['ci_high'])}]"


def recipes(line: dict) -> str:
    rows = line.get("recipes") or []
    chosen = [r for r in rows if r["chosen"]]
    if not chosen:
        return ""
    pick = chosen[0]
    gain = "–" if pick["dev_gain"] is None else signed(pick["dev_gain"])
    moved = f"; γ {pick['nudge']['gamma']:g}" if pick.get("nudge") else ""  # adapter.nudge's step
    text = f"{pick['recipe']} ({gain}; {pick['kept_epoch']}, {pick['merge_weight']}{moved})"
    others = [f"{r['recipe']} {signed(r['dev_gain'])}" for r in rows if not r["chosen"] and r["dev_gain"] is not None]
    return text + (" over " + ", ".join(others) if others else "")


def screen(line: dict) -> str:
    """Dev's screen (``recft.loop.gate.dev_check``): n, Δ and the one-sided p it was held to; or why none ran."""
    record = (line.get("dev") or {}).get("screen")
    if record is None:
        return "kept the incumbent" if line.get("recipes") else ""
    return f"{record['n']}: {signed(record['delta'])} ({record['p']:.3f})"


def row(day: dict, line: dict | None) -> str:
    head = f"| {day['run']} | {day['exit']} | {day['wall_s']} |"
    if line is None:
        return f"{head} {day['printed'].strip()} | | | | | | | | | | |"
    sealed = line.get("sealed") or {}
    dev = (sealed.get("dev") or {}).get("queries", 0)
    pairs = f"{line['pairs']['trained_on']} of {line['pairs']['total']} ({sealed.get('queries', 0)} / {dev})"
    verdict = f"{line['cycle']}: {line['verdict']}"
    if "golden" not in line:  # SKIPPED: no candidate, no look
        return f"{head} {verdict} | {pairs} | {recipes(line)} | {screen(line)} | | | | | | | |"
    golden, looks, composition = line["golden"], line["looks"], line["golden_set"]
    slices = line.get("slices") or {}
    unseen, seen = slices.get("seen_in_training:unseen", {}), slices.get("seen_in_training:seen", {})
    probe = next((p for p in line["probes"] if p["against"] == "incumbent"), None)
    cells = [
        verdict,
        pairs,
        recipes(line),
        screen(line),
        f"{composition['n']} ({composition['sealed']})",
        interval(golden),
        f"{golden['p']:.3f}",
        f"{looks['look']}: {looks['alpha']:.4f}",
        f"{unseen['n']}: {interval(unseen)}" if unseen.get("n") else "–",
        f"{seen['n']}: {signed(seen['delta'])}" if seen.get("n") else "–",
        signed(probe["delta"]) if probe else "–",
    ]
    return f"{head} {' | '.join(cells)} |"


def table(week: Path) -> str:
    days = list(csv.DictReader(open(week / "days.tsv", encoding="utf-8"), delimiter="\t"))
    history = week / "registry" / "history.jsonl"
    lines = [json.loads(text) for text in history.read_text(encoding="utf-8").splitlines() if text.strip()]
    by_cycle = {line["cycle"]: line for line in lines}
    out = [HEADER, HEADER_RULE]
    for day in days:
        cycle = day["printed"].split(":")[0].removeprefix("cycle ").strip()
        out.append(row(day, by_cycle.get(int(cycle)) if cycle.isdigit() else None))
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("week", type=Path, help="a week's folder written by default_week.sh")
    print(table(parser.parse_args().week))
