"""Every command the project documents works: README.md, the pages under docs/ (and the experiments'
READMEs), the header of every config file, and every module docstring. Hydra commands must compose
(``--cfg job --resolve``; a multirun line is checked with the first value of each swept list), the others must parse
(``--help``); the ``recft`` console command lists its verbs. The experiments' own scripts
(``bash experiments/…sh``, ``python experiments/…py``, documented there and in their headers) must
exist and parse; a Python one runs as written where every path it reads is in the repository, else
answers ``--help``."""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import shlex
import subprocess
import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

from recft.cli import VERBS, main

from conftest import REPO

HYDRA_VERBS = {"evaluate", "train", "cycle"}
COMMAND = re.compile(r"^(?:\.venv/bin/)?(?:python -m recft\.(?P<module>\w+)|recft (?P<verb>\w+))(?P<args>(?: .*)?)$")
EXPERIMENT = re.compile(
    r"^(?:\.venv/bin/)?(?P<runner>bash|python) (?P<script>experiments/\S+\.(?:sh|py))(?P<args>(?: .*)?)$"
)


def commands_in(lines: list[str], pattern: re.Pattern = COMMAND) -> list[str]:
    """Commands among ``lines`` (already stripped of comment markers), joining ``\\`` continuations."""
    found, pending = [], ""
    for raw in lines:
        line = (pending + " " + raw.strip()).strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        pending = ""
        line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()  # a trailing comment
        if pattern.match(line):
            found.append(line)
    return found


def markdown_commands(path, pattern: re.Pattern = COMMAND) -> list[str]:
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return commands_in([line for block in blocks for line in block.splitlines()] + spans, pattern)


def header_commands(path, pattern: re.Pattern = COMMAND) -> list[str]:
    """Commands in a file's leading comment block (a config file, a shell script after its shebang)."""
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#"))
    return commands_in(header, pattern)


def docstring_commands(path, pattern: re.Pattern = COMMAND) -> list[str]:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return commands_in(doc.splitlines(), pattern)


def documented() -> list[tuple[str, str]]:
    sources = [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        *sorted((REPO / "experiments").glob("**/README.md")),
    ]
    found = [(str(p.relative_to(REPO)), c) for p in sources for c in markdown_commands(p)]
    found += [
        (str(p.relative_to(REPO)), c) for p in sorted((REPO / "conf").rglob("*.yaml")) for c in header_commands(p)
    ]
    modules = sorted((REPO / "src" / "recft").rglob("*.py"))
    found += [(str(p.relative_to(REPO)), c) for p in modules for c in docstring_commands(p)]
    return sorted(set(found))


def first_of_each_sweep(args: list[str]) -> list[str]:
    """``key=a,b,c`` → ``key=a`` (a multirun's first job); lists in brackets are values, not sweeps."""
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and "," in value and not value.startswith(("[", "{")):
            value = value.split(",")[0]
        out.append(f"{key}{sep}{value}")
    return out


def documented_experiments() -> list[tuple[str, str]]:
    sources = [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        *sorted((REPO / "experiments").glob("**/README.md")),
    ]
    found = [(p, c) for p in sources for c in markdown_commands(p, EXPERIMENT)]
    found += [(p, c) for p in sorted((REPO / "experiments").rglob("*.sh")) for c in header_commands(p, EXPERIMENT)]
    scripts = sorted((REPO / "experiments").rglob("*.py")) + sorted((REPO / "src" / "recft").rglob("*.py"))
    found += [(p, c) for p in scripts for c in docstring_commands(p, EXPERIMENT)]
    return sorted({(str(p.relative_to(REPO)), c) for p, c in found})


COMMANDS = documented()
EXPERIMENT_COMMANDS = documented_experiments()


def test_the_documented_commands_are_found():
    verbs = {COMMAND.match(c).group("module") or COMMAND.match(c).group("verb") for _, c in COMMANDS}
    assert verbs == set(VERBS) and len(COMMANDS) > 40
    places = {where.split("/")[0] for where, _ in COMMANDS}
    assert {"README.md", "docs", "conf", "src", "experiments"} <= places


@pytest.mark.parametrize("where,command", COMMANDS, ids=[f"{w}: {c}" for w, c in COMMANDS])
def test_documented_command_composes(where, command):
    match = COMMAND.match(command)
    verb = match.group("module") or match.group("verb")
    assert verb in VERBS, f"{where}: unknown verb in {command!r}"
    filled = re.sub(r"<[^>]+>", "PLACEHOLDER", match.group("args"))  # outputs/train/<date>: the user's own
    args = [a for a in shlex.split(filled) if a not in ("-m", "--multirun")]
    args = first_of_each_sweep(args) + (["--cfg", "job", "--resolve"] if verb in HYDRA_VERBS else ["--help"])
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            result = main([verb, *args])
    except SystemExit as done:
        result = done.code
    finally:
        GlobalHydra.instance().clear()
    assert result in (0, None), f"{where}: {command!r} failed:\n{out.getvalue()[-2000:]}"
    expected = "encoder:" if verb in HYDRA_VERBS else "usage: recft"
    assert expected in out.getvalue(), f"{where}: {command!r} printed:\n{out.getvalue()[-2000:]}"


def test_a_wrong_override_is_caught_by_the_same_check():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(["train", "adapter=no_such_adapter", "--cfg", "job", "--resolve"])
        finally:
            GlobalHydra.instance().clear()
    assert code == 1 and "no_such_adapter" in out.getvalue()  # Hydra's own refusal: its exit code, returned


def test_every_verb_is_called_the_same_way_and_returns_its_exit_code():
    """``main(argv) -> int`` for every verb (before, three took argv and three read ``sys.argv``, two exited
    with ``sys.exit`` and the others returned)."""
    import importlib
    import inspect

    for verb in VERBS:
        entry = importlib.import_module(f"recft.{verb}").main
        assert list(inspect.signature(entry).parameters) == ["argv"], verb
        assert inspect.signature(entry).return_annotation in ("int", int), verb


def test_recft_help_lists_the_verbs():
    done = subprocess.run([sys.executable, "-m", "recft", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert all(re.search(rf"^  {verb}\s", done.stdout, re.M) for verb in VERBS), done.stdout
    unknown = subprocess.run([sys.executable, "-m", "recft", "fly"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown verb 'fly'" in unknown.stderr


def reads_only_committed_folders(args: list[str]) -> bool:
    """A command safe to run here, the same in a clean clone: only positional arguments, each a folder
    the repository commits (no option, hence no ``--out``: a script run here must not write)."""
    return bool(args) and all(any(f.startswith(a.rstrip("/") + "/") for f in tracked_files()) for a in args)


@functools.cache
def tracked_files() -> tuple[str, ...]:
    """The repository's committed files, listed once for every parametrized command."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return tuple(listed.split())


def test_the_experiment_scripts_commands_are_found():
    scripts = {EXPERIMENT.match(c).group("script") for _, c in EXPERIMENT_COMMANDS}
    assert {"experiments/arrivals/default_week.sh", "experiments/best_recipe/write_recipe.py"} <= scripts


@pytest.mark.parametrize("where,command", EXPERIMENT_COMMANDS, ids=[f"{w}: {c}" for w, c in EXPERIMENT_COMMANDS])
def test_documented_experiment_command_runs_or_parses(where, command):
    match = EXPERIMENT.match(command)
    script = REPO / match.group("script")
    assert script.is_file(), f"{where}: {command!r} names a script that is not there"
    if script.suffix == ".sh":
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{where}: {script.name} does not parse: {done.stderr}"
        return
    args = shlex.split(re.split(r"\s[>|]", match.group("args"))[0])  # what it prints is the caller's
    argv = args if reads_only_committed_folders(args) else ["--help"]
    done = subprocess.run([sys.executable, str(script), *argv], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{where}: {command!r} ({' '.join(argv)}) failed:\n{done.stderr[-2000:]}"
