"""The package layout holds: no import cycle (lazy imports included), no library module imports an
entry point, every stage package says its role, and the registry and sweep tools start without torch."""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import REPO

SRC = REPO / "src"
ENTRY_POINTS = {"recft.evaluate", "recft.train", "recft.cycle", "recft.manage", "recft.summarize", "recft.cli"}


def module_name(path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """recft modules that ``name`` imports anywhere (top level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    saved = dict(GRAPH)
    try:
        GRAPH["recft.data.beir"] = GRAPH["recft.data.beir"] | {"recft.data.pairs"}  # pairs imports beir
        assert cycles() == [["recft.data.beir", "recft.data.pairs"]]
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_no_import_cycle_lazy_imports_included():
    assert cycles() == []


def test_no_library_module_imports_an_entry_point():
    offenders = {m: GRAPH[m] & ENTRY_POINTS for m in MODULES if m not in ENTRY_POINTS and GRAPH[m] & ENTRY_POINTS}
    assert offenders == {"recft.__main__": {"recft.cli"}}  # `python -m recft` is the console command


def test_every_stage_package_says_its_role_in_one_line():
    packages = [p for p in (SRC / "recft").iterdir() if (p / "__init__.py").is_file()]
    assert {p.name for p in packages} >= {"common", "data", "model", "eval", "training", "nudge", "loop", "sweeps"}
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) == 1, package.name


def test_manage_and_summarize_load_neither_torch_nor_lightning():
    code = (
        "import sys, recft.manage, recft.summarize, recft.loop.history, recft.loop.registry; "
        "heavy = {'torch', 'pytorch_lightning', 'lightning', 'transformers'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
