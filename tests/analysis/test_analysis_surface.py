"""The analysis package's one public surface: every name resolves, the trainer's import stays light."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import audit.analysis as analysis

_PACKAGE = Path(analysis.__file__).parent


def _defined_in(name: str) -> list[str]:
    """The modules of audit/analysis whose source defines ``name`` at top level and lists it in
    their ``__all__`` (read from the source, not from the package's lazy table)."""
    found = []
    for path in sorted(_PACKAGE.glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined, exported = set(), set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        defined.add(target.id)
                        if target.id == "__all__":
                            exported = set(ast.literal_eval(node.value))
        if name in defined and name in exported:
            found.append(f"audit.analysis.{path.stem}")
    return found


@pytest.mark.parametrize("name", analysis.__all__)
def test_every_public_name_resolves(name):
    """Each name is the object its one defining module exports (not a stale or wrong mapping)."""
    value = getattr(analysis, name)
    if name == "metrics":  # the metric functions' subpackage
        assert value is importlib.import_module("audit.analysis.metrics")
        return
    modules = _defined_in(name)
    assert len(modules) == 1, f"{name} is defined and exported by {modules or 'no module'}"
    assert value is getattr(importlib.import_module(modules[0]), name)
    if callable(value) and hasattr(value, "__module__"):
        assert value.__module__ == modules[0]


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        analysis.no_such_name  # noqa: B018


def test_metrics_import_does_not_load_fairlearn_or_scipy():
    # `audit train` imports the metric functions only; the bootstrap's fairlearn and the paired
    # tests' scipy must not come with them
    code = "import sys, audit.analysis.metrics; print(sorted(m for m in ('fairlearn', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
