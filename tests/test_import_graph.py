"""The package's import graph, read from the source with `ast`: no cycles, layers that
import only downwards, and no private name imported from another subpackage.

Every import counts, also one inside a function (a lazy import does not remove a cycle,
it hides it). A module of another subpackage may be named by its path
(``from ..ode._bdf import bdf_integrate``, ``from ..sbml import _symbolic``); the names
imported from it must be public. Each check is shown to fail on a small package written
for the purpose.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "wholecell"

#: the layers, lowest first: a unit imports only from units of its own layer or below.
#: A unit is a subpackage or a top-level module; the shared leaves import nothing but
#: each other.
LAYERS = (
    ("_errors", "_types", "_devices", "_status", "_cache", "_html", "_progress", "_executor",
     "_now", "_executables"),
    ("sbml",),
    ("compiler",),
    ("ode",),
    ("ensemble",),
    ("solve", "_result"),
    ("stochastic",),
    ("_simulate", "_fba"),
    ("fitting", "petab", "division", "neural"),
    ("models",),  # the library, and the syn3a builder's population driver (division)
    ("sedml",),  # SED-ML experiments: models from files or the library, run by _simulate
    ("testsuite", "_cli", "__init__"),
)


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root`` (a package)."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports(name: str, path: Path, known: dict[str, Path]):
    """(module imported, names taken from it) for every import statement of a module,
    wherever it stands; ``from pkg import submodule`` counts as importing the submodule."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in known:
                continue
            names = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    yield sub, ()
                else:
                    names.append(alias.name)
            if names:
                yield target, tuple(names)


def graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """The import graph of the package at ``root`` and the private names that cross
    subpackages (as messages)."""
    known = modules(root)
    edges: dict[str, set[str]] = {m: set() for m in known}
    private = []
    for name, path in known.items():
        for target, names in imports(name, path, known):
            if target != name:
                edges[name].add(target)
            if unit(name) != unit(target):
                private += [f"{name} imports {n} from {target}"
                            for n in names if n.startswith("_") and not n.startswith("__")]
    return edges, private


def unit(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def upward(edges: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Imports from a unit of a higher layer (units not in ``layers`` are errors too)."""
    rank = {u: i for i, layer in enumerate(layers) for u in layer}
    bad = []
    for src, targets in edges.items():
        for dst in targets:
            a, b = unit(src), unit(dst)
            if a not in rank or b not in rank:
                bad.append(f"{src} -> {dst}: unit not in LAYERS")
            elif rank[b] > rank[a]:
                bad.append(f"{src} ({a}) imports {dst} ({b}), a higher layer")
    return bad


def test_the_package_has_no_import_cycle():
    edges, _ = graph(PACKAGE)
    assert len(edges) > 40  # the whole package was read
    assert cycles(edges) == []


def test_layers_import_only_downwards():
    edges, _ = graph(PACKAGE)
    assert upward(edges) == []


def test_no_private_name_crosses_a_subpackage():
    _, private = graph(PACKAGE)
    assert private == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(text))
    return root / "pkg"


def test_the_checks_catch_a_bad_package(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low/__init__.py": "",
        "pkg/low/_a.py": "def f():\n    from ..high._b import g  # a lazy import: still a cycle\n",
        "pkg/high/__init__.py": "",
        "pkg/high/_b.py": "from ..low._a import f\nfrom ..low import _a\ng = 1\n",
        "pkg/high/_c.py": (
            "from ..low._a import _hidden\nfrom ._b import _own  # same unit: allowed\n"
        ),
    })
    edges, private = graph(pkg)
    assert edges["pkg.high._b"] == {"pkg.low._a"}  # `from ..low import _a`: the module
    assert cycles(edges) == [["pkg.high._b", "pkg.low._a"]]
    assert private == ["pkg.high._c imports _hidden from pkg.low._a"]
    layers = (("low",), ("high",))
    assert upward(edges, layers) == ["pkg.low._a (low) imports pkg.high._b (high), a higher layer"]
    assert upward(edges, (("high",), ("low",))) != []


@pytest.mark.parametrize("text", ["import pkg.a\n", "from . import a\n", "from .a import x\n"])
def test_a_self_cycle_through_the_package_is_found(tmp_path, text):
    pkg = _write(tmp_path, {"pkg/__init__.py": "from .a import x\n", "pkg/a.py": "x = 1\n"})
    (pkg / "b.py").write_text(text)
    (pkg / "a.py").write_text("import pkg.b\nx = 1\n")
    edges, _ = graph(pkg)
    assert cycles(edges) == [["pkg.a", "pkg.b"]]


def test_import_wholecell_leaves_the_heavy_libraries_for_first_use():
    """`import wholecell` (every Python process, every notebook kernel) loads none of the
    libraries only some calls need: diffrax and its solvers load when a diffrax solver is
    made, pandas, fitting, PEtab, plotting and the rest on first use."""
    import json
    import subprocess
    import sys

    heavy = ("diffrax", "optimistix", "lineax", "pandas", "matplotlib", "petab", "optax",
             "dask", "xarray", "scipy.optimize", "h5py", "anndata")
    out = subprocess.run(
        [sys.executable, "-c", "import json, sys, wholecell\n"
         f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"],
        capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
