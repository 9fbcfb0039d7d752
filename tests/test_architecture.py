"""Dependencies point one way: a lower floor never imports a higher one, not even inside a function."""

import ast
import subprocess
import sys
from pathlib import Path

import jpegdl

PACKAGE = Path(jpegdl.__file__).parent

FLOORS = {
    "utils": 0, "limits": 0, "checkpoints": 0, "jpeg": 0,
    "files": 1,
    "tables": 2, "layers": 2, "models": 2, "data": 2,
    "j4d": 3, "distill": 3, "robust": 3, "evaluate": 3, "edic": 3, "weighting": 3, "sparse": 3, "plots": 3,
    "runs": 4,
    "train": 5,
    "cli": 6,
}  # fmt: skip


def _unit(module: str) -> str | None:
    """``jpegdl.j4d.learn`` -> ``j4d``; ``jpegdl`` itself -> ``None``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "jpegdl" and len(parts) > 1 else None


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if node.module == "jpegdl"}
    return {name for name in found if name.split(".")[0] == "jpegdl"}


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        source = relative.parts[0] if relative.parts[0] != "__init__" else None
        if source is None:
            continue
        units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
        targets = ({_unit(name) for name in _imports(path)} & units) - {source}
        edges.setdefault(source, set()).update(targets)
    return edges


def test_every_module_sits_on_a_floor():
    assert set(_edges()) <= set(FLOORS), set(_edges()) - set(FLOORS)


def test_no_import_points_up():
    upward = [(src, dst) for src, targets in _edges().items() for dst in targets if FLOORS[dst] > FLOORS[src]]
    assert not upward, upward


def test_no_import_cycles_between_units():
    edges = _edges()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        nexts = edges.get(start, ())
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in nexts)

    cycles = [unit for unit in edges if reaches(unit, unit, {unit})]
    assert not cycles, cycles


def test_importing_a_method_does_not_load_the_trainer():
    code = ("import sys, jpegdl.distill, jpegdl.j4d, jpegdl.robust, jpegdl.evaluate; print(sorted(m for m in"
            " sys.modules if m.startswith(('jpegdl.train', 'jpegdl.runs', 'jpegdl.cli'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
