"""The layout of docs/architecture.md, enforced: no import circle between modules, no package
importing one above it, and the few third-party libraries each layer must never import.

The graph is read with `ast` (nothing is executed), and counts every import, also those inside
functions: a lazy import is still a dependency. The folders are installed under one import name,
`transfer_laws` (pyproject's package-dir), so every import says `transfer_laws.tasks…`; a bare
`tasks`, `flows` or `model` would import whatever module of that name the user has.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "transfer_laws"
ROOTS = ("tasks", "flows", "model", PACKAGE)  # folders; all but the last are mapped under PACKAGE
BARE = {"tasks", "flows", "model"}

# Each package and the project packages it may import (docs/architecture.md, bottom to top).
ALLOWED: dict[str, set[str]] = {
    "tasks.common": set(),
    "tasks.fitting": set(),
    "model": set(),
    "tasks.data": {"tasks.common"},
    "tasks.train": {"tasks.common", "tasks.data", "model"},
    "tasks.tracking": {"tasks.common", "tasks.data", "tasks.train", "model"},
    "tasks.report": {"tasks.common", "tasks.fitting"},
    "tasks.services": {"tasks.common", "tasks.train", "tasks.tracking"},
    "tasks.sweep": {"tasks.common", "tasks.data", "tasks.fitting", "tasks.train", "tasks.tracking",
                    "tasks.report", "tasks.services", "model"},
    "tasks": set(),  # the package's own __init__: a docstring
    "flows": {"tasks.common", "tasks.data", "tasks.fitting", "tasks.train", "tasks.tracking",
              "tasks.report", "tasks.services", "tasks.sweep", "model"},
    PACKAGE: {"flows", "tasks.common"},  # the public face: re-exports of flows.api, errors, version
}
# Third-party libraries a package must never import.
FORBIDDEN: dict[str, set[str]] = {
    "tasks.common": {"prefect", "mlflow", "torch"},
    "tasks.fitting": {"torch", "prefect", "mlflow", "pandas"},
    "model": {"prefect", "mlflow"},
    "tasks.data": {"prefect", "mlflow"},
    "tasks.train": {"prefect", "mlflow"},
    "tasks.tracking": {"prefect"},
    "tasks.report": {"prefect", "mlflow", "torch"},
}


def module_files(repo: Path, roots=ROOTS) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the roots (a package is its __init__)."""
    found = {}
    for root in roots:
        for path in sorted((repo / root).rglob("*.py")):
            parts = path.relative_to(repo).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def short_name(target: str) -> str:
    """`transfer_laws.tasks.train` -> `tasks.train` (the graph's names); a bare name is kept."""
    return target[len(PACKAGE) + 1:] if target.startswith(PACKAGE + ".") else target


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(project modules, third-party top-level names) that the file imports anywhere in it; a bare
    `tasks…`/`flows…`/`model…` import counts as the third-party name it would resolve to."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    internal, external = set(), set()

    def add(target: str) -> None:  # a full dotted name, as the import statement resolves it
        head = target.split(".")[0]
        if head != PACKAGE:  # a bare `tasks…` is not ours either: nothing by that name is installed
            external.add(head)
            return
        target = short_name(target)
        while target not in modules and "." in target:  # `import a.b.c` of a name, not a module
            target = target.rpartition(".")[0]
        if target in modules:
            internal.add(target)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([PACKAGE] * (up[0] != PACKAGE) + up + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import mod` depends on the module, not on pkg
                sub = f"{base}.{alias.name}"
                add(sub if short_name(sub) in modules else base)
    internal.discard(name)
    return internal, external


def import_graph(repo: Path = REPO, roots=ROOTS) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = module_files(repo, roots)
    graph, externals = {}, {}
    for name, path in modules.items():
        graph[name], externals[name] = imports_of(name, path, modules)
    return graph, externals


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def package_of(module: str) -> str:
    """The layer a module belongs to: `tasks.<stage>`, `model`, `flows`, or `tasks` itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "tasks" and len(parts) > 1 else parts[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        layer = package_of(module)
        assert layer in ALLOWED, f"{module}: package {layer} is not in docs/architecture.md's layers"
        for target in sorted(targets):
            if package_of(target) != layer and package_of(target) not in ALLOWED[layer]:
                bad.append(f"{module} -> {target}")
    return bad


def test_no_import_circle():
    graph, _ = import_graph()
    assert circles(graph) == []


def test_packages_import_only_those_below():
    graph, _ = import_graph()
    assert upward_imports(graph) == []


def test_layers_never_import_their_forbidden_libraries():
    _, externals = import_graph()
    bad = [f"{m} imports {sorted(externals[m] & FORBIDDEN[package_of(m)])}"
           for m in sorted(externals) if externals[m] & FORBIDDEN.get(package_of(m), set())]
    assert bad == []


def test_training_runs_as_a_module():
    """`python -P -m transfer_laws.tasks.train.entry` is how the launcher (and users) start one run."""
    graph, _ = import_graph()
    assert "tasks.train.entry" in graph and "tasks.train.zygote" in graph


def test_checker_sees_a_circle_an_upward_import_and_a_lazy_one(tmp_path):
    """The checks above can fail: a synthetic tree with a circle through a lazy import, and an
    upward import from training into tracking."""
    (tmp_path / "tasks" / "train").mkdir(parents=True)
    (tmp_path / "tasks" / "tracking").mkdir()
    for pkg in ("tasks", "tasks/train", "tasks/tracking"):
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "tasks" / "train" / "a.py").write_text("from transfer_laws.tasks.train import b\n")
    (tmp_path / "tasks" / "train" / "b.py").write_text(
        "def f():\n    from transfer_laws.tasks.train.a import g\n    from transfer_laws.tasks.tracking import c\n")
    (tmp_path / "tasks" / "tracking" / "c.py").write_text("import mlflow\n")
    graph, externals = import_graph(tmp_path, roots=("tasks",))
    assert circles(graph) == [["tasks.train.a", "tasks.train.b"]]
    assert upward_imports(graph) == ["tasks.train.b -> tasks.tracking.c"]
    assert externals["tasks.tracking.c"] == {"mlflow"}


def _repo_files(*patterns: str) -> list[Path]:
    skip = {".venv", ".git", "build", ".transfer-laws", ".whl", "__pycache__"}
    return sorted(p for pat in patterns for p in REPO.rglob(pat)
                  if not skip & set(p.relative_to(REPO).parts) and p.is_file())


def bare_imports(path: Path, module_names: set[str]) -> list[str]:
    """Imports of `tasks`, `flows` or `model` by their bare names in a file, also inside code held in
    a string (`python -c` scripts) and as `-m` module strings."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            names = [line.split()[1] for line in text.splitlines()
                     if line.strip().startswith(("from ", "import ")) and len(line.split()) > 1]
            names += [text] if "." in text and text in module_names else []  # `-m tasks.train.entry`
        bad += [f"{path.relative_to(REPO)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in BARE]
    return bad


def test_nothing_imports_the_folders_by_their_bare_names():
    """Product, tests, benchmarks and examples import `transfer_laws.…`; scripts, configs and docs
    start modules as `-m transfer_laws.…`. (The layer names above are not imports: this file is
    left out.)"""
    modules = set(module_files(REPO))
    bad = [b for p in _repo_files("*.py") if p.name != "test_layout.py" for b in bare_imports(p, modules)]
    pattern = re.compile(r"-m (tasks|flows|model)\.|\b(flows|tasks|model)/[a-z_]+\.py:[a-z_]+")
    bad += [f"{p.relative_to(REPO)}: {m.group(0)}" for p in _repo_files("*.sh", "*.yaml", "*.md", "Makefile",
                                                                         "*.toml", "*.ipynb")
            for m in pattern.finditer(p.read_text())]
    assert bad == []


def test_bare_import_checker_sees_each_form(tmp_path):
    f = REPO / "tests" / "_bare_probe.py"  # under REPO: the checker names paths relative to it
    f.write_text("import tasks.train\nfrom flows import cli\nS = 'from model.build import x'\n"
                 "M = ['-m', 'tasks.train.entry']\nfrom transfer_laws.tasks import train\n")
    try:
        found = bare_imports(f, {"tasks.train.entry"})
    finally:
        f.unlink()
    assert [b.split(": ")[1] for b in found] == ["tasks.train", "flows", "model.build", "tasks.train.entry"]
