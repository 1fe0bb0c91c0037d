"""The manifest: one row per utterance, a pandas DataFrame in memory and a CSV on disk.

Columns: ``utt_id, path, corpus, speaker, gender, emotion, duration_s, sample_rate, channels``,
then corpus extras (``intensity``, ``statement``, ``session`` ...), then ``fold`` once assigned.
``path`` is absolute in memory and written relative to the manifest's folder when inside it.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pandas as pd

from audit._atomic import atomic_write_text
from audit.data._labels import GENDERS
from audit.data._schema import CORE_COLUMNS, STRING_COLUMNS, order_columns
from audit.data._validate import validate_manifest
from audit.errors import AuditError

__all__ = ["CORE_COLUMNS", "GENDERS", "read_manifest", "write_manifest", "validate_manifest",
           "manifest_hash", "order_columns"]

def _coerce_numeric(series: pd.Series) -> pd.Series:
    """Numbers stay numbers across a CSV round trip; text columns stay text."""
    stripped = series.astype(str).str.strip()
    present = stripped != ""
    converted = pd.to_numeric(stripped.where(present), errors="coerce")
    if present.any() and converted[present].notna().all():
        if (converted[present] % 1 == 0).all() and not stripped[present].str.contains(r"[.eE]").any():
            return converted.astype("Int64") if not present.all() else converted.astype("int64")
        return converted.astype("float64")
    return series


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest CSV (or a generic ``path, emotion, speaker, gender[, ...]`` CSV).

    Relative paths are resolved against the CSV's folder. Missing ``utt_id`` is taken from
    the file stem, missing ``corpus`` is ``generic``. Header columns (``duration_s`` ...) that
    are absent are filled by ``validate_manifest``. The result is not yet validated.
    """
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"{path}: manifest file not found")
    try:
        # Everything as text first so speaker '01' or a speaker named 'NA' survives intact.
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise AuditError(f"{path}: not a readable CSV manifest ({' '.join(str(exc).split())})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("path", "emotion", "speaker", "gender") if c not in df.columns]
    if missing:
        raise AuditError(f"{path}: manifest is missing column(s) {', '.join(missing)} "
                         f"(needs path, emotion, speaker, gender)")
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise AuditError(f"{path}: duplicate column(s) {', '.join(dup)}")
    base = path.resolve().parent
    df["path"] = [str((base / p).resolve()) if p.strip() else "" for p in df["path"]]
    if "utt_id" not in df.columns:
        df.insert(0, "utt_id", [Path(p).stem for p in df["path"]])
    if "corpus" not in df.columns:
        df["corpus"] = "generic"
    for col in df.columns:
        if col in STRING_COLUMNS:
            df[col] = df[col].astype(str).str.strip()
        else:
            df[col] = _coerce_numeric(df[col])
    return order_columns(df).reset_index(drop=True)


def _relative_paths(paths: pd.Series, folder: Path) -> list[str]:
    out = []
    for p in paths:
        p = Path(p)
        try:
            out.append(p.resolve().relative_to(folder).as_posix())
        except ValueError:  # outside the manifest's folder: keep it absolute
            out.append(str(p))
    return out


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` to ``path`` atomically (temporary file + rename); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = order_columns(df.copy())
    out["path"] = _relative_paths(out["path"], path.parent.resolve())
    if "duration_s" in out.columns:
        out["duration_s"] = out["duration_s"].astype(float).round(6)
    return atomic_write_text(path, out.to_csv(index=False, lineterminator="\n"))


def manifest_hash(df: pd.DataFrame) -> str:
    """sha256 hex of the manifest's canonical content, independent of where the corpus lies.

    Rows are sorted by ``utt_id``, extras by name, and paths made relative to the deepest
    folder holding all files, so two copies of a corpus in different places hash the same.
    """
    out = df.copy()
    if len(out) and "path" in out.columns:
        paths = [os.path.abspath(p) for p in out["path"]]
        root = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0])
        if len(paths) > 1 and root in paths:  # a single shared file: use its folder
            root = os.path.dirname(root)
        out["path"] = [Path(os.path.relpath(p, root)).as_posix() for p in paths]
    if "duration_s" in out.columns:
        out["duration_s"] = out["duration_s"].astype(float).round(6)
    core = [c for c in CORE_COLUMNS if c in out.columns]
    extras = sorted(c for c in out.columns if c not in CORE_COLUMNS and c != "fold")
    out = out[core + extras + (["fold"] if "fold" in out.columns else [])]
    if "utt_id" in out.columns:
        out = out.sort_values("utt_id", kind="mergesort")
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return hashlib.sha256(buf.getvalue().encode("utf-8")).hexdigest()
