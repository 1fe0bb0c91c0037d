"""``validate_manifest``: the checks every manifest passes before anything uses it."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from audit.data._labels import GENDERS, canonical_emotion, canonical_gender
from audit.data._schema import order_columns
from audit.data.audio import read_header
from audit.data.problems import ProblemLog
from audit.errors import AuditError

__all__ = ["validate_manifest", "reject"]


def reject(message: str, *, skip_bad: bool, problems: ProblemLog | None, stage: str = "manifest",
           utt_id: str = "", path: str = "") -> None:
    """Raise ``AuditError(message)``, or record it in ``problems`` when ``skip_bad``.

    The raised message says how to go on without the item: every rejected item is one that
    ``--skip-bad`` (``skip_bad=True``) would skip and record instead.
    """
    if not skip_bad:
        raise AuditError(f"{message} (pass --skip-bad to skip it and record it in problems.csv)")
    if problems is not None:
        problems.add(stage, message, utt_id=utt_id, path=path)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _same_file(source, first_utt: str, first: dict, first_kept: bool, utt: str, labels: dict,
               path: str) -> tuple[str, str | None]:
    """The problems of a row naming a file an earlier row named: (this row's, the earlier row's
    or None). With the same labels the file counts once, as the earlier row; with conflicting
    labels neither row is kept, and the message names the labels that differ."""
    where = f"{source}: utterance '{utt}': same file as utterance '{first_utt}' ({path})"
    clash = [f"{k} {first[k]} vs {labels[k]}" for k in labels if first[k] != labels[k]]
    if not clash:
        return (f"{where}; counted once, as '{first_utt}'" if first_kept
                else f"{where}, whose labels conflict with another row's; not kept"), None
    why = f"conflicting labels: {', '.join(clash)}; neither row is kept"
    theirs = (f"{source}: utterance '{first_utt}': same file as utterance '{utt}' ({path}) "
              f"with {why}") if first_kept else None
    return f"{where} with {why}", theirs


def validate_manifest(df: pd.DataFrame, source: str | os.PathLike = "manifest", *,
                      skip_bad: bool = False, problems: ProblemLog | None = None,
                      check_files: bool = True) -> pd.DataFrame:
    """Check a manifest and return a clean copy (canonical labels, columns in order).

    Checks: required columns; non-empty ``utt_id``/``path``/``speaker``/``emotion``; ``gender``
    in ``female|male|unknown``; unique ``utt_id``; one row per file (the same real path under
    a second id is a problem; with conflicting labels both rows are); integer ``fold`` >= 0 if
    present; and, with
    ``check_files``, that every file's header is readable (missing ``duration_s``,
    ``sample_rate``, ``channels`` are filled from it). A failed row raises ``AuditError`` naming
    ``source``, the utterance and the problem, or with ``skip_bad`` is dropped and recorded in
    ``problems`` (stage ``manifest``).
    """
    required = ("utt_id", "path", "speaker", "gender", "emotion")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise AuditError(f"{source}: manifest is missing column(s) {', '.join(missing)}")
    if df.empty:
        raise AuditError(f"{source}: manifest has no rows")
    out = df.copy().reset_index(drop=True)
    if "corpus" not in out.columns:
        out["corpus"] = "generic"
    need_header = check_files or any(c not in out.columns for c in ("duration_s", "sample_rate", "channels"))
    for col, dtype in (("duration_s", float), ("sample_rate", float), ("channels", float)):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(dtype) if col in out.columns else np.nan

    keep = np.ones(len(out), dtype=bool)
    seen: set[str] = set()
    files: dict[str, int] = {}  # real path -> row of the first utterance naming that file
    genders, emotions = [], []
    for i, row in enumerate(out.itertuples(index=False)):
        utt, path = _text(row.utt_id), _text(row.path)
        where = f"{source}: utterance '{utt or f'row {i + 1}'}'"
        gender = canonical_gender(_text(row.gender))
        emotion = canonical_emotion(_text(row.emotion))
        genders.append(gender or "")
        emotions.append(emotion)
        problem = None
        if not path:
            problem = f"{where}: missing path"
        elif not utt:
            problem = f"{where}: missing utt_id"
        elif utt in seen:
            problem = f"{where}: duplicate utt_id '{utt}' (ids must be unique)"
        elif not _text(row.speaker):
            problem = f"{where}: missing speaker"
        elif not _text(row.gender):
            problem = f"{where}: missing gender"
        elif gender is None:
            problem = f"{where}: unknown gender '{_text(row.gender)}' (expected one of {', '.join(GENDERS)})"
        elif not emotion:
            problem = f"{where}: missing emotion"
        if problem is None and (need_header and (check_files or np.isnan(row.duration_s))):
            try:
                header = read_header(path)
            except AuditError as exc:
                problem = f"{where}: {exc}"
            else:
                out.loc[i, ["duration_s", "sample_rate", "channels"]] = (
                    header.duration_s, header.sample_rate, header.channels)
        theirs = None
        if problem is None and (first := files.setdefault(os.path.realpath(path), i)) != i:
            earlier = {"speaker": _text(out.at[first, "speaker"]), "gender": genders[first],
                       "emotion": emotions[first]}
            labels = {"speaker": _text(row.speaker), "gender": gender, "emotion": emotion}
            problem, theirs = _same_file(source, _text(out.at[first, "utt_id"]), earlier,
                                         bool(keep[first]), utt, labels, path)
        if problem is not None:
            keep[i] = False
            reject(problem, skip_bad=skip_bad, problems=problems, utt_id=utt, path=path)
        if theirs is not None:  # neither label can be trusted: the earlier row goes too
            keep[first] = False
            reject(theirs, skip_bad=skip_bad, problems=problems,
                   utt_id=_text(out.at[first, "utt_id"]), path=_text(out.at[first, "path"]))
        if utt:
            seen.add(utt)

    out["gender"] = genders
    out["emotion"] = emotions
    for col in ("utt_id", "path", "speaker", "corpus"):
        out[col] = [_text(v) for v in out[col]]
    out = out[keep].reset_index(drop=True)
    if out.empty:
        raise AuditError(f"{source}: no usable utterances (every row had a problem; see problems.csv)")
    if out[["duration_s", "sample_rate", "channels"]].isna().any().any():
        bad = out.loc[out[["duration_s", "sample_rate", "channels"]].isna().any(axis=1), "utt_id"].iloc[0]
        raise AuditError(f"{source}: utterance '{bad}': missing duration_s/sample_rate/channels")
    out["sample_rate"] = out["sample_rate"].astype("int64")
    out["channels"] = out["channels"].astype("int64")
    if "fold" in out.columns:
        folds = pd.to_numeric(out["fold"], errors="coerce")
        bad = folds.isna() | (folds < 0) | (folds % 1 != 0)
        if bad.any():
            row = out.loc[bad.idxmax()]
            raise AuditError(f"{source}: utterance '{row['utt_id']}': fold '{row['fold']}' is not "
                             f"a non-negative integer")
        out["fold"] = folds.astype("int64")
    return order_columns(out)

