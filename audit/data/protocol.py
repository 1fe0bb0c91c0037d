"""Evaluation protocols: whose folds a manifest gets (``default``: ours; ``emobox``: EmoBox's).

``emobox`` assigns the published EmoBox speaker-disjoint folds (``audit/data/emobox.toml``:
source, commits, licence and how the lists were checked) to RAVDESS (6 folds of 4 actors) and
IEMOCAP (leave one session out). EmoBox fold k (1-based) becomes fold k - 1. Another corpus is
an error: EmoBox's lists for it are not encoded here.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import pandas as pd

from audit.errors import AuditError

__all__ = ["PROTOCOLS", "list_protocols", "protocol_record", "apply_protocol"]

PROTOCOLS = ("default", "emobox")
_EMOBOX = Path(__file__).with_name("emobox.toml")


def list_protocols() -> list[str]:
    """The protocol names ``--protocol`` accepts."""
    return list(PROTOCOLS)


@functools.cache
def _emobox() -> dict:
    with _EMOBOX.open("rb") as fh:
        return tomllib.load(fh)


def protocol_record(name: str | None) -> dict:
    """What run.json and the sidecars say about a protocol (source, commits, licence)."""
    if name in (None, "default"):
        return {"name": "default"}
    doc = _emobox()
    return {k: doc[k] for k in ("name", "description", "source", "commits", "licence")}


def _ravdess(df: pd.DataFrame, where: str) -> pd.Series:
    actors = {a: k for k, group in enumerate(_emobox()["ravdess"]["test_actors"]) for a in group}
    number = pd.to_numeric(df["speaker"].astype(str).str.extract(r"(\d+)\s*$")[0], errors="coerce")
    unknown = sorted(set(df.loc[~number.isin(list(actors)), "speaker"].astype(str)))
    if unknown:
        raise AuditError(f"{where}: speaker(s) {', '.join(unknown[:3])} are not RAVDESS actors 1-24; "
                         "the EmoBox folds cannot be applied")
    return number.astype(int).map(actors).astype("int64")


def _iemocap(df: pd.DataFrame, where: str) -> pd.Series:
    sessions = {s: k for k, s in enumerate(_emobox()["iemocap"]["test_sessions"])}
    if "session" not in df.columns:
        raise AuditError(f"{where}: an IEMOCAP manifest needs its 'session' column for the EmoBox folds")
    number = pd.to_numeric(df["session"], errors="coerce")
    if not number.isin(list(sessions)).all():
        raise AuditError(f"{where}: IEMOCAP sessions must be 1-5 for the EmoBox folds")
    return number.astype(int).map(sessions).astype("int64")


def apply_protocol(df: pd.DataFrame, name: str | None, where: str = "data") -> pd.DataFrame:
    """``df`` with the protocol's ``fold`` column (``default``/None: unchanged).

    Parameters
    ----------
    df : a validated manifest with ``corpus`` and ``speaker`` (IEMOCAP: ``session``).
    name : ``default`` or ``emobox``.
    where : the data source, for error messages.
    """
    if name in (None, "default"):
        return df
    if name not in PROTOCOLS:
        raise AuditError(f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})")
    corpora = sorted(set(df["corpus"].astype(str))) if "corpus" in df.columns else ["generic"]
    rules = {"ravdess": _ravdess, "iemocap": _iemocap}
    if len(corpora) != 1 or corpora[0] not in rules:
        raise AuditError(f"{where}: EmoBox folds are encoded for {', '.join(rules)} only; this data "
                         f"is {', '.join(corpora)} (use the default protocol)")
    out = df.copy()
    out["fold"] = rules[corpora[0]](out, where)
    return out
