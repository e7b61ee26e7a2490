"""``history.jsonl``: one line per cycle, appended so that a killed run never leaves half a line.

Read by ``recft manage history`` and the figures; kept free of torch so that reading it is instant.

The registry is the record (versions, looks, arrivals); the history mirrors it for people and
figures. A line torn by something outside recft (a full disk, a killed copy) is not worth a stopped
loop: a torn *last* line is reported with its file and line and skipped (and dropped by the next
append); a damaged line anywhere else stops the reader with one line naming it, and
``recft manage history --repair`` rewrites the file without the lines that do not parse.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from recft.common.atomic import write_text
from recft.common.errors import RecftError


class HistoryError(RecftError, ValueError):
    """A damaged ``history.jsonl``; the message names the file and line."""


def parse_line(text: str) -> dict | str:
    """A history line as its dict, or why it is not one."""
    try:
        line = json.loads(text)
    except json.JSONDecodeError as err:
        return f"not JSON ({err.msg} at column {err.colno})"
    return line if isinstance(line, dict) else f"expected a JSON object, got {type(line).__name__}"


def history_lines(path: Path) -> list[tuple[int, str, dict | str]]:
    """(line number, text, the line or why it is damaged) for every non-blank line."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise HistoryError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return [(number, raw, parse_line(raw)) for number, raw in enumerate(text.splitlines(), start=1) if raw.strip()]


def torn_last_line(path: Path, lines: list[tuple[int, str, dict | str]], action: str = "skipped") -> bool:
    """Whether the last line is damaged (said in one warning line); a damaged line before it is an error."""
    for number, _, parsed in lines[:-1]:
        if isinstance(parsed, str):
            raise HistoryError(f"{path}:{number}: {parsed}; `recft manage history --repair` drops the damaged lines")
    if not lines or not isinstance(lines[-1][2], str):
        return False
    number, _, why = lines[-1]
    print(f"warning: {path}:{number}: torn last line {action} ({why}); the registry is the record", file=sys.stderr)
    return True


def append_history(path: Path, line: dict) -> None:
    """Append one JSON line by rewriting the file atomically (a torn last line is dropped)."""
    lines = history_lines(path)
    if torn_last_line(path, lines, "dropped"):
        lines = lines[:-1]
    existing = "".join(f"{raw}\n" for _, raw, _ in lines)
    write_text(path, existing + json.dumps(line, default=float) + "\n")


def read_history(path: str | Path) -> list[dict]:
    path = Path(path)
    lines = history_lines(path)
    torn = torn_last_line(path, lines)
    return [parsed for _, _, parsed in lines[: len(lines) - torn]]


def repair_history(path: str | Path) -> list[str]:
    """Rewrite ``history.jsonl`` keeping every line that parses, atomically; returns the dropped lines
    as ``file:line: why``. The registry does not hold whole history lines (it holds versions, looks
    and arrivals), so a dropped line cannot be rebuilt: what the repair gives is a file every reader
    takes again, with the registry, unchanged, still the record."""
    path = Path(path)
    lines = history_lines(path)
    dropped = [f"{path}:{number}: {parsed}" for number, _, parsed in lines if isinstance(parsed, str)]
    if dropped:
        write_text(path, "".join(f"{raw}\n" for _, raw, parsed in lines if isinstance(parsed, dict)))
    return dropped
