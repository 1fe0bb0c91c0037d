"""MP3 round trip at a constant bitrate: a real LAME encode and decode, in memory, aligned."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import functional as F
from perturbations._align import align_to
from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["MP3", "BITRATES_KBPS", "LAME_SAMPLE_RATES", "codec_sample_rate"]

BITRATES_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320)
# The rates LAME encodes, grouped by MPEG version with the bitrates each version allows.
_MPEG1 = ((32000, 44100, 48000), frozenset(b for b in BITRATES_KBPS if b >= 32))
_MPEG2 = ((16000, 22050, 24000), frozenset(b for b in BITRATES_KBPS if b <= 160))
_MPEG25 = ((8000, 11025, 12000), frozenset(b for b in BITRATES_KBPS if b <= 64))
LAME_SAMPLE_RATES = tuple(sorted(_MPEG1[0] + _MPEG2[0] + _MPEG25[0]))
_BACKENDS = ("fast-mp3-augment", "lameenc", "pydub")
_MIN_SECONDS = 0.1  # fast-mp3-augment refuses shorter inputs; we pad and crop instead


def codec_sample_rate(sample_rate: int, bitrate_kbps: int) -> int:
    """The rate the encoder runs at: ``sample_rate`` itself when LAME takes it at this bitrate,
    else the lowest LAME rate above it that allows the bitrate, else 48 kHz.

    The waveform is resampled to that rate and back (recorded as ``codec_sample_rate``), so a
    44.1/48 kHz corpus is encoded natively and e.g. 8 kHz at 128 kbps goes through 32 kHz.
    """
    allowed = [sr for rates, bitrates in (_MPEG1, _MPEG2, _MPEG25) if bitrate_kbps in bitrates
               for sr in rates]
    if sample_rate in allowed:
        return sample_rate
    above = [sr for sr in sorted(allowed) if sr >= sample_rate]
    return above[0] if above else max(allowed)


@register
@dataclass(frozen=True)
class MP3(Perturbation):
    """MP3 encode + decode at ``bitrate_kbps`` CBR (``mp3:bitrate_kbps=128``).

    Parameters
    ----------
    bitrate_kbps : int
        One of the MPEG layer III bitrates (8 ... 320).
    quality : int
        LAME quality 0 (best, slowest) ... 9 (fastest); 7 by default as in audiomentations.
    backend : str
        ``fast-mp3-augment`` (default: LAME + minimp3 in memory, delay trimmed by the library),
        ``lameenc`` (LAME via lameenc, decoded by libsndfile) or ``pydub`` (ffmpeg); the last
        two remove the codec delay by cross-correlation.
    """

    name: ClassVar[str] = "mp3"
    bitrate_kbps: int
    quality: int = 7
    backend: str = "fast-mp3-augment"

    def _validate(self) -> None:
        if self.bitrate_kbps not in BITRATES_KBPS:
            raise PerturbationError(f"mp3:bitrate_kbps={self.bitrate_kbps} is not an MP3 bitrate; "
                                    f"use one of {', '.join(map(str, BITRATES_KBPS))}")
        if not 0 <= self.quality <= 9:
            raise PerturbationError(f"mp3:quality={self.quality} must be in 0..9")
        if self.backend not in _BACKENDS:
            raise PerturbationError(f"mp3:backend={self.backend!r} must be one of "
                                    f"{', '.join(_BACKENDS)}")

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Fixed params plus ``codec_sample_rate``; MP3 draws nothing at random."""
        return {**self.fixed_params(),
                "codec_sample_rate": codec_sample_rate(int(sample_rate), self.bitrate_kbps)}

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> decoded MP3 (time,), sample-aligned, same length and dtype."""
        x = check_waveform(waveform, self.name)
        codec_sr = int(params.get("codec_sample_rate") or
                       codec_sample_rate(sample_rate, params["bitrate_kbps"]))
        y = F.resample(x, sample_rate, codec_sr)
        min_len = int(np.ceil(_MIN_SECONDS * codec_sr)) + 1
        y = F.fit_length(y, max(y.size, min_len))
        y = _roundtrip(np.ascontiguousarray(y, dtype=np.float32), codec_sr,
                       int(params["bitrate_kbps"]), int(params["quality"]), params["backend"])
        y = F.fit_length(F.resample(y, codec_sr, sample_rate), x.size)
        return y.astype(x.dtype, copy=False)


def _roundtrip(x: np.ndarray, sr: int, kbps: int, quality: int, backend: str) -> np.ndarray:
    """Encode and decode (time,) float32 at ``sr``; output aligned, length (time,)."""
    if backend == "fast-mp3-augment":
        import fast_mp3_augment

        return fast_mp3_augment.compress_roundtrip(x, sample_rate=sr, bitrate_kbps=kbps,
                                                   preserve_delay=False, quality=quality)
    if backend == "lameenc":
        try:
            import lameenc
        except ImportError:
            raise PerturbationError("mp3:backend=lameenc needs the lameenc package "
                                    "(pip install lameenc)") from None
        import soundfile as sf

        peak = max(1.0, float(np.max(np.abs(x))))
        enc = lameenc.Encoder()
        enc.set_bit_rate(kbps)
        enc.set_in_sample_rate(sr)
        enc.set_channels(1)
        enc.set_quality(quality)
        pcm = np.clip(np.round(x / peak * 32767), -32768, 32767).astype("<i2")
        data = bytes(enc.encode(pcm.tobytes())) + bytes(enc.flush())
        decoded, _ = sf.read(io.BytesIO(data), dtype="float32")
        return align_to(x, decoded.reshape(decoded.shape[0], -1).mean(axis=1) * peak,
                        max_lag=4096)[0]
    from perturbations.codec import ffmpeg_roundtrip

    return ffmpeg_roundtrip(x, sr, fmt="mp3", codec="libmp3lame", bitrate_kbps=kbps,
                            who="mp3:backend=pydub")
