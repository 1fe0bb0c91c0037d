"""39-dim MFCC features (13 static + delta + delta-delta) and 2 s segments.

The same torch code runs on CPU and GPU. Features of one utterance never depend on which
other utterances share its batch: there is no batch-wide dB clamp (torchaudio's ``MFCC``
applies ``top_db`` over the whole batch) and no padding between utterances before deltas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import numpy as np
import torch
import torchaudio

from model.errors import ModelError
from model.feature_share import active_share

__all__ = [
    "FeatureConfig",
    "FeatureStats",
    "MFCCExtractor",
    "segment_starts",
    "segment",
    "utterance_segments",
    "fit_stats",
    "check_length",
    "speech_span",
]


_NON_POSITIVE_INT = ("standardize", "streams", "ssl_model", "ssl_layer", "trim_db")
_TRIM_MARGIN = 10  # frames kept on either side of the loud span (100 ms at the 10 ms hop)
_STREAM_KEYS = ("streams", "spectral_mels", "f0_min_hz", "f0_max_hz", "ssl_model", "ssl_layer")


@dataclass(frozen=True)
class FeatureConfig:
    """MFCC and segmentation settings (model-spec defaults).

    ``standardize`` turns on per-coefficient standardisation with statistics fitted on the
    training fold (stored in the checkpoint sidecar, never refitted on test data).
    ``streams`` names the feature streams stacked on the feature axis (``mfcc`` alone for
    MACNN; IFN adds ``spectral``, ``prosodic`` and ``ssl``, see ``model.streams``);
    ``spectral_mels`` the log-mel bands of the spectral stream, ``f0_min_hz``/``f0_max_hz`` the
    F0 search range of the prosodic stream, ``ssl_model`` a local pre-trained speech model
    folder and ``ssl_layer`` which of its hidden states (-1 = last) the ssl stream takes.
    ``trim_db`` (None = off) keeps, per utterance, the frames from the first to the last whose
    energy lies within ``trim_db`` dB of its loudest frame, plus 100 ms either side: leading and
    trailing silence (RAVDESS clips carry about a second of it) is cut before segmenting, in
    training, statistics and prediction alike (``speech_span``).
    """

    sample_rate: int = 16000
    n_mfcc: int = 13
    n_mels: int = 26
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 512
    delta_width: int = 2
    segment_frames: int = 200
    train_stride: int = 100
    test_stride: int = 40
    standardize: bool = False
    # Streams beyond MFCC (model/streams.py; IFN). Rows are stacked in ``streams`` order.
    streams: tuple[str, ...] = ("mfcc",)
    spectral_mels: int = 64
    f0_min_hz: int = 60
    f0_max_hz: int = 500
    ssl_model: str | None = None
    ssl_layer: int = -1
    trim_db: float | None = None

    def __post_init__(self) -> None:
        from model.streams import STREAMS  # streams.py imports this module

        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _NON_POSITIVE_INT:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ModelError(f"FeatureConfig.{f.name}={value!r}: must be a positive integer")
        if self.win_length > self.n_fft:
            raise ModelError(f"FeatureConfig.win_length={self.win_length} exceeds n_fft={self.n_fft}")
        streams = tuple(self.streams) if isinstance(self.streams, (list, tuple)) else (self.streams,)
        object.__setattr__(self, "streams", streams)  # a JSON list becomes a hashable tuple
        bad = [s for s in streams if s not in STREAMS]
        if not streams or bad or len(set(streams)) != len(streams):
            raise ModelError(f"FeatureConfig.streams={list(streams)!r}: a non-empty list of distinct "
                             f"names from {', '.join(STREAMS)}")
        if self.f0_min_hz >= self.f0_max_hz or 2 * self.f0_max_hz > self.sample_rate:
            raise ModelError(f"FeatureConfig f0_min_hz={self.f0_min_hz}, f0_max_hz={self.f0_max_hz}: "
                             f"need f0_min_hz < f0_max_hz <= sample_rate / 2")
        if "ssl" in streams and not self.ssl_model:
            raise ModelError("FeatureConfig.streams includes 'ssl' but ssl_model (a local pre-trained "
                             "model folder) is not set")
        if not isinstance(self.ssl_layer, int) or isinstance(self.ssl_layer, bool):
            raise ModelError(f"FeatureConfig.ssl_layer={self.ssl_layer!r}: must be an integer")
        if self.trim_db is not None and (isinstance(self.trim_db, bool) or not 10 <= self.trim_db <= 80):
            raise ModelError(f"FeatureConfig.trim_db={self.trim_db!r}: None or a level in [10, 80] dB")

    @property
    def min_samples(self) -> int:
        """The shortest waveform (samples at ``sample_rate``) the streams accept: the MFCC and
        spectral streams pad their centred ``n_fft``-point frames by reflection, which needs
        more than ``n_fft // 2`` samples (257 at the default 512, 16.1 ms at 16 kHz); the
        prosodic and ssl streams pad with zeros and take any length."""
        return self.n_fft // 2 + 1 if {"mfcc", "spectral"} & set(self.streams) else 1

    @property
    def n_features(self) -> int:
        """Rows of the MFCC map: static + delta + delta-delta (39 by default); the stacked
        streams' rows are ``model.streams.stream_dims(config)``."""
        return 3 * self.n_mfcc

    def to_dict(self) -> dict:
        """The fields as JSON-ready values. The stream fields are left out while all of them
        are at their MFCC-only defaults, so MACNN configs (sidecars, ``checkpoint_matches``,
        resume identities) read exactly as they did before streams existed."""
        d = asdict(self)
        if self.trim_db is None:  # added later: configs without it read as before
            del d["trim_db"]
        defaults = {f.name: f.default for f in fields(self) if f.name in _STREAM_KEYS}
        if all(d[k] == v for k, v in defaults.items()):
            return {k: v for k, v in d.items() if k not in _STREAM_KEYS}
        d["streams"] = list(self.streams)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelError(f"feature config: unknown key(s) {unknown}")
        return cls(**d)


@dataclass(frozen=True)
class FeatureStats:
    """Per-coefficient mean and std, each a tuple of ``n_features`` floats."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureStats:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise ``x: (..., n_features, frames)`` coefficient by coefficient."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device)[:, None]
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device)[:, None]
        return (x - mean) / std

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """The unstandardised features of ``x: (..., n_features, frames)`` (``apply``'s inverse)."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device)[:, None]
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device)[:, None]
        return x * std + mean


@lru_cache(maxsize=8)
def _dct(n_mfcc: int, n_mels: int) -> torch.Tensor:
    return torchaudio.functional.create_dct(n_mfcc, n_mels, norm="ortho")  # (n_mels, n_mfcc)


class MFCCExtractor(torch.nn.Module):
    """Waveform ``(..., time)`` at 16 kHz -> MFCC + deltas ``(..., 39, frames)``.

    frames = 1 + time // hop (centred frames, reflect padding). Log-mel uses
    ``10 log10(max(mel, 1e-10))`` per value, with no clamp relative to a batch maximum.
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeatureConfig()
        c = self.config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=c.sample_rate, n_fft=c.n_fft, win_length=c.win_length,
            hop_length=c.hop_length, n_mels=c.n_mels, window_fn=torch.hamming_window,
            power=2.0, center=True, pad_mode="reflect",
        )
        self.register_buffer("dct", _dct(c.n_mfcc, c.n_mels).clone(), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``waveform: (..., time)`` float -> ``(..., 3 * n_mfcc, frames)``."""
        mel = self.mel(waveform)  # (..., n_mels, frames)
        log_mel = 10.0 * torch.log10(mel.clamp_min(1e-10))
        static = torch.matmul(log_mel.transpose(-1, -2), self.dct).transpose(-1, -2)  # (..., 13, F)
        width = 2 * self.config.delta_width + 1
        delta = torchaudio.functional.compute_deltas(static, win_length=width)
        delta2 = torchaudio.functional.compute_deltas(delta, win_length=width)
        return torch.cat([static, delta, delta2], dim=-2)  # (..., 39, F)


def speech_span(waveform: torch.Tensor, config: FeatureConfig) -> tuple[int, int]:
    """``(first, stop)`` frames of ``waveform: (time,)`` to keep under ``config.trim_db``: from the
    first to the last frame (``win_length`` samples centred every ``hop_length``, zero-padded:
    ``1 + time // hop`` frames, the feature grid) whose energy is within ``trim_db`` dB of the
    loudest frame, widened by 10 frames either side. ``(0, frames)`` when trimming is off."""
    n_frames = 1 + waveform.shape[-1] // config.hop_length
    if config.trim_db is None:
        return 0, n_frames
    half = config.win_length // 2
    x = torch.nn.functional.pad(waveform.reshape(1, -1).float(), (half, half))[0]
    frames = x.unfold(0, config.win_length, config.hop_length)[:n_frames]  # (frames, win)
    level = 10.0 * torch.log10(frames.square().mean(dim=1) + 1e-10)
    loud = torch.nonzero(level >= level.max() - config.trim_db).flatten()
    first = max(0, int(loud[0]) - _TRIM_MARGIN)
    stop = min(n_frames, int(loud[-1]) + 1 + _TRIM_MARGIN)
    return first, stop


def segment_starts(n_frames: int, stride: int, length: int = 200) -> list[int]:
    """Start frames of ``length``-frame windows every ``stride`` frames.

    An utterance shorter than ``length`` gives one window at 0 (zero-padded later). When the
    regular grid leaves an uncovered tail, one last window aligned to the end is added so no
    audio is ignored.
    """
    if n_frames <= length:
        return [0]
    starts = list(range(0, n_frames - length + 1, stride))
    if starts[-1] + length < n_frames:
        starts.append(n_frames - length)
    return starts


def segment(features: torch.Tensor, stride: int, length: int = 200) -> torch.Tensor:
    """Cut ``features: (n_features, frames)`` into ``(n_segments, 1, n_features, length)``."""
    n_feat, n_frames = features.shape
    if n_frames < length:
        features = torch.nn.functional.pad(features, (0, length - n_frames))
    windows = [features[:, s : s + length] for s in segment_starts(n_frames, stride, length)]
    return torch.stack(windows)[:, None]


def utterance_segments(
    waveforms: Sequence[np.ndarray],
    extractor: torch.nn.Module,
    stride: int,
    *,
    stats: FeatureStats | None = None,
    device: torch.device | str = "cpu",
):
    """Yield ``(utterance_index, segments (n_seg, 1, n_features, 200))`` utterance by utterance.

    ``extractor``: an ``MFCCExtractor`` (n_features = 39) or a ``model.streams.StreamExtractor``
    (the stacked streams). ``waveforms``: each ``(time,)`` float at
    ``extractor.config.sample_rate``. Features are
    computed one utterance at a time so they do not depend on batch composition; inside
    ``model.shared_features()`` each stream of a waveform is computed once for all extractors.
    """
    length = extractor.config.segment_frames
    for i, wav in enumerate(waveforms):
        arr = np.asarray(wav)
        if arr.ndim != 1 or arr.size == 0:
            raise ModelError(f"waveform {i}: expected a non-empty 1-D array, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ModelError(f"waveform {i}: contains NaN or inf")
        check_length(arr.size, extractor.config, i)
        x = torch.as_tensor(arr, dtype=torch.float32, device=device)
        with torch.no_grad():
            share = active_share()  # an audit scoring one waveform with several models
            feats = extractor(x) if share is None else share.extract(extractor, x, wav)  # (39, frames)
            first, stop = speech_span(x, extractor.config)
            feats = feats[:, first:stop]
            if stats is not None:
                feats = stats.apply(feats)
        yield i, segment(feats, stride, length)


def check_length(n_samples: int, config: FeatureConfig, index: int) -> None:
    """Raise ``ModelError`` when waveform ``index`` (``n_samples`` long) is shorter than
    ``config.min_samples`` (torch would fail on the reflection padding with a traceback)."""
    m = config.min_samples
    if n_samples < m:
        raise ModelError(f"waveform {index}: {n_samples} samples, too short for the features: they "
                         f"need at least {m} ({1000 * m / config.sample_rate:.1f} ms at "
                         f"{config.sample_rate} Hz; centred {config.n_fft}-point frames are padded "
                         "by reflection)")


def fit_stats(
    waveforms: Sequence[np.ndarray], extractor: torch.nn.Module, *, device: torch.device | str = "cpu"
) -> FeatureStats:
    """Per-coefficient mean/std over all frames of ``waveforms`` (the training fold only; the
    frames ``speech_span`` keeps when the config trims)."""
    total = total_sq = None
    count = 0
    with torch.no_grad():
        for i, wav in enumerate(waveforms):
            check_length(np.asarray(wav).size, extractor.config, i)
            x = torch.as_tensor(np.asarray(wav), dtype=torch.float32, device=device)
            first, stop = speech_span(x, extractor.config)
            f = extractor(x)[:, first:stop].double().cpu()  # (n_features, frames); rows depend on the streams
            if total is None:
                total = torch.zeros(f.shape[0], dtype=torch.float64)
                total_sq = torch.zeros_like(total)
            total += f.sum(dim=1)
            total_sq += (f * f).sum(dim=1)
            count += f.shape[1]
    if count == 0:
        raise ModelError("cannot fit feature statistics on zero frames")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return FeatureStats(tuple(mean.tolist()), tuple(std.tolist()))
