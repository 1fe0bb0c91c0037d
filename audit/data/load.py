"""``load_data``: any supported source (corpus folder or manifest CSV) -> validated manifest."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pandas as pd

from audit.data.corpora import ADAPTERS, list_corpora
from audit.data.folds import assign_folds, default_n_folds
from audit.data.manifest import read_manifest, validate_manifest
from audit.data.problems import ProblemLog
from audit.errors import AuditError

__all__ = ["load_data", "detect_corpus", "MANIFEST_NAME"]

MANIFEST_NAME = "manifest.csv"
_log = logging.getLogger(__name__)
_ALIASES = {"crema-d": "cremad", "crema_d": "cremad", "emo-db": "emodb", "berlin": "emodb",
            "generic": "manifest", "csv": "manifest", "synth": "manifest"}


def _missing_source(path: Path) -> AuditError:
    """The error for a source that does not exist: a symlink loop and a broken symlink say so."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return AuditError(f"{path}: symlink loop (the link leads back to itself); "
                              "point it at the corpus folder")
    if path.is_symlink():
        return AuditError(f"{path}: broken symlink to {os.readlink(path)}, which does not exist")
    return AuditError(f"{path}: no such file or folder")


def detect_corpus(root: str | os.PathLike) -> str:
    """Name of the corpus layout in folder ``root`` (``manifest`` if it holds ``manifest.csv``)."""
    root = Path(root)
    if not root.exists():
        raise _missing_source(root)
    if not root.is_dir():
        raise AuditError(f"{root}: not a folder")
    try:
        next(iter(os.scandir(root)), None)
    except OSError as exc:
        raise AuditError(f"{root}: cannot read folder ({exc.strerror or type(exc).__name__})") from None
    if (root / MANIFEST_NAME).is_file():
        return "manifest"
    for name, adapter in ADAPTERS.items():
        if adapter.detect(root):
            return name
    raise AuditError(
        f"{root}: unknown corpus layout (looked for {MANIFEST_NAME}, RAVDESS Actor_NN/MM-VC-EE-II-SS-RR-AA, "
        f"CREMA-D AudioWAV/, EmoDB wav/03a01Fa.wav, IEMOCAP SessionN/, TESS OAF_/YAF_); "
        f"pass --corpus NAME ({', '.join(list_corpora())}) or a manifest CSV")


def _canonical_name(corpus: str) -> str:
    name = _ALIASES.get(corpus.strip().lower(), corpus.strip().lower())
    if name not in list_corpora():
        raise AuditError(f"unknown corpus '{corpus}' (known: {', '.join(list_corpora())})")
    return name


def load_data(source: str | os.PathLike, *, corpus: str | None = None, skip_bad: bool = False,
              problems: ProblemLog | None = None, n_folds: int | None = None,
              options: dict | None = None, require_folds: bool = True,
              protocol: str | None = None) -> pd.DataFrame:
    """Load a corpus folder or manifest CSV as a validated manifest with a ``fold`` column.

    Parameters
    ----------
    source : corpus folder (layout auto-detected), manifest / generic CSV file, or
        ``hf:PATH`` for a Hugging Face dataset on disk (``save_to_disk`` or audiofolder, see
        :mod:`audit.data._hf`; ``options`` then maps columns and picks the split).
    corpus : force the folder's layout (``ravdess``, ``cremad``, ``emodb``, ``iemocap``, ``tess``,
        ``manifest``).
    skip_bad : drop bad items and record them in ``problems`` instead of raising ``AuditError``.
    problems : where skipped items go (a ``ProblemLog``); see ``problems.csv``.
    n_folds : re-assign folds with this many; ``None`` keeps a manifest's folds or uses the
        corpus default (RAVDESS 6 by actor, IEMOCAP by session, else gender-balanced by speaker).
    options : adapter options, e.g. ``{"improvised_only": True}`` for IEMOCAP.
    require_folds : with ``False`` (``audit data info``), a corpus that cannot be split by
        speaker (one speaker) comes back without a ``fold`` column instead of an error.
    protocol : ``default`` (None) or ``emobox``: EmoBox's published folds replace ours
        (:mod:`audit.data.protocol`); not with ``n_folds``.

    Only file headers are read here; decoding checks (NaN, all-zero ...) happen in
    ``load_audio`` and ``audit data info --check``.
    """
    if protocol not in (None, "default"):
        if n_folds is not None:
            raise AuditError(f"--folds {n_folds} and --protocol {protocol} both set the folds; give one")
        from audit.data.protocol import apply_protocol

        df = load_data(source, corpus=corpus, skip_bad=skip_bad, problems=problems, options=options)
        return apply_protocol(df, protocol, str(source))
    log = problems if problems is not None else ProblemLog()
    if str(source).startswith("hf:"):
        from audit.data._hf import scan_hf

        if corpus not in (None, "hf"):
            raise AuditError(f"{source}: --corpus {corpus} does not apply to an hf: dataset")
        rows, where = scan_hf(str(source)[3:], options=options)
        df = validate_manifest(rows, where, skip_bad=skip_bad, problems=log)
        return _with_folds(df, n_folds, where, log, problems, require_folds)
    source = Path(source).expanduser()
    if not source.exists():
        raise _missing_source(source)
    name = _canonical_name(corpus) if corpus else None
    if source.is_file():
        if name not in (None, "manifest"):
            raise AuditError(f"{source}: --corpus {name} needs the corpus folder, not a file")
        df = validate_manifest(read_manifest(source), source, skip_bad=skip_bad, problems=log)
    else:
        name = name or detect_corpus(source)
        if name == "manifest":
            csv = source / MANIFEST_NAME
            df = validate_manifest(read_manifest(csv), csv, skip_bad=skip_bad, problems=log)
        else:
            try:
                rows = ADAPTERS[name].scan(source, skip_bad=skip_bad, problems=log, **(options or {}))
            except TypeError as exc:
                raise AuditError(f"{source}: bad option for corpus {name} ({exc})") from None
            df = validate_manifest(rows, source, skip_bad=skip_bad, problems=log, check_files=False)
    return _with_folds(df, n_folds, source, log, problems, require_folds)


def _with_folds(df: pd.DataFrame, n_folds: int | None, source: object, log: ProblemLog,
                problems: ProblemLog | None, require_folds: bool = True) -> pd.DataFrame:
    unsplittable = n_folds is None and not require_folds and default_n_folds(df) < 2
    if ("fold" not in df.columns or n_folds is not None) and not unsplittable:
        df = assign_folds(df, n_folds)
    if problems is None and len(log):
        _log.warning("%s: %d item(s) skipped; pass a ProblemLog to record them", source, len(log))
    return df.reset_index(drop=True)
