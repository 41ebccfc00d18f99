"""The import contract (ARCHITECTURE.md, "Data flows one way"), checked on the whole package.

Every ``import`` statement of every module (top level and inside functions, read with ``ast``) is
resolved to the rgfactor module it names. A module may import from its own layer and the layers
before it in data -> spec -> generative -> inference -> posterior -> report, never from a later one;
the report layer never imports inference; the front doors (estimators, CLI, simulator, model
selection, sources) may import any layer but no layer imports a front door; and no two modules
import each other, directly or in a longer circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rgfactor"
LAYERS = ["data", "spec", "generative", "inference", "posterior", "report"]
BASE = {"rgfactor.errors", "rgfactor.dims"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str):
    """Index of the module's layer; None for the base modules; 'front' for front doors."""
    if module in BASE:
        return None
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return "front"


def imports(module: str) -> set[str]:
    """rgfactor modules imported anywhere in ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:   # relative import
                base = module.split(".")[: -node.level] if not MODULES[module].name == "__init__.py" else \
                    module.split(".")[: len(module.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("rgfactor") and name != module and name != "rgfactor":
                out.add(name)
    return out


GRAPH = {m: imports(m) for m in MODULES}


def test_graph_is_not_empty():
    assert len(GRAPH) > 40 and GRAPH["rgfactor.inference.cavi"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_later_layer_or_a_front_door(module):
    mine = layer(module)
    for dep in GRAPH[module]:
        theirs = layer(dep)
        if theirs is None or mine == "front":
            continue
        assert theirs != "front", f"{module} (layer {LAYERS[mine]}) imports the front door {dep}"
        assert mine is not None, f"base module {module} imports {dep}"
        assert theirs <= mine, f"{module} ({LAYERS[mine]}) imports {dep} from the later layer {LAYERS[theirs]}"
        if LAYERS[mine] == "report":
            assert LAYERS[theirs] != "inference", f"{module}: the report never calls inference ({dep})"


def test_no_import_cycles():
    """Tarjan's strongly connected components over the module graph: every component is one module."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_a_violation_is_detected(tmp_path, monkeypatch):
    """The checker itself can fail: a generative module importing the posterior layer is caught."""
    monkeypatch.setitem(GRAPH, "rgfactor.generative.model", GRAPH["rgfactor.generative.model"] | {"rgfactor.posterior.idata"})
    with pytest.raises(AssertionError, match="later layer posterior"):
        test_no_import_from_a_later_layer_or_a_front_door("rgfactor.generative.model")
    monkeypatch.setitem(GRAPH, "rgfactor.posterior.idata", GRAPH["rgfactor.posterior.idata"] | {"rgfactor.generative.model"})
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()
