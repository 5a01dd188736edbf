"""The architecture, checked: who may import whom, no import cycle, no module past 500 lines.

Every module's imports are read with ``ast``, those inside functions too (a
lazy import is still a dependency), so the contract needs no extra tool and
imports nothing it checks. The rules:

- ``core`` is headless: it never imports ``app``, PySide6, pyqtgraph or shiboken6;
- the rooms of ``core`` build on each other from the bottom up (:data:`CORE_LAYERS`):
  a module imports its own room, rooms below it and rooms on its level, never one above;
- ``app.cli`` and ``app.gui`` are two front ends over ``core``: the GUI never imports the
  CLI, and the CLI opens the GUI only from inside the commands that open the window
  (``disloc gui``, ``disloc demo``), so other commands start without Qt;
- a widget never imports a panel or the main window, and a panel never imports the main window;
- no import cycle, among all modules of ``core`` and ``app``;
- no module over :data:`MAX_LINES` lines (one past it has a second job hiding in it);
- the README's code map has one line per folder of the tree, and no other.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGES = ("core", "app")
QT = ("PySide6", "pyqtgraph", "shiboken6")
MAX_LINES = 500

# The rooms of core from the bottom up. A module may import its own room, the rooms on lower
# levels and those on its own level: learn and analysis are peers (evaluation scores post-processed
# masks; segmenting a video runs the network), with no module cycle between them.
CORE_LAYERS = [
    {"core", "core.errors", "core.progress", "core.colors", "core.shipped"},  # shared by every stage
    {"core.io"},
    {"core.synth"},
    {"core.learn", "core.analysis"},
    {"core.project"},
    {"core.demo"},
]
# The only CLI modules that may import the GUI, and only inside functions.
CLI_OPENS_GUI = {"app.cli.gui", "app.cli.demo"}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) for every module of core and app."""
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


MODULES = _modules()


class Import:
    """One imported name: the module it resolves to (ours or a top-level package) and where it stands."""

    def __init__(self, target: str, line: int, lazy: bool) -> None:
        self.target, self.line, self.lazy = target, line, lazy


def _imports(name: str) -> list[Import]:
    path, is_pkg = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    lazy_lines = {n.lineno for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            targets = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = ".".join(base[:len(base) - n.level + 1] + ([n.module] if n.module else []))
            else:
                base = n.module
            # "from pkg import mod" imports the module pkg.mod; "from mod import name" the module mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in n.names]
        else:
            continue
        for t in targets:
            # "import a.b.c" names the module a.b.c; keep the longest prefix that is one of ours.
            while t not in MODULES and "." in t and t.split(".")[0] in PACKAGES:
                t = t.rsplit(".", 1)[0]
            out.append(Import(t, n.lineno, n.lineno in lazy_lines))
    return out


IMPORTS = {name: _imports(name) for name in MODULES}


def _room(module: str) -> str:
    """``core.analysis.postprocess.join`` -> ``core.analysis``; ``core.errors`` -> itself."""
    return ".".join(module.split(".")[:2])


def _layer(room: str) -> int:
    for level, rooms in enumerate(CORE_LAYERS):
        if room in rooms:
            return level
    raise AssertionError(f"{room} is in no layer of CORE_LAYERS: give the new room its place there")


def _violations(rule) -> list[str]:
    found = []
    for name, imports in sorted(IMPORTS.items()):
        for imp in imports:
            why = rule(name, imp)
            if why:
                found.append(f"{MODULES[name][0].relative_to(ROOT)}:{imp.line}: {name} imports {imp.target} ({why})")
    return found


def test_core_imports_neither_app_nor_qt():
    def rule(name, imp):
        top = imp.target.split(".")[0]
        if name.startswith("core") and (top == "app" or top in QT):
            return "core is headless"
    assert not _violations(rule)


def test_core_rooms_import_only_downwards():
    def rule(name, imp):
        if name.startswith("core") and imp.target.startswith("core") and imp.target in MODULES:
            if _layer(_room(imp.target)) > _layer(_room(name)):
                return f"{_room(name)} lies below {_room(imp.target)}"
    assert not _violations(rule)


def test_the_two_front_ends_stay_apart():
    def rule(name, imp):
        if name.startswith("app.gui") and imp.target.startswith("app.cli"):
            return "the GUI never runs the command line"
        if name.startswith("app.cli"):
            if imp.target.split(".")[0] in QT:
                return "the command line reaches Qt only through app.gui"
            if imp.target.startswith("app.gui") and (name not in CLI_OPENS_GUI or not imp.lazy):
                return "only `disloc gui` and `disloc demo` open the window, inside their run()"
    assert not _violations(rule)


def test_widgets_know_no_panel_and_panels_no_window():
    def rule(name, imp):
        if name.startswith("app.gui.widgets") and imp.target.startswith(("app.gui.panels", "app.gui.mainwindow")):
            return "a widget is reusable: it knows no panel"
        if name.startswith("app.gui.panels") and imp.target.startswith("app.gui.mainwindow"):
            return "the main window composes the panels, not the other way round"
    assert not _violations(rule)


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each one import cycle or more."""
    graph = {n: sorted({i.target for i in imps if i.target in MODULES and i.target != n})
             for n, imps in IMPORTS.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert not _cycles()


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p, _ in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules by job: {long}"


def test_the_contract_sees_what_it_checks():
    """The scan finds real imports, lazy ones too (a rule that sees nothing passes for nothing)."""
    assert "core.analysis.segment" in {i.target for i in IMPORTS["app.cli.segment"]}
    opens = [i for i in IMPORTS["app.cli.gui"] if i.target.startswith("app.gui")]
    assert opens and all(i.lazy for i in opens)
    assert any(i.target == "PySide6" for i in IMPORTS["app.gui.workers"])
    assert {"core.analysis.postprocess.config", "core.analysis.splines"} <= {
        i.target for i in IMPORTS["core.analysis.postprocess.pipeline"]} | {
        i.target for i in IMPORTS["core.analysis.postprocess.config"]}


@pytest.mark.parametrize("argv", [["--help"], ["synth", "--help"], ["segment", "--help"], ["train", "--help"]])
def test_command_line_starts_without_qt_or_torch(argv):
    code = ("import sys\nfrom app.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'pyqtgraph', 'shiboken6', 'torch'})\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_code_map_matches_the_tree():
    """Every folder that holds files has its line in the README's code map, and every line a folder."""
    listed = set()
    text = (ROOT / "README.md").read_text()
    section = text.split("## Code map", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        if line.startswith("| `"):
            listed.add(line.split("`")[1].rstrip("/"))
    r = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout: the tree's folders are unknown")
    folders = {str(Path(f).parent) for f in r.stdout.splitlines() if (ROOT / f).exists()} - {"."}
    assert folders - listed == set(), "folders missing from the README's code map"
    assert listed - folders == set(), "code map lines without a folder"
