"""No import cycle among vidcap's modules, counting imports inside functions too, and no import against
the order of the stages (the layers below).

A function-level import hides a cycle from Python (it runs after both modules loaded) but not from a
reader: `config → schema → train → config` made the schema depend on the training loop. The graph here
has an edge for every ``import vidcap.x`` / ``from vidcap.x import y`` anywhere in a module (``y`` counts as
the submodule ``vidcap.x.y`` when that is a module); a package's ``__init__`` is its own node.
"""
from __future__ import annotations

import ast
from pathlib import Path

import vidcap

ROOT = Path(vidcap.__file__).parent

# Cycles the package still has, each as the sorted module names of one strongly connected component,
# kept visible here instead of being skipped; remove an entry when its cycle is broken.
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def _module_name(path: Path) -> str:
    parts = ["vidcap", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from .x import y
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:  # import vidcap.a.b.c → the deepest module that exists
                    target = target.rpartition(".")[0]
                if target.startswith("vidcap") and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_imports():
    graph = _graph()
    # the trained model reads the Hub only inside TrainedModel.from_hub; the trainer imports at the top
    assert "vidcap.trained.hub" in graph["vidcap.trained.model"]
    assert "vidcap.training.optim" in graph["vidcap.training.trainer"]
    assert "vidcap.inference.generate" in graph["vidcap.training.trainer"]
    # `from vidcap.models.sa_lstm import X` and `from vidcap.models import sa_lstm` name the submodule
    assert "vidcap.models.sa_lstm" in graph["vidcap.config.schema"]
    assert "vidcap.features.motion" in graph["vidcap.features"]


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = set(_cycles(_graph()))
    assert cycles - KNOWN_CYCLES == set(), "new import cycle(s)"
    assert KNOWN_CYCLES - cycles == set(), "a known cycle is gone: remove it from KNOWN_CYCLES"


# ---------------------------------------------------------------------------------------------- layers
# The stages import in one direction: each package imports only packages of earlier layers (and its own).
# Data flows video → features → data → models → training → inference → metrics → outputs, but imports cannot
# follow that order everywhere: training validates with inference's generation, scores with metrics and writes
# what `trained` reads; the config schema lists every stage's choices (their registries), so it sits above
# them and the stages take its values without importing it. docs/architecture.md draws the same order; an
# import against it is a design change: make it here, in the docs, and in one commit.

LAYERS: list[set[str]] = [
    {"errors", "files", "checks", "registry", "version", "device", "precision", "progress", "distributed"},
    {"video"},
    {"features"},
    {"data"},
    {"models"},
    {"metrics"},
    {"trained"},
    {"inference"},
    {"training"},
    {"config"},
    {"outputs"},
    {"reproduce", "demo", "serve"},
    {"cli"},
    {"vidcap", "__main__"},  # the package's own facade (vidcap.Captioner) and `python -m vidcap`
]


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _layer(module: str) -> int:
    stage = _stage(module)
    found = [i for i, layer in enumerate(LAYERS) if stage in layer]
    assert found, f"{module}: package {stage!r} is in no layer; add it to LAYERS (and to docs/architecture.md)"
    return found[0]


def upward_imports() -> list[str]:
    graph = _graph()
    return sorted(f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
                  for a, targets in graph.items() for b in targets if _layer(b) > _layer(a))


def test_no_stage_imports_a_later_one():
    assert upward_imports() == []


def test_every_package_has_a_layer():
    stages = {_stage(m) for m in _graph()}
    assert stages <= set().union(*LAYERS), stages - set().union(*LAYERS)
