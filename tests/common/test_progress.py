"""Progress lines for logs: at most one per interval, with count, rate and ETA, and a last one when done."""

import io

from recft.common.progress import LogProgress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_line_every_interval_with_rate_and_eta_and_one_at_the_end():
    clock, stream = Clock(), io.StringIO()
    progress = LogProgress("encode passages", 1000, every=30, stream=stream, clock=clock)
    for _ in range(9):  # 100 texts every 10 s: a line at 30 s, 60 s, 90 s
        clock.now += 10
        progress.advance(100)
    clock.now += 10
    progress.advance(100)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "encode passages: 300/1,000 (10.0/s, ETA 1m10s)",
        "encode passages: 600/1,000 (10.0/s, ETA 40s)",
        "encode passages: 900/1,000 (10.0/s, ETA 10s)",
        "encode passages: 1,000/1,000 (10.0/s)",
    ]


def test_short_work_prints_nothing():
    clock, stream = Clock(), io.StringIO()
    progress = LogProgress("encode queries", 300, every=30, stream=stream, clock=clock)
    for _ in range(3):
        clock.now += 1
        progress.advance(100)
    assert stream.getvalue() == ""
