"""history.jsonl damaged from outside: a torn last line is skipped with one warning naming file and
line, any other damaged line is one error naming it, and ``recft manage history --repair`` keeps
every line that parses."""

import json

import pytest

from recft.loop.storage.history import HistoryError, append_history, read_history, repair_history
from recft.loop.storage.registry import Registry
from recft.manage import main

LINES = [{"cycle": c, "date": "2026-12-01T10:00:00", "pairs": {"new": 3, "total": 3 * c}, "verdict": "REJECTED",
          "wall_s": 9.0} for c in (1, 2)]  # fmt: skip


def write(path, lines, tail=""):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + tail)
    return path


def test_a_torn_last_line_is_skipped_with_one_warning_naming_file_and_line(tmp_path, capsys):
    path = write(tmp_path / "history.jsonl", LINES, json.dumps({**LINES[1], "cycle": 3})[:25])
    assert read_history(path) == LINES
    [warning] = capsys.readouterr().err.splitlines()
    assert warning.startswith(f"warning: {path}:3: torn last line skipped (not JSON (Unterminated string")


def test_the_next_append_drops_a_torn_last_line_instead_of_gluing_onto_it(tmp_path, capsys):
    path = write(tmp_path / "history.jsonl", LINES, '{"cycle": 3, "ver')
    append_history(path, {**LINES[0], "cycle": 3})
    assert [line["cycle"] for line in read_history(path)] == [1, 2, 3]
    assert f"{path}:3: torn last line dropped" in capsys.readouterr().err


def test_a_damaged_line_before_the_last_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path / "history.jsonl", [LINES[0]], "[1, 2\n" + json.dumps(LINES[1]) + "\n")
    with pytest.raises(HistoryError, match=rf"^{path}:2: not JSON .*history --repair"):
        read_history(path)


def test_repair_keeps_every_line_that_parses_and_says_what_it_dropped(tmp_path, capsys):
    registry = Registry(tmp_path)
    path = write(tmp_path / "history.jsonl", [LINES[0]], '"a string"\n' + json.dumps(LINES[1]) + '\n{"cyc')
    assert main(["--registry", str(tmp_path), "history"]) == 2
    repair = "`recft manage history --repair` drops the damaged lines"
    assert capsys.readouterr().err == f"error: {path}:2: expected a JSON object, got str; {repair}\n"
    assert main(["--registry", str(tmp_path), "history", "--repair"]) == 0
    out = capsys.readouterr().out
    assert f"dropped {path}:2: expected a JSON object, got str" in out and f"dropped {path}:4: not JSON" in out
    assert read_history(path) == LINES and path.read_text().count("\n") == 2
    assert repair_history(path) == [] and registry.versions() == []  # nothing more to drop; registry untouched
