"""The package's layering (docs/ARCHITECTURE.md, "Layout"), read from the source with ``ast``: every import
counts, those inside functions too, since a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lakehouse_ml"
# lowest first: a layer may import its own layer and the layers before it, never one after it
LAYERS = {
    "platform": 0,
    "model_artifact": 1,
    "stages": 2,
    "wiring": 3,
    "cli": 4,
}
# a stage may import only the stages listed before it
STAGES = (
    "simulator",
    "ingest",
    "features",
    "training",
    "registry",
    "serving",
    "predictions",
    "monitoring",
    "governance",
)
WIRING = ("assets", "resources", "sensors", "orchestration", "definitions")


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(path, root): path for path in root.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module in modules:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    modules = package_modules(root)
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> tuple[int, int]:
    """(layer, rank within the stages) of a module of the package."""
    top = top_package(module)
    if top in STAGES:
        return LAYERS["stages"], STAGES.index(top)
    if top in WIRING:
        return LAYERS["wiring"], 0
    if top in LAYERS:
        return LAYERS[top], 0
    raise AssertionError(f"{module}: lakehouse_ml/{top} is in no layer of tests/layout/test_imports.py")


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in graph.items():
        if module == "lakehouse_ml":
            continue
        layer, rank = layer_of(module)
        for target in imported:
            if target == "lakehouse_ml":
                continue
            target_layer, target_rank = layer_of(target)
            same_package = top_package(target) == top_package(module)
            if target_layer > layer or (
                layer == target_layer == LAYERS["stages"] and not same_package and target_rank > rank
            ):
                wrong.append(f"{module} imports {target}")
    return sorted(wrong)


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles():
    assert import_cycles(import_graph()) == []


def test_each_layer_imports_only_the_layers_below_it():
    assert layering_violations(import_graph()) == []


def test_the_package_root_holds_definitions_and_packages():
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert "definitions.py" in modules
    assert len(modules) <= 4, modules
    for folder in (p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert (folder / "__init__.py").is_file(), f"{folder.name} is not a package"
        layer_of(f"lakehouse_ml.{folder.name}")


def test_only_the_adapter_uses_dagster_private_names():
    adapter = PACKAGE / "orchestration" / "dagster_private.py"
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        uses = "dagster._" in text or "_cli_version" in text or ".asset_layer" in text
        assert path == adapter or not uses, f"{path} uses a private Dagster name outside the adapter"


def test_the_shipped_package_holds_no_test_code():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name.split(".")[0] in {"tests", "bench", "pytest"}}, path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # predictions/table.py <-> predictions/migration.py, as before the layout change
            {
                "predictions/table.py": "def f():\n    from lakehouse_ml.predictions.migration import m\n",
                "predictions/migration.py": "from lakehouse_ml.predictions.table import COLUMNS\n",
            },
            [["lakehouse_ml.predictions.migration", "lakehouse_ml.predictions.table"]],
        ),
        (  # serving/artifact.py <-> serving/onnx_compile.py, as before the layout change
            {
                "serving/artifact.py": "from lakehouse_ml.serving.onnx_compile import ONNX_FILE\n",
                "serving/onnx_compile.py": "def f():\n    from lakehouse_ml.serving.artifact import F\n",
            },
            [["lakehouse_ml.serving.artifact", "lakehouse_ml.serving.onnx_compile"]],
        ),
    ],
)
def test_the_cycle_check_finds_the_old_circles(tmp_path, files, expected):
    root = tmp_path / "lakehouse_ml"
    for name, text in {"__init__.py": "", **files}.items():
        for folder in [root, *(root / Path(name)).parents]:
            if folder.is_relative_to(root):
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "__init__.py").touch()
        (root / name).write_text(text)
    assert import_cycles(import_graph(root)) == expected


def test_the_layer_check_finds_a_stage_importing_the_wiring_or_a_later_stage():
    graph = {
        "lakehouse_ml.training.models": {"lakehouse_ml.resources.registry", "lakehouse_ml.serving.names"},
        "lakehouse_ml.platform.settings": {"lakehouse_ml.serving.manifest"},
        "lakehouse_ml.serving.model": {"lakehouse_ml.features.store", "lakehouse_ml.cli.serve"},
    }
    assert layering_violations(graph) == [
        "lakehouse_ml.platform.settings imports lakehouse_ml.serving.manifest",
        "lakehouse_ml.serving.model imports lakehouse_ml.cli.serve",
        "lakehouse_ml.training.models imports lakehouse_ml.resources.registry",
        "lakehouse_ml.training.models imports lakehouse_ml.serving.names",
    ]
