"""``EvalSettings``: how every set is scored — k, depth, the index, progress — read from the config once.

Its own module because both ends need it: ``evaluate_dataset`` scores with it, and the sets
(``recft.eval.sets``) hand it to every caller, so validation, the cycle and NUDGE cannot drift apart
in how they score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from recft.model.index import IndexSpec


@dataclass(frozen=True)
class EvalSettings:
    k_values: tuple[int, ...] = (1, 5, 10, 100)
    depth: int = 100  # documents retrieved per query; MAP is MAP@depth
    show_progress: bool = False
    index: IndexSpec = IndexSpec()  # exact search unless ``eval.index.kind`` says otherwise

    @classmethod
    def from_config(cls, cfg) -> "EvalSettings":
        index = IndexSpec(**dict(cfg.eval.get("index") or {}))
        return cls(tuple(int(k) for k in cfg.eval.k_values), int(cfg.eval.depth), bool(cfg.show_progress), index)

    def to_dict(self) -> dict:
        """What a report's numbers depend on; an approximate index is part of it (exact search adds
        nothing, so keys made before indexes had kinds stay valid)."""
        approximate = {"index": asdict(self.index)} if self.index.kind != "flat" else {}
        return {"k_values": list(self.k_values), "depth": self.depth, **approximate}
