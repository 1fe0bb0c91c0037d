"""Audio I/O: read a file at its native rate as mono float32, check it, resample to 16 kHz;
write a file atomically with the same bytes on every run.

Perturbations (MP3, reverb) run at the native rate, so loading and resampling are separate
steps. Content checks (NaN/inf/all-zero/truncation) need decoding, so they happen here, when a
file is loaded; manifest building only reads headers (fast) — see ``docs/_readme_data.md``.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from audit._atomic import atomic_write_bytes
from audit.errors import AuditError

__all__ = ["TARGET_SR", "AudioHeader", "load_audio", "read_frames", "resample", "resampled_length",
           "read_header", "check_waveform", "write_audio"]

TARGET_SR = 16000


class AudioHeader(tuple):
    """``(frames, sample_rate, channels)`` read from a file header without decoding."""

    __slots__ = ()

    def __new__(cls, frames: int, sample_rate: int, channels: int):
        return super().__new__(cls, (int(frames), int(sample_rate), int(channels)))

    frames = property(lambda self: self[0])
    sample_rate = property(lambda self: self[1])
    channels = property(lambda self: self[2])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _wav_missing_bytes(path: Path) -> int:
    """Bytes the RIFF ``data`` chunk declares beyond the end of the file (0 if complete).

    libsndfile silently shortens a truncated WAV, so the header is compared with the file size.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return 0
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
                if chunk_id == b"data":
                    if chunk_size == 0xFFFFFFFF:  # streamed / RF64 placeholder: unknown length
                        return 0
                    return max(0, pos + 8 + chunk_size - size)
                pos += 8 + chunk_size + (chunk_size & 1)
    except OSError:
        return 0
    return 0


def read_header(path: str | os.PathLike) -> AudioHeader:
    """Read ``(frames, sample_rate, channels)`` from the header; raise ``AuditError`` if unusable.

    Catches missing, empty, corrupt, zero-length and (WAV) truncated files without decoding.
    """
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise AuditError(f"{path}: empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AuditError(f"{path}: not a readable audio file ({_short(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AuditError(f"{path}: empty audio (0 samples)")
    if path.suffix.lower() == ".wav" and (missing := _wav_missing_bytes(path)):
        raise AuditError(f"{path}: truncated file ({missing} bytes of audio data missing)")
    return AudioHeader(info.frames, info.samplerate, info.channels)


def check_waveform(waveform: np.ndarray, where: str | os.PathLike = "waveform") -> None:
    """Raise ``AuditError`` when ``waveform`` (time,) is empty, non-finite or all zero."""
    if waveform.size == 0:
        raise AuditError(f"{where}: empty audio (0 samples)")
    finite = np.isfinite(waveform)
    if not finite.all():
        bad = int(waveform.size - finite.sum())
        raise AuditError(f"{where}: {bad} NaN/inf samples")
    if not np.any(waveform):
        raise AuditError(f"{where}: all-zero (silent) audio")


def load_audio(path: str | os.PathLike, *, target_sr: int | None = None) -> tuple[np.ndarray, int]:
    """Load an audio file as mono float32 at its native rate (or ``target_sr`` if given).

    Parameters
    ----------
    path : file readable by libsndfile (WAV, FLAC, OGG, ...).
    target_sr : resample to this rate; ``None`` keeps the native rate.

    Returns
    -------
    waveform : np.ndarray float32, shape (time,); multi-channel files are averaged (down-mix).
    sample_rate : int, the rate of ``waveform``.

    Raises ``AuditError`` naming the file for unreadable, empty, truncated, NaN/inf or
    all-zero audio.
    """
    path = Path(path)
    header = read_header(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AuditError(f"{path}: corrupt or truncated audio ({_short(exc)})") from None
    if data.shape[0] < header.frames:
        raise AuditError(f"{path}: truncated file ({data.shape[0]} of {header.frames} samples decoded)")
    # Down-mix by averaging: keeps the level of a mono signal duplicated on both channels.
    waveform = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    check_waveform(waveform, path)
    if target_sr is not None and target_sr != sr:
        return resample(waveform, sr, target_sr), int(target_sr)
    return waveform, int(sr)


def read_frames(path: str | os.PathLike, start: int, frames: int) -> tuple[np.ndarray, int]:
    """Read ``frames`` frames from ``start`` as mono float32 at the native rate, without
    decoding the rest of the file (a chunk of a long recording).

    Returns ``(waveform (frames,), sample_rate)``. Raises ``AuditError`` naming the file and the
    position for unreadable, truncated or NaN/inf audio. An all-zero chunk is returned as it is
    (a silent stretch of a long recording is not an error; the caller decides).
    """
    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as fh:
            sr = int(fh.samplerate)
            fh.seek(int(start))
            data = fh.read(int(frames), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
        raise AuditError(f"{path}: corrupt or truncated audio ({_short(exc)})") from None
    where = f"{path} at {start / sr:.3f} s"
    if data.shape[0] < frames:
        raise AuditError(f"{where}: truncated file ({data.shape[0]} of {frames} samples decoded)")
    waveform = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    finite = np.isfinite(waveform)
    if not finite.all():
        raise AuditError(f"{where}: {int(waveform.size - finite.sum())} NaN/inf samples")
    return waveform, sr


@functools.lru_cache(maxsize=16)
def _resampler(orig_sr: int, target_sr: int):
    import torchaudio

    # The windowed-sinc kernel is built once per rate pair and reused for every file.
    return torchaudio.transforms.Resample(orig_sr, target_sr)


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int = TARGET_SR) -> np.ndarray:
    """Resample ``waveform`` (time,) from ``orig_sr`` to ``target_sr``.

    Returns np.ndarray float32 (time',), ``time' = ceil(time * target_sr / orig_sr)``.
    An integral ratio (48 -> 16 kHz, 8 -> 16 kHz) on an input of at most
    ``perturbations.functional.TORCHAUDIO_MAX_SAMPLES`` runs torchaudio's ``Resample`` (the
    bytes of every earlier result); any other rate or length runs the polyphase form of the
    same filter (:func:`perturbations.functional.resample`), in memory that depends on
    neither the rates' gcd nor the length.
    """
    from perturbations.functional import TORCHAUDIO_MAX_SAMPLES
    from perturbations.functional import resample as resample_any

    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"resample expects a mono waveform of shape (time,), got {waveform.shape}")
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return waveform.copy()
    g = math.gcd(orig_sr, target_sr)
    if 1 not in (orig_sr // g, target_sr // g) or waveform.size > TORCHAUDIO_MAX_SAMPLES:
        return resample_any(waveform, orig_sr, target_sr)
    import torch

    with torch.no_grad():
        out = _resampler(orig_sr, target_sr)(torch.from_numpy(waveform))
    return out.numpy().astype(np.float32, copy=False)


def resampled_length(n_samples: int, orig_sr: int, target_sr: int = TARGET_SR) -> int:
    """Length of ``resample`` 's output for ``n_samples`` at ``orig_sr``: ``ceil(n * target / orig)``."""
    return -(-int(n_samples) * int(target_sr) // int(orig_sr))


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _strip_riff_chunks(data: bytes, drop: tuple[bytes, ...]) -> bytes:
    """A RIFF/WAVE file without the chunks named in ``drop`` (RIFF size fixed up)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    kept: list[bytes] = []
    i = 12
    while i + 8 <= len(data):
        size = struct.unpack("<I", data[i + 4:i + 8])[0]
        end = i + 8 + size + (size & 1)
        if data[i:i + 4] not in drop:
            kept.append(data[i:end])
        i = end
    body = b"WAVE" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_audio(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int, *,
                subtype: str = "FLOAT", fmt: str | None = None) -> Path:
    """Write ``waveform`` (time,) or (time, channels) to ``path`` atomically and reproducibly.

    ``fmt`` defaults to the suffix (``WAV``, ``FLAC``). libsndfile adds a ``PEAK`` chunk with
    the write time (seconds) to float WAVs, so two identical writes would differ; it is left
    out, and the file goes through a temporary name so no partial file ever has ``path``'s name.
    """
    path = Path(path)
    major = (fmt or path.suffix.lstrip(".") or "WAV").upper()
    buf = io.BytesIO()
    sf.write(buf, waveform, int(sample_rate), format=major, subtype=subtype)
    data = buf.getvalue()
    if major == "WAV":
        data = _strip_riff_chunks(data, (b"PEAK",))
    return atomic_write_bytes(path, data)
