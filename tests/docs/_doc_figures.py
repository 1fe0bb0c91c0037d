"""Check that the figures the README and docs quote equal the committed runs they cite.

Two ways to cite, both plain Markdown that renders as usual:

* **a table**: an HTML comment on the line just above it,
  ``<!-- figures: results/ravdess/table15_noise.csv [more CSVs] key=condition[,model] [where=col=value,...] -->``.
  (``+`` is a space in a ``where`` value.) Each row is looked up by its first cells (the ``key``
  columns, matched as text, in the first
  cited CSV that has the row); every header cell that names a column of that CSV is checked
  (others, e.g. the paper's figures, are not). A cell holds one number, or three (value and
  interval: ``44.79 [40.76, 49.24]``, checked against ``COL``, ``COL ci_low`` / ``COL ci_high``,
  else ``ci_low`` / ``ci_high``).
* **one figure**: a link whose target is a committed CSV with the row and column in its
  fragment, ``[44.79](results/ravdess/table15_noise.csv#condition=clean&col=macnn+WA)``
  (``+`` is a space; the text may hold one or three numbers as above). Link targets are
  relative to the Markdown file, as Markdown wants; the CSVs of a table note to the repository.

A quoted number matches when it equals the CSV's value rounded to the quoted decimals (the
CSV's own rounding allowed); ``< 0.001`` means the value is below 0.001. Files must be tracked by
git under ``results/``. Run it as a script to list every mismatch:
``python tests/docs/_doc_figures.py [FILE.md ...]``; with ``--fix`` it rewrites each mismatched
cited number to the run's value at the quoted number of decimals (after a run is recomputed;
review the diff: the prose around a figure is not checked).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/*.md", "benchmarks/README.md")

_TABLE_NOTE = re.compile(r"^<!--\s*figures:\s*(?P<body>.*?)\s*-->\s*$")
_LINK = re.compile(r"\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_NUMBER = re.compile(r"(?P<lt><\s*)?(?P<num>[-+−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", re.I)


@dataclass(frozen=True)
class Mismatch:
    """One figure that does not match (or cannot be checked): where, and why."""

    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


def doc_files(root: Path = REPO) -> list[Path]:
    """The Markdown files whose figures are checked."""
    return sorted({p for pattern in DOCS for p in root.glob(pattern)})


def _tracked(root: Path) -> set[str] | None:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.stdout.splitlines()) if out.returncode == 0 else None


def numbers(text: str) -> list[tuple[float, int, bool]]:
    """``(value, decimals, is_upper_bound)`` of each number in ``text`` (thousands commas and
    Unicode minus understood); decimals -1 marks scientific notation."""
    out = []
    clean = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.replace("**", ""))
    for m in _NUMBER.finditer(clean):
        raw = m["num"].replace("−", "-")
        if "e" in raw.lower():
            decimals = -1
        else:
            decimals = len(raw.split(".")[1]) if "." in raw else 0
        out.append((float(raw), decimals, bool(m["lt"])))
    return out


def _csv_decimals(text: str) -> int:
    text = str(text)
    if "e" in text.lower():
        return 12
    return len(text.split(".")[1]) if "." in text else 0


def matches(quoted: tuple[float, int, bool], csv_text: str) -> bool:
    """Whether a quoted number agrees with the CSV's value (see the module docstring)."""
    value, decimals, below = quoted
    try:
        actual = float(csv_text)
    except (TypeError, ValueError):
        return False
    if below:
        return actual < value
    if decimals < 0:  # 1.75e-05: the quoted significant digits
        digits = len(f"{value:e}".split("e")[0].rstrip("0").split(".")[-1])
        return abs(actual - value) <= 0.5 * 10 ** (-digits) * abs(value) * 1.000001
    csv_decimals = _csv_decimals(csv_text)
    tolerance = 0.5 * 10 ** -decimals
    if csv_decimals > decimals:  # the CSV was rounded too: 10.35 may stand for 10.349
        tolerance += 0.5 * 10 ** -csv_decimals
    return abs(actual - value) <= tolerance * 1.000001


class _Sources:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tracked = _tracked(root)
        self._frames: dict[str, pd.DataFrame] = {}

    def frame(self, rel: str) -> pd.DataFrame:
        """The CSV as text cells; ValueError naming what is wrong with the citation."""
        if not rel.startswith("results/") or not rel.endswith((".csv", ".csv.gz")):
            raise ValueError(f"{rel}: cite a committed run's CSV under results/")
        if not (self.root / rel).is_file():
            raise ValueError(f"{rel}: no such file")
        if self.tracked is not None and rel not in self.tracked:
            raise ValueError(f"{rel}: not tracked by git (cite a committed run)")
        if rel not in self._frames:
            self._frames[rel] = pd.read_csv(self.root / rel, dtype=str, keep_default_na=False)
        return self._frames[rel]


def _format_like(raw: str, value: float) -> str:
    """``value`` written as the quoted ``raw`` number was: its decimals, its explicit sign."""
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    text = f"{value:.{decimals}f}"
    if raw.startswith("+") and value >= 0:
        text = "+" + text
    if raw.startswith("−"):
        text = text.replace("-", "−")
    return text


def fixed_cell(sources: _Sources, rel: str, row: pd.Series, col: str, text: str) -> str:
    """``text`` with each of its one or three numbers set to the run's (``--fix``); the text
    as it was when it cannot be rewritten (a bound, scientific notation, thousands commas)."""
    quoted = numbers(text)
    if len(quoted) not in (1, 3) or any(q[2] or q[1] < 0 for q in quoted) or re.search(r"\d,\d{3}\b", text):
        return text
    frame = sources.frame(rel)
    cols = [col]
    if len(quoted) == 3:
        cols += [f"{col} {b}" if f"{col} {b}" in frame.columns else b for b in ("ci_low", "ci_high")]
    try:
        values = [float(row[c]) for c in cols]
    except (KeyError, TypeError, ValueError):
        return text
    found = list(_NUMBER.finditer(text))
    if len(found) != len(values):
        return text
    out, last = [], 0
    for m, v in zip(found, values):
        out += [text[last:m.start("num")], _format_like(m["num"], v)]
        last = m.end("num")
    return "".join(out) + text[last:]


def _check_cell(sources: _Sources, rel: str, row: pd.Series, col: str, text: str) -> str | None:
    quoted = numbers(text)
    if not quoted:
        return None
    if len(quoted) not in (1, 3):
        return f"{rel} {col}: {text!r} holds {len(quoted)} numbers (quote one, or value [low, high])"
    frame = sources.frame(rel)
    cols = [col]
    if len(quoted) == 3:
        cols += [f"{col} {b}" if f"{col} {b}" in frame.columns else b for b in ("ci_low", "ci_high")]
    for q, c in zip(quoted, cols):
        if c not in frame.columns:
            return f"{rel}: no column {c!r}"
        if not matches(q, row[c]):
            return f"{rel} {c}: quoted {text.strip()!r}, the run has {row[c]}"
    return None


def _select(frame: pd.DataFrame, where: dict[str, str]) -> pd.DataFrame:
    for k, v in where.items():
        if k not in frame.columns:
            raise ValueError(f"no column {k!r}")
        frame = frame[frame[k] == v]
    return frame


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _plain(cell: str) -> str:
    return cell.replace("`", "").replace("**", "").strip()


def _parse_note(body: str) -> tuple[list[str], list[str], dict[str, str]]:
    files, key, where = [], [], {}
    for part in body.split():
        if part.startswith("key="):
            key = part[4:].split(",")
        elif part.startswith("where="):
            where = {k: unquote_plus(v) for k, v in (item.split("=", 1) for item in part[6:].split(","))}
        else:
            files.append(part)
    return files, key, where


def _check_table(sources: _Sources, name: str, start: int, note: str, lines: list[str],
                 fix: bool = False) -> list[Mismatch]:
    files, key, where = _parse_note(note)
    if not files or not key:
        return [Mismatch(name, start, "a figures note needs at least one CSV and key=COLUMN[,COLUMN]")]
    table = []
    for line in lines[start:]:
        if not line.lstrip().startswith("|"):
            break
        table.append(line)
    if len(table) < 3:
        return [Mismatch(name, start, "a figures note must stand just above a Markdown table")]
    header = [_plain(c) for c in _cells(table[0])]
    out, checked = [], 0
    for offset, line in enumerate(table[2:], start=start + 3):
        cells = _cells(line)
        wanted = {k: _plain(c) for k, c in zip(key, cells)}
        found = None
        for rel in files:
            try:
                sel = _select(_select(sources.frame(rel), where), wanted)
            except ValueError as exc:
                out.append(Mismatch(name, offset, f"{rel}: {exc}"))
                return out
            if len(sel) == 1:
                found = (rel, sel.iloc[0])
                break
            if len(sel) > 1:
                out.append(Mismatch(name, offset, f"{rel}: {wanted} matches {len(sel)} rows; add key columns"))
                break
        if found is None:
            if not out or out[-1].line != offset:
                out.append(Mismatch(name, offset, f"no row {wanted} in {', '.join(files)}"))
            continue
        rel, row = found
        for col, cell in zip(header[len(key):], cells[len(key):]):
            if col in row.index:
                checked += 1
                problem = _check_cell(sources, rel, row, col, cell)
                if problem:
                    out.append(Mismatch(name, offset, problem))
                    if fix:
                        raw = line.split("|")
                        i = 1 + cells.index(cell)
                        raw[i] = raw[i].replace(cell, fixed_cell(sources, rel, row, col, cell))
                        lines[offset - 1] = line = "|".join(raw)
                        cells = _cells(line)
    if not checked and not out:
        out.append(Mismatch(name, start, "no header cell names a column of the cited CSV: nothing checked"))
    return out


def _check_link(sources: _Sources, name: str, number: int, text: str, target: str,
                base: Path, fixes: dict | None = None) -> list[Mismatch]:
    path, _, fragment = target.partition("#")
    if not fragment or not path.endswith((".csv", ".csv.gz")):
        return []
    try:  # links are relative to the Markdown file, sources to the repository
        path = (base / path).resolve().relative_to(sources.root.resolve()).as_posix()
    except ValueError:
        return [Mismatch(name, number, f"{target}: outside the repository")]
    pairs = dict(item.split("=", 1) for item in fragment.split("&") if "=" in item)
    pairs = {unquote_plus(k): unquote_plus(v) for k, v in pairs.items()}
    col = pairs.pop("col", None)
    if col is None:
        return [Mismatch(name, number, f"{target}: name the column with col=NAME")]
    try:
        sel = _select(sources.frame(path), pairs)
    except ValueError as exc:
        return [Mismatch(name, number, f"{path}: {exc}")]
    if len(sel) != 1:
        return [Mismatch(name, number, f"{path}: {pairs} matches {len(sel)} rows, not one")]
    problem = _check_cell(sources, path, sel.iloc[0], col, text)
    if problem and fixes is not None:
        fixes[f"[{text}]({target}"] = f"[{fixed_cell(sources, path, sel.iloc[0], col, text)}]({target}"
    return [Mismatch(name, number, problem)] if problem else []


def check_file(path: Path, root: Path = REPO, sources: _Sources | None = None,
               fix: bool = False) -> tuple[list[Mismatch], int]:
    """Every citation in one Markdown file: the mismatches and the number of citations; with
    ``fix`` the file is rewritten with the mismatched figures set to the runs' values."""
    sources = sources or _Sources(root)
    name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out, cited = [], 0
    for i in range(len(lines)):
        note = _TABLE_NOTE.match(lines[i].strip())
        if note:
            cited += 1
            out += _check_table(sources, name, i + 1, note["body"], lines, fix)
        fixes: dict[str, str] = {}
        for link in _LINK.finditer(lines[i]):
            if "#" in link["target"] and link["target"].split("#")[0].endswith((".csv", ".csv.gz")):
                cited += 1
                out += _check_link(sources, name, i + 1, link["text"], link["target"], path.parent,
                                   fixes if fix else None)
        for old, new in fixes.items():
            lines[i] = lines[i].replace(old, new)
    if fix and out:
        path.write_text("\n".join(lines) + ("\n" if text.endswith("\n") else ""), encoding="utf-8")
    return out, cited


def main(argv: list[str]) -> int:
    fix = "--fix" in argv
    files = [Path(a).resolve() for a in argv if a != "--fix"] or doc_files()
    sources = _Sources(REPO)
    total, bad = 0, []
    for f in files:
        problems, cited = check_file(f, REPO, sources, fix)
        total += cited
        bad += problems
    for m in bad:
        print(m)
    print(f"{total} citations in {len(files)} files, {len(bad)} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
