"""Other lossy codecs through ffmpeg (via pydub): Opus, AMR-NB, AAC; aligned, length kept."""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import functional as F
from perturbations._align import align_to
from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["Codec", "CODECS", "ffmpeg_roundtrip", "ffmpeg_missing", "ffmpeg_encoders"]

# format -> (ffmpeg muxer, ffmpeg encoder, codec sample rate or None = native,
#            allowed bitrates as (min, max) kbps or a tuple of exact modes, ffmpeg demuxer)
CODECS = {
    "opus": ("ogg", "libopus", 48000, (6.0, 510.0), "ogg"),
    "amr-nb": ("amr", "libopencore_amrnb", 8000,
               (4.75, 5.15, 5.9, 6.7, 7.4, 7.95, 10.2, 12.2), "amr"),
    "aac": ("adts", "aac", None, (16.0, 320.0), "aac"),
}
_AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def ffmpeg_missing() -> list[str]:
    """What the ffmpeg codecs need and this machine lacks (empty when all is there)."""
    missing = []
    try:
        import pydub  # noqa: F401
    except ImportError:
        missing.append("the pydub package (pip install pydub)")
    if shutil.which("ffmpeg") is None:
        missing.append("the ffmpeg binary on PATH (e.g. apt-get install ffmpeg)")
    return missing


@functools.lru_cache(maxsize=1)
def ffmpeg_encoders() -> frozenset[str]:
    """Names of the audio encoders the ffmpeg on PATH was built with."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True,
                         check=False).stdout
    return frozenset(line.split()[1] for line in out.splitlines()
                     if len(line.split()) > 1 and line.split()[0].startswith("A"))


def ffmpeg_roundtrip(x: np.ndarray, sr: int, *, fmt: str, codec: str, bitrate_kbps: float,
                     who: str, decode_fmt: str | None = None) -> np.ndarray:
    """Encode (time,) float at ``sr`` with ffmpeg and decode; aligned, length (time,), float32."""
    missing = ffmpeg_missing()
    if missing:
        raise PerturbationError(f"{who} needs {' and '.join(missing)}")
    if codec not in ffmpeg_encoders():
        raise PerturbationError(f"{who} needs an ffmpeg built with the {codec} encoder; the "
                                f"ffmpeg on PATH lacks it")
    from pydub import AudioSegment

    peak = max(1.0, float(np.max(np.abs(x))))  # int16 transport: scale down, then back up
    pcm = np.clip(np.round(x / peak * 32767), -32768, 32767).astype("<i2")
    seg = AudioSegment(pcm.tobytes(), frame_rate=int(sr), sample_width=2, channels=1)
    buf = io.BytesIO()
    seg.export(buf, format=fmt, codec=codec, bitrate=f"{bitrate_kbps:g}k")
    buf.seek(0)
    dec = AudioSegment.from_file(buf, format=decode_fmt or fmt).set_channels(1)
    full_scale = float(2 ** (8 * dec.sample_width - 1))  # the decoder picks 16 or 32 bit
    y = np.asarray(dec.get_array_of_samples(), dtype=np.float64) / full_scale * peak
    y = F.resample(y, dec.frame_rate, sr).astype(np.float64)
    # Codec delays (Opus pre-skip, AAC priming) are not always trimmed by the decoder.
    return align_to(x, y, max_lag=int(0.1 * sr))[0].astype(np.float32)


@register
@dataclass(frozen=True)
class Codec(Perturbation):
    """Round trip through an ffmpeg codec (``codec:format=opus,bitrate_kbps=24``).

    Needs the ffmpeg binary and pydub; without them ``apply`` raises a ``PerturbationError``
    naming what is missing. Opus runs at 48 kHz and AMR-NB at 8 kHz (the waveform is resampled
    there and back); AAC at the nearest AAC rate at or above the native one.

    Parameters
    ----------
    format : str
        ``opus``, ``amr-nb`` or ``aac``.
    bitrate_kbps : float
        Opus 6-510, AAC 16-320, AMR-NB one of its modes (4.75 ... 12.2).
    """

    name: ClassVar[str] = "codec"
    format: str
    bitrate_kbps: float

    def _validate(self) -> None:
        if self.format not in CODECS:
            raise PerturbationError(f"codec:format={self.format!r} must be one of "
                                    f"{', '.join(CODECS)}")
        allowed = CODECS[self.format][3]
        ok = (allowed[0] <= self.bitrate_kbps <= allowed[1]) if len(allowed) == 2 \
            else self.bitrate_kbps in allowed
        if not ok:
            shown = f"{allowed[0]:g}-{allowed[1]:g}" if len(allowed) == 2 else \
                ", ".join(f"{b:g}" for b in allowed)
            raise PerturbationError(f"codec:bitrate_kbps={self.bitrate_kbps:g} is not valid for "
                                    f"{self.format} ({shown} kbps)")

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Fixed params plus ``codec_sample_rate``; nothing random."""
        rate = CODECS[self.format][2]
        if rate is None:
            rate = next((r for r in _AAC_RATES if r >= sample_rate), _AAC_RATES[-1])
        return {**self.fixed_params(), "codec_sample_rate": int(rate)}

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> decoded waveform (time,), aligned, same dtype."""
        x = check_waveform(waveform, self.name)
        fmt, encoder, _, _, decode_fmt = CODECS[params["format"]]
        codec_sr = int(params["codec_sample_rate"])
        y = ffmpeg_roundtrip(F.resample(x, sample_rate, codec_sr), codec_sr, fmt=fmt,
                             codec=encoder, bitrate_kbps=float(params["bitrate_kbps"]),
                             who=f"codec:format={params['format']}", decode_fmt=decode_fmt)
        return F.fit_length(F.resample(y, codec_sr, sample_rate), x.size).astype(x.dtype)
