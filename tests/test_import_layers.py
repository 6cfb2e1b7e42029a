"""Imports inside flimage_app run one way: no module imports one that imports it back.

The rule enforced here, on every ``import`` / ``from … import`` statement in
``flimage_app/`` (at module level and inside functions alike, since a
function-level import is a dependency too; only the implicit import of a
parent package is not counted):

* no import cycle among the modules of ``flimage_app.model`` and
  ``flimage_app.cli`` (a cycle through ``flimage_app.gui`` is reported by the
  script but owned by the GUI);
* ``flimage_app.model`` imports nothing from ``flimage_app.gui`` or
  ``flimage_app.cli`` (the library is Qt-free and knows no front end);
* ``flimage_app.model.names`` (file-format names) imports nothing from
  ``flimage_app`` at all, so that every module can use it;
* the provenance record and the file layer (``names``, ``series``,
  ``provenance``) import no processing engine; re-applying a recipe
  (``flimage_app.model.recipes``) and flimage's processing methods
  (``flimage_app.model.flseries``) sit above the engines.

Run ``python tests/test_import_layers.py`` to print the import graph's cycles.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "flimage_app"
CHECKED = ("flimage_app.model", "flimage_app.cli")
ENGINES = ("flimage_app.model.bleach", "flimage_app.model.denoise",
           "flimage_app.model.background_apply", "flimage_app.model.tiffio",
           "flimage_app.model.recipes", "flimage_app.model.flseries",
           "flimage_app.model.loader")
BELOW_ENGINES = ("flimage_app.model.names", "flimage_app.model.series",
                 "flimage_app.model.provenance", "flimage_app.model.fastwrite",
                 "flimage_app.model.image", "flimage_app.model.h5io")


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of the package."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """Absolute name of ``from <level dots><name> import …`` written in `module`."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """Module → the package modules it imports (module- and function-level)."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, is_package, node.level, node.module)
                # `from package import submodule` imports the submodule
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules
                           else source for alias in node.names]
            for target in targets:
                # `import a.b.c` depends on a.b.c; keep the longest known prefix
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _edges_into(graph, sources: tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, imported in graph.items()
                  if _within(module, sources) for target in imported
                  if _within(target, targets))


# ---------------------------------------------------------------- tests
def test_no_import_cycle_in_model_or_cli():
    bad = [cycle for cycle in cycles(import_graph())
           if any(_within(module, CHECKED) for module in cycle)]
    assert bad == [], "import cycles: " + "; ".join(" ⇄ ".join(cycle) for cycle in bad)


def test_model_imports_no_front_end():
    assert _edges_into(import_graph(), ("flimage_app.model",),
                       ("flimage_app.gui", "flimage_app.cli")) == []


def test_file_format_names_import_nothing_of_the_app():
    graph = import_graph()
    assert graph["flimage_app.model.names"] == set()


def test_record_and_file_layer_import_no_engine():
    assert _edges_into(import_graph(), BELOW_ENGINES, ENGINES) == []


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    """A cycle made only by an import inside a function is found (the checker can fail)."""
    package = tmp_path / "flimage_app"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model" / "__init__.py").write_text("from .a import f\n")
    (package / "model" / "a.py").write_text("from . import b\n\ndef f():\n    return b\n")
    (package / "model" / "b.py").write_text("def g():\n    from .a import f\n    return f\n")
    (package / "model" / "c.py").write_text("from flimage_app.model import b\n")
    graph = import_graph(package)
    assert graph["flimage_app.model.c"] == {"flimage_app.model.b"}
    assert cycles(graph) == [["flimage_app.model.a", "flimage_app.model.b"]]


if __name__ == "__main__":
    found = cycles(import_graph())
    for cycle in found:
        print(" ⇄ ".join(cycle))
    print(f"{len(found)} import cycle(s) in flimage_app")
    sys.exit(1 if found else 0)
