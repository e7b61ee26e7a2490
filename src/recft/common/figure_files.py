"""Write a matplotlib figure so that a reader never sees half a PNG: a temp file beside it, then rename."""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, path: str | Path, **savefig) -> Path:
    """Save ``fig`` to ``path`` atomically (keyword arguments go to ``savefig``) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, **savefig)
        tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
