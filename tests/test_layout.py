"""The package layout holds: no import cycle (lazy imports included), no library module imports an
entry point, every stage package says its role, no module imports a later stage, no function is over
50 lines or 8 parameters, docs/extending.md's "Extending recft" names files that exist, and the registry
and sweep tools start without torch."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from contextlib import contextmanager

from conftest import REPO

SRC = REPO / "src"
ENTRY_POINTS = {
    "recft.evaluate",
    "recft.train",
    "recft.cycle",
    "recft.manage",
    "recft.summarize",
    "recft.fetch",
    "recft.cli",
}
# The stages, earliest first, by the role each package's docstring gives it: what every stage shares;
# reading data; the model; measuring a model; making a candidate from pairs (training, then NUDGE, a
# candidate made through training's interface); the loop that gates candidates; what `recft manage` shows
# of a loop; sweeps, read after
# the runs; the settings check that builds every stage's objects early; the commands. A module may
# import its own stage or an earlier one, never a later one.
STAGES = (
    ("recft", "recft.common"),  # the package root holds only its version
    ("recft.data",),
    ("recft.model",),
    ("recft.eval",),
    ("recft.training",),
    ("recft.nudge",),
    ("recft.loop",),
    ("recft.views",),
    ("recft.sweeps",),
    ("recft.preflight",),
    tuple(sorted(ENTRY_POINTS | {"recft.__main__"})),
)
MAX_LINES, MAX_PARAMETERS = 50, 8  # a function over the limits is split where it is written


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


@contextmanager
def with_import(module: str, imported: str):
    """``GRAPH`` as if ``module`` imported ``imported`` too, for the duration: each check must see a planted fault."""
    saved = dict(GRAPH)
    GRAPH[module] = GRAPH[module] | {imported}
    try:
        yield
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_the_cycle_finder_finds_a_cycle():
    with with_import("recft.data.beir", "recft.data.pairs"):  # pairs imports beir
        assert cycles() == [["recft.data.beir", "recft.data.pairs"]]


def test_no_import_cycle_lazy_imports_included():
    assert cycles() == []


def test_no_library_module_imports_an_entry_point():
    offenders = {m: GRAPH[m] & ENTRY_POINTS for m in MODULES if m not in ENTRY_POINTS and GRAPH[m] & ENTRY_POINTS}
    assert offenders == {"recft.__main__": {"recft.cli"}}  # `python -m recft` is the console command


def stage_of(module: str) -> int:
    """The rank of ``module``'s stage in ``STAGES`` (a package's stage holds its every module)."""
    for rank, members in enumerate(STAGES):
        if any(module == member or (member != "recft" and module.startswith(member + ".")) for member in members):
            return rank
    raise LookupError(f"{module} is in no stage of STAGES")


def later_stage_imports() -> dict[str, set[str]]:
    """Each module that imports a module of a later stage, and those modules."""
    found = {m: {d for d in deps if stage_of(d) > stage_of(m)} for m, deps in GRAPH.items()}
    return {m: deps for m, deps in found.items() if deps}


def test_every_module_and_stage_package_has_a_stage():
    for name in MODULES:
        stage_of(name)
    packages = {f"recft.{p.name}" for p in (SRC / "recft").iterdir() if (p / "__init__.py").is_file()}
    assert packages <= {member for members in STAGES for member in members}


def test_the_stage_order_check_finds_an_import_of_a_later_stage():
    with with_import("recft.data.beir", "recft.loop.gate.promotion"):
        assert later_stage_imports() == {"recft.data.beir": {"recft.loop.gate.promotion"}}


def test_no_module_imports_a_later_stage_lazy_imports_included():
    assert later_stage_imports() == {}


# recft.loop by concern, lowest first: the gate's statistics (no I/O), storage, intake, and the orchestration
# that uses them. A loop module imports its own concern or a lower one; no module sits in loop/ outside them.
LOOP_LAYERS = ("recft.loop.gate", "recft.loop.storage", "recft.loop.intake", "recft.loop.orchestration")


def loop_layer(module: str) -> int:
    return next(rank for rank, layer in enumerate(LOOP_LAYERS) if module == layer or module.startswith(layer + "."))


def loop_layer_violations() -> dict[str, set[str]]:
    """Each loop module that imports a loop module of a higher concern, and those modules."""
    inside = [m for m in GRAPH if m.startswith("recft.loop.")]
    found = {m: {d for d in GRAPH[m] if d.startswith("recft.loop.") and loop_layer(d) > loop_layer(m)} for m in inside}
    return {m: deps for m, deps in found.items() if deps}


def test_every_loop_module_sits_in_one_concern():
    outside = [m for m in MODULES if m.startswith("recft.loop.") and not any(m.startswith(x) for x in LOOP_LAYERS)]
    assert outside == []
    for layer in LOOP_LAYERS:
        assert layer in MODULES, layer  # a package, saying its concern in its docstring


def test_loop_imports_run_from_orchestration_down_to_the_gate_never_up():
    assert loop_layer_violations() == {}


def test_the_loop_order_check_finds_storage_importing_orchestration():
    with with_import("recft.loop.storage.registry", "recft.loop.orchestration.run"):
        assert loop_layer_violations() == {"recft.loop.storage.registry": {"recft.loop.orchestration.run"}}


def test_the_gate_statistics_do_no_io():
    """The gate's modules compute from vectors and numbers; files, registries and consoles are elsewhere."""
    io = {"pathlib", "sqlite3", "rich", "omegaconf", "json", "recft.common.atomic", "recft.common.console"}
    for name, path in MODULES.items():
        if name.startswith("recft.loop.gate."):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            used = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            used |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not {u for u in used if u in io or u.split(".")[0] in io}, (name, used)


def functions(tree: ast.AST, prefix: str):
    """(qualified name, node) of every function in ``tree``, methods and nested functions included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}.{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from functions(node, name)
        else:
            yield from functions(node, prefix)


def parameters(function: ast.FunctionDef) -> list[str]:
    """Its parameters, ``*args`` and ``**kwargs`` included, without a method's ``self`` or ``cls``."""
    args = function.args
    every = [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
    names = [a.arg for a in every if a is not None]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def over_the_limits() -> dict[str, tuple[int, int]]:
    """Every function in ``src/`` over ``MAX_LINES`` lines (its ``def`` to its last line) or
    ``MAX_PARAMETERS`` parameters: qualified name → (lines, parameters)."""
    found = {}
    for module, path in MODULES.items():
        for name, node in functions(ast.parse(path.read_text(encoding="utf-8")), module):
            size = (node.end_lineno - node.lineno + 1, len(parameters(node)))
            if size[0] > MAX_LINES or size[1] > MAX_PARAMETERS:
                found[name] = size
    return found


SAMPLE = """
class A:
    def f(self, a, *b, c, **d):
        def g():
            pass
        return 1
"""


def test_the_size_check_counts_lines_and_parameters_as_said():
    [(name, method), (inner, _)] = list(functions(ast.parse(SAMPLE), "m"))
    assert (name, inner, parameters(method)) == ("m.A.f", "m.A.f.g", ["a", "b", "c", "d"])
    assert method.end_lineno - method.lineno + 1 == 4


def test_no_function_is_over_50_lines_or_8_parameters():
    assert over_the_limits() == {}


def extending_section() -> str:
    text = (REPO / "docs" / "extending.md").read_text(encoding="utf-8")
    return re.search(r"^## Extending recft\n(.*?)(?=^## |\Z)", text, re.S | re.M).group(1)


def test_extending_recft_names_a_loss_a_pair_format_a_gate_test_and_an_encoder():
    section = extending_section()
    for kind in ("A loss", "A pair format", "A gate test", "An encoder"):
        assert f"**{kind}**" in section, kind
    assert len(section.strip().splitlines()) <= 30


def test_the_files_extending_recft_names_exist():
    paths = [span for span in re.findall(r"`([^`\s]+)`", extending_section()) if "/" in span]
    assert len(paths) >= 12
    for path in paths:
        if "<name>" in path:  # the file to add: its folder must be there, with files like it
            assert list((REPO / path).parent.glob(path.rsplit("/", 1)[1].replace("<name>", "*"))), path
        else:
            assert (REPO / path).exists(), path


def test_every_stage_package_says_its_role_in_one_line():
    packages = [p for p in (SRC / "recft").iterdir() if (p / "__init__.py").is_file()]
    assert {p.name for p in packages} >= {
        "common",
        "data",
        "model",
        "eval",
        "training",
        "nudge",
        "loop",
        "views",
        "sweeps",
    }
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) == 1, package.name


def test_manage_and_summarize_load_neither_torch_nor_lightning():
    code = (
        "import sys, recft.manage, recft.summarize, recft.loop.storage.history, recft.loop.storage.registry; "
        "heavy = {'torch', 'pytorch_lightning', 'lightning', 'transformers'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# A name shared by two modules is allowed only as one idea per stage (its own settings, job, maker or errors) or
# as a verb's entry point beside the stage module that does the work; anything else is renamed to grep apart.
SHARED_NAMES = {
    "settings",
    "job",
    "maker",
    "objective",
    "errors",
    "fetch",
    "evaluate",
    "summarize",
    "cycle",
    "__init__",
}


def test_module_names_are_unique_enough_to_grep():
    """Before: three ``domains.py`` (labels, the adapter encoder, the registries) and three ``figures.py``."""
    by_name: dict[str, list[str]] = {}
    for path in sorted((SRC / "recft").rglob("*.py")):
        by_name.setdefault(path.stem, []).append(str(path.relative_to(SRC)))
    repeated = {name: paths for name, paths in by_name.items() if len(paths) > 1 and name not in SHARED_NAMES}
    assert not repeated, repeated
    stages = {name: [stage_of(module_name(SRC / path)) for path in paths] for name, paths in by_name.items()}
    twice_in_a_stage = {name: by_name[name] for name, ranks in stages.items() if len(ranks) != len(set(ranks))}
    assert set(twice_in_a_stage) <= {"__init__"}, twice_in_a_stage  # one settings.py per stage, and so on
