"""An evaluation report: means, per-query vectors and n, so any two reports can be compared pairwise.

Means alone cannot answer "is B better than A?"; the per-query vectors can (see ``recft.stats``).
Reading and comparing reports needs neither torch nor torchmetrics (``recft summarize`` loads neither).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from recft.common.atomic import write_json
from recft.common.errors import RecftError
from recft.eval.paired_tests import bootstrap_ci
from recft.eval.stats import PairedComparison, compare


def means(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    return {
        name: float(np.mean(list(values.values()))) if values else float("nan") for name, values in per_query.items()
    }


class ReportError(RecftError, ValueError):
    """A report file that cannot be read."""


@dataclass
class Report:
    dataset: str
    split: str
    per_query: dict[str, dict[str, float]]  # metric → {query (or pair) id → value}
    config: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def means(self) -> dict[str, float]:
        return means(self.per_query)

    @property
    def n(self) -> dict[str, int]:
        return {metric: len(values) for metric, values in self.per_query.items()}

    def ci(self, metric: str, seed: int = 42) -> tuple[float, float]:
        return bootstrap_ci(list(self.per_query[metric].values()), seed=seed)

    def compare_to(self, baseline: "Report", metric: str, seed: int = 42) -> PairedComparison:
        """Paired comparison with ``self`` as the candidate: delta = self − baseline."""
        for report in (self, baseline):
            if metric not in report.per_query:
                raise ReportError(f"report on {report.dataset}/{report.split} has no metric {metric!r}")
        return compare(baseline.per_query[metric], self.per_query[metric], metric=metric, seed=seed)

    def restricted(self, query_ids) -> "Report":
        """The same report on a subset of its queries (a golden sample drawn from a larger pool)."""
        keep = set(query_ids)
        per_query = {m: {q: v for q, v in values.items() if q in keep} for m, values in self.per_query.items()}
        return Report(self.dataset, self.split, per_query, dict(self.config), dict(self.timings))

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "split": self.split, "n": self.n, "means": self.means, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Report":
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ReportError(f"{path}: report not found") from None
        except json.JSONDecodeError as err:
            raise ReportError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        missing = [key for key in ("dataset", "split", "per_query") if key not in raw]
        if missing:
            raise ReportError(f"{path}: not a recft report (missing {', '.join(missing)})")
        return cls(raw["dataset"], raw["split"], raw["per_query"], raw.get("config", {}), raw.get("timings", {}))
