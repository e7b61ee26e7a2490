"""Progress for logs: when output is not a terminal (cron, SLURM, ``| tee``), a line every ~30 s.

A rich progress bar redraws itself in place, which a log file cannot show; without one, a redirected
cycle printed nothing while it encoded a corpus for a quarter of an hour. ``LogProgress`` writes
``encode passages: 1,234/5,183 (24.1/s, ETA 2m44s)`` at most every ``every`` seconds, and a last
line when done — only for work that lasted that long (validation's small encodes stay silent).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class LogProgress:
    def __init__(self, what: str, total: int, every: float = 30.0, stream: TextIO | None = None, clock=time.monotonic):
        self.what, self.total, self.every = what, total, every
        self.stream, self.clock = stream or sys.stderr, clock
        self.done, self.start = 0, clock()
        self.last, self.printed = self.start, False

    def line(self) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        eta = f", ETA {_duration((self.total - self.done) / rate)}" if rate and self.done < self.total else ""
        return f"{self.what}: {self.done:,}/{self.total:,} ({rate:.1f}/s{eta})"

    def advance(self, count: int) -> None:
        self.done += count
        now = self.clock()
        if now - self.last >= self.every or (self.done >= self.total and self.printed):
            self.last, self.printed = now, True
            print(self.line(), file=self.stream, flush=True)
