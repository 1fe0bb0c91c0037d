"""Every writer of ``audit`` goes through one atomic writer (``audit/_atomic.py``): a static
check of the source, so a writer on a path no test runs is caught too (the dynamic check, an
audit hook over a whole run, is ``test_kills.py::test_no_writer_of_a_run_opens_a_file_in_the_run_folder``)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the writer itself; resumable streaming downloads and archive extraction (their own .partial
# protocol); the run folder's commit, which only renames whole files
ALLOWED = {"audit/_atomic.py", "audit/data/_download.py", "audit/data/_extract.py",
           "audit/workflows/staging.py"}


def _writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
        if name in ("write_text", "write_bytes") or (owner in ("os", "shutil") and name in
                                                      ("replace", "rename", "move", "copyfile", "copy")):
            found.append((node.lineno, f"{owner + '.' if owner else ''}{name}"))
        elif name == "to_csv" and node.args and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "buf"):
            found.append((node.lineno, "to_csv(path)"))
        elif name == "savefig" and node.args and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "buf"):
            found.append((node.lineno, "savefig(path)"))
        elif name == "open" and isinstance(f, ast.Name):
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+"):
                found.append((node.lineno, f"open(..., {mode.value!r})"))
    return found


def test_every_audit_writer_goes_through_the_atomic_writer():
    offenders = []
    for path in sorted((REPO / "audit").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in ALLOWED:
            continue
        offenders += [f"{rel}:{line}: {what}" for line, what in _writes(ast.parse(path.read_text()))]
    assert offenders == []


def test_the_check_sees_a_hand_rolled_writer():
    code = ("tmp = path.with_name(path.name + '.tmp')\ntmp.write_text(text)\nos.replace(tmp, path)\n"
            "df.to_csv(tmp)\nfig.savefig(path)\nopen(p, 'w')\nfig.savefig(buf)\ndf.to_csv()\n")
    assert [w for _, w in _writes(ast.parse(code))] == [
        "tmp.write_text", "os.replace", "to_csv(path)", "savefig(path)", "open(..., 'w')"]
