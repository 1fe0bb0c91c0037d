"""Packages talk through their public surfaces: no module imports another package's private
(``_name``) module, and no package takes a private name from another top-level package; and
``model`` and ``perturbations`` never import ``audit``."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("audit", "model", "perturbations", "benchmarks")
# The package that owns a subpackage's private modules, as docs/architecture.md documents it.
OWNERS = {"audit.analysis.metrics": "audit.analysis"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import in a file, relative imports resolved."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            out.append((base, [a.name for a in node.names]))
    return out


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _is_module(parts: list[str]) -> bool:
    base = REPO.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def violations(paths) -> list[str]:
    found = []
    for path in paths:
        importer = _module_name(path)
        for module, names in _imports(path):
            parts = module.split(".")
            # `from pkg import _mod` names a private module too
            candidates = [parts] + [[*parts, n] for n in names if _private(n) and _is_module([*parts, n])]
            for cand in candidates:
                idx = next((i for i, p in enumerate(cand) if _private(p)), None)
                if idx is None or idx == 0:
                    continue
                if cand[0] not in ("audit", "model", "perturbations"):
                    continue  # third-party internals, and the tests' helpers the benchmarks reuse
                owner = ".".join(cand[:idx])
                owner = OWNERS.get(owner, owner)
                target = ".".join(cand[: idx + 1])
                inside = importer == owner or importer.startswith(owner + ".")
                if not inside:
                    found.append(f"{importer} imports {target} (private to {owner})")
            top = parts[0]
            if top in ("audit", "model", "perturbations") and importer.split(".")[0] != top:
                found += [f"{importer} imports the private name {module}.{n}" for n in names if _private(n)]
            if importer.split(".")[0] in ("model", "perturbations") and top == "audit":
                found.append(f"{importer} imports audit")
    return found


def test_no_private_imports_across_packages():
    files = [p for root in ROOTS for p in sorted((REPO / root).rglob("*.py"))]
    assert len(files) > 100
    assert violations(files) == []


def test_the_check_sees_private_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "audit" / "engine"
    pkg.mkdir(parents=True)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "_seed.py").write_text("")
    (pkg / "x.py").write_text("from perturbations._noise import NoiseAtSNR\nfrom model import _seed\n"
                              "from audit.engine._lifeline import exit_with_driver\n"
                              "from model.checkpoint import _atomic_write_bytes\n")
    (tmp_path / "model" / "y.py").write_text("from audit.errors import AuditError\nfrom model._seed import numpy_rng\n")
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    assert violations([pkg / "x.py", tmp_path / "model" / "y.py"]) == [
        "audit.engine.x imports perturbations._noise (private to perturbations)",
        "audit.engine.x imports model._seed (private to model)",
        "audit.engine.x imports the private name model._seed",
        "audit.engine.x imports the private name model.checkpoint._atomic_write_bytes",
        "model.y imports audit"]
