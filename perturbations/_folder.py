"""A folder of recordings (noise or impulse responses): scanned, hashed, loaded at any rate.

Every audio file under the folder (recursively; ``.wav .flac .ogg .mp3 .aif .aiff``, any rate
and channel count) is checked once: readable, not empty, finite, not all zeros. A bad file is a
``PerturbationError`` naming it (the audit stops before any work); other files (notes, hidden
files) are listed as ``ignored``. The folder's identity is the sha256 of its sorted
``(relative name, file sha256)`` list: two folders with other contents never share a cache
entry, and the same files in another place do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perturbations.errors import PerturbationError

__all__ = ["AUDIO_SUFFIXES", "FolderFile", "AudioFolder", "FolderSource", "scan_folder",
           "load_recording"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


@dataclass(frozen=True)
class FolderFile:
    """One recording: ``name`` relative to the folder (posix), content hash, header facts."""

    name: str
    sha256: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class AudioFolder:
    """The scanned folder: ``root`` (resolved), ``files`` sorted by name, ``manifest_sha256``."""

    root: str
    files: tuple[FolderFile, ...]
    manifest_sha256: str
    ignored: tuple[str, ...] = ()

    def describe(self) -> dict:
        """JSON-ready record for run.json: the folder, its hash and every file."""
        return {"dir": self.root, "manifest_sha256": self.manifest_sha256,
                "n_files": len(self.files), "ignored": list(self.ignored),
                "files": [{"file": f.name, "sha256": f.sha256, "sample_rate": f.sample_rate,
                           "channels": f.channels, "seconds": round(f.seconds, 6)}
                          for f in self.files]}

    def path(self, name: str) -> str:
        return str(Path(self.root) / name)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read(path: Path, who: str) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 and the rate; a one-line error naming the file otherwise."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types; the message is what matters
        raise PerturbationError(f"{who}: {path}: cannot read audio "
                                f"({' '.join(str(exc).split()) or type(exc).__name__})") from None
    if data.shape[0] == 0:
        raise PerturbationError(f"{who}: {path}: the file has no samples")
    if not np.isfinite(data).all():
        raise PerturbationError(f"{who}: {path}: the file holds NaN or inf samples")
    if not np.any(data):
        raise PerturbationError(f"{who}: {path}: the file is silent (all zeros)")
    return data, int(sr)


def _listing(root: Path) -> tuple[list[Path], list[str]]:
    audio, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if not name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES:
                audio.append(p)
            else:
                ignored.append(rel)
    return sorted(audio, key=lambda p: p.relative_to(root).as_posix()), ignored


@functools.lru_cache(maxsize=32)
def _scan(root: str, stamp: tuple, who: str) -> AudioFolder:
    base = Path(root)
    audio, ignored = _listing(base)
    files = []
    for p in audio:
        data, sr = _read(p, who)
        files.append(FolderFile(p.relative_to(base).as_posix(), _sha256(p), sr, int(data.shape[1]),
                                int(data.shape[0])))
    digest = hashlib.sha256(json.dumps([[f.name, f.sha256] for f in files]).encode()).hexdigest()
    return AudioFolder(root, tuple(files), digest, tuple(ignored))


def scan_folder(path: str, who: str) -> AudioFolder:
    """Scan (or reuse the scan of) the recordings under ``path``; ``who`` names the condition.

    A file's size or modification time changing makes the next call rescan.
    """
    if not str(path).strip():
        raise PerturbationError(f"{who}: dir is empty (it must name a folder of recordings)")
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "not a folder" if root.exists() else "no such folder"
        raise PerturbationError(f"{who}: dir={path}: {what}")
    root = root.resolve()
    audio, _ = _listing(root)
    if not audio:
        raise PerturbationError(f"{who}: dir={path}: no audio files ({' '.join(AUDIO_SUFFIXES)})")
    stamp = tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in audio)
    return _scan(str(root), stamp, who)


@functools.lru_cache(maxsize=16)
def load_recording(path: str, sha256: str, sample_rate: int, mix: str, who: str) -> np.ndarray:
    """The recording at ``sample_rate`` as float32 (time,): channels averaged (``mix="mean"``)
    or the first channel (``mix="first"``). Refuses a file whose content is not ``sha256``
    (the folder changed since the params were drawn)."""
    from perturbations.functional import resample

    if _sha256(Path(path)) != sha256:
        raise PerturbationError(f"{who}: {path} changed since it was chosen (sha256 differs); "
                                "rerun to rescan the folder")
    data, sr = _read(Path(path), who)
    mono = data.mean(axis=1) if mix == "mean" else data[:, 0]
    if not np.any(mono):
        raise PerturbationError(f"{who}: {path}: the channel used is silent (all zeros)")
    return resample(mono, sr, int(sample_rate))


class FolderSource:
    """Mixin of the perturbations that read a folder of recordings (their field ``dir``)."""

    def folder(self) -> AudioFolder:
        """The scanned folder (cached on the instance; workers receive it with the object)."""
        found = getattr(self, "_folder", None)
        if found is None:
            found = scan_folder(self.dir, self.who)
            object.__setattr__(self, "_folder", found)  # not a field: not part of the condition
        return found

    @property
    def who(self) -> str:
        """The condition's name in error messages (``noise:dir=D``)."""
        return f"{self.name}:dir={self.dir}"

    def source(self) -> dict:
        """What the condition reads besides its parameters: the folder and its hash."""
        return self.folder().describe()

    def pick_file(self, rng: np.random.Generator) -> FolderFile:
        """One file of the folder, chosen by ``rng``."""
        files = self.folder().files
        return files[int(rng.integers(len(files)))]
