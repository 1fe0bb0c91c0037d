"""``export_corpus``: resampled mono copies of a manifest's audio plus a matching manifest.

Used to ship a corpus to a GPU machine at 16 kHz: ids, speakers, labels, extras and folds are
kept; ``path``, ``sample_rate``, ``channels``, ``duration_s`` describe the new files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from audit.data._validate import reject
from audit.data.audio import TARGET_SR, load_audio, write_audio
from audit.data.manifest import write_manifest
from audit.data.problems import ProblemLog
from audit.errors import AuditError

__all__ = ["export_corpus", "EXPORT_FORMATS"]

EXPORT_FORMATS = {"flac": ("FLAC", "PCM_16"), "wav": ("WAV", "PCM_16")}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def export_corpus(df: pd.DataFrame, dest: str | os.PathLike, *, rate: int = TARGET_SR,
                  fmt: str = "flac", skip_bad: bool = False, problems: ProblemLog | None = None,
                  progress: Callable[[int], None] | None = None) -> Path:
    """Write ``dest/audio/<utt_id>.<fmt>`` (mono, ``rate`` Hz, 16-bit) and ``dest/manifest.csv``.

    Bad audio raises ``AuditError`` or, with ``skip_bad``, is recorded (stage ``export``) and
    left out. Returns the path of the new manifest.
    """
    if fmt not in EXPORT_FORMATS:
        raise AuditError(f"unknown export format '{fmt}' (use {' or '.join(EXPORT_FORMATS)})")
    if int(rate) <= 0:
        raise AuditError(f"export rate must be a positive number of Hz, got {rate}")
    dest = Path(dest)
    audio_dir = dest / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    major, subtype = EXPORT_FORMATS[fmt]
    rows, names = [], set()
    for row in df.to_dict("records"):
        name = _UNSAFE.sub("_", str(row["utt_id"]))
        if name in names:
            raise AuditError(f"utterance ids '{row['utt_id']}' and another map to the same file name {name}")
        names.add(name)
        try:
            wave, sr = load_audio(row["path"], target_sr=int(rate))
        except AuditError as exc:
            reject(f"utterance '{row['utt_id']}': {exc}", skip_bad=skip_bad, problems=problems,
                   stage="export", utt_id=row["utt_id"], path=row["path"])
            continue
        out = audio_dir / f"{name}.{fmt}"
        # Resampling can overshoot full scale slightly; clip instead of letting 16-bit wrap.
        write_audio(out, np.clip(wave, -1.0, 1.0), sr, fmt=major, subtype=subtype)
        rows.append({**row, "path": str(out.resolve()), "duration_s": len(wave) / sr,
                     "sample_rate": sr, "channels": 1, "source_sample_rate": int(row["sample_rate"])})
        if progress is not None:
            progress(1)
    if not rows:
        raise AuditError("export: no utterance could be exported")
    return write_manifest(pd.DataFrame(rows), dest / "manifest.csv")
