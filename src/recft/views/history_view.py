"""``recft manage history``: one row per cycle of ``history.jsonl`` — its verdict, Δ with its CI, p, n, the
look and level it was held to, the probes, and what it cost."""

from __future__ import annotations

from rich.table import Table


def _probe_cell(probe: dict) -> str:
    against = probe.get("against", "incumbent")
    where = {"incumbent": "", "base": " vs base", "slice": " (golden slice)"}.get(against, " (golden slice) vs base")
    return f"{probe['name']}{where} {probe['delta']:+.4f} [{probe['ci_low']:+.3f}, {probe['ci_high']:+.3f}]"


def _looks_cell(looks: dict | None) -> str:
    """``look k: α_k (left)`` — how much of the golden set's error rate this decision had, and what remains."""
    if not looks:
        return "–"
    left = f", {looks['alpha_left']:.4f} left" if looks.get("alpha_left") is not None else ""
    return f"{looks['look']}: α {looks['alpha']:.4f}{left}"


def _n_cell(golden: dict | None, held: dict | None) -> str:
    """``n (k sealed)``: the queries a decision used and how many of them were sealed arrivals (the
    ``seen_in_training`` count is in the history line)."""
    if not golden:
        return "–"
    return f"{golden['n']} ({held['sealed']} sealed)" if held and held.get("sealed") else str(golden["n"])


def _corpus_cell(line: dict) -> str:
    """``documents (+added) re-embedded share`` — the corpus of record and what the serving index re-ingested."""
    corpus, coverage = line.get("corpus"), line.get("coverage")
    cell = f"{corpus['documents']} (+{corpus['added']})" if corpus else ""
    if coverage and "share" in coverage:
        cell += f" {coverage['share']:.1%} re-emb."
    return cell.strip() or "–"


def history_table(lines: list[dict]) -> Table:
    table = Table(title="recft cycles")
    columns = ("cycle", "date", "pairs new/total", "incumbent", "candidate", "metric", "Δ [95% CI]", "p", "n")
    grows = any(ln.get("corpus") for ln in lines)  # arrivals with a corpus of record: its size and coverage
    for column in (*columns, "look", "probes Δ", *(["corpus"] if grows else []), "verdict", "wall s", "cost"):
        table.add_column(column)
    for ln in lines:
        golden = ln.get("golden")
        delta = f"{golden['delta']:+.4f} [{golden['ci_low']:+.4f}, {golden['ci_high']:+.4f}]" if golden else "–"
        p = f"{golden['p']:.4f}" if golden and golden.get("p") is not None else "–"
        table.add_row(
            str(ln["cycle"]),
            ln["date"][:19],
            f"{ln['pairs']['new']}/{ln['pairs']['total']}",
            ln.get("incumbent", ""),
            ln.get("candidate", "–"),
            f"{ln.get('incumbent_metric', float('nan')):.4f}→{ln.get('candidate_metric', float('nan')):.4f}",
            delta,
            p,
            _n_cell(golden, ln.get("golden_set")),
            _looks_cell(ln.get("looks")),
            ", ".join(_probe_cell(probe) for probe in ln.get("probes", [])) or "–",
            *([_corpus_cell(ln)] if grows else []),
            ln["verdict"],
            f"{ln['wall_s']:.0f}",
            f"{ln.get('cost', {}).get('total', 0):.4f}",
        )
    return table
