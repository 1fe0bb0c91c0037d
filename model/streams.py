"""Feature streams for IFN, all on the MFCC frame grid (10 ms hop, ``1 + time // hop`` frames).

- ``mfcc``: the project's 39-dim MFCC (``model.features.MFCCExtractor``).
- ``spectral``: log-mel (``spectral_mels`` = 64 bands, 25 ms Hamming window) and five
  descriptors of the power spectrum: centroid, bandwidth (kHz), 85 % roll-off (kHz),
  flatness, flux -> ``(spectral_mels + 5, frames)``.
- ``prosodic``: log-F0 (0 where unvoiced), voicing probability, log-energy and their deltas
  -> ``(6, frames)``; F0 from a batched YIN (``model._pitch``).
- ``ssl``: hidden states of a local pre-trained speech model (``model.ssl``), linearly
  interpolated from its 50 frames/s to the MFCC grid -> ``(hidden_size, frames)``.

``StreamExtractor`` stacks the streams a ``FeatureConfig`` names on the feature axis, so a
multi-stream segment is one ``(1, sum(dims), 200)`` tensor that the trainer, AAM, MixUp and the
predictor handle like an MFCC segment; the network splits it back by ``stream_dims``. Every
stream works on ``(..., time)`` batches and one item's features never depend on the others.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torchaudio
from torch import nn

from model._pitch import yin
from model.errors import ModelError
from model.features import FeatureConfig, MFCCExtractor

__all__ = [
    "STREAMS",
    "stream_dims",
    "spectral_descriptors",
    "SpectralStream",
    "ProsodicStream",
    "SSLStream",
    "StreamExtractor",
    "network_features",
]

STREAMS = ("mfcc", "spectral", "prosodic", "ssl")
_N_DESCRIPTORS = 5
_N_PROSODIC = 6
_EPS = 1e-10


def stream_dims(config: FeatureConfig) -> tuple[int, ...]:
    """Rows each stream of ``config.streams`` contributes, in order (ssl: the folder's
    ``hidden_size``, read from its config.json without loading the model)."""
    from model.ssl import ssl_hidden_size

    dims = {"mfcc": lambda: config.n_features, "spectral": lambda: config.spectral_mels + _N_DESCRIPTORS,
            "prosodic": lambda: _N_PROSODIC, "ssl": lambda: ssl_hidden_size(config.ssl_model)}
    return tuple(dims[s]() for s in config.streams)


def spectral_descriptors(power: torch.Tensor, sample_rate: int, *, rolloff: float = 0.85) -> torch.Tensor:
    """Five per-frame descriptors of a power spectrogram.

    ``power: (..., n_freq, frames)`` (bins 0 .. sample_rate / 2) -> ``(..., 5, frames)``:
    centroid and bandwidth (kHz, power-weighted mean and standard deviation of frequency),
    roll-off (kHz, lowest frequency below which ``rolloff`` of the power lies), flatness
    (geometric / arithmetic mean of the power, 0..1) and flux (mean half-wave-rectified rise of
    the dB spectrum from the previous frame, 0 for the first frame; gain-invariant, so loudness
    stays in the energy terms).
    """
    n_freq = power.shape[-2]
    freqs = torch.linspace(0, sample_rate / 2000, n_freq, device=power.device, dtype=power.dtype)[:, None]
    total = power.sum(-2, keepdim=True) + _EPS  # (..., 1, frames)
    centroid = (freqs * power).sum(-2, keepdim=True) / total
    bandwidth = (((freqs - centroid) ** 2 * power).sum(-2, keepdim=True) / total).sqrt()
    below = power.cumsum(-2) >= rolloff * total  # (..., n_freq, frames)
    roll = _first_freq(below, freqs)
    log_p = torch.log(power + _EPS)
    flatness = log_p.mean(-2, keepdim=True).exp() / (power.mean(-2, keepdim=True) + _EPS)
    db = (10 / math.log(10)) * log_p  # dB
    rise = (db[..., 1:] - db[..., :-1]).clamp_min(0).mean(-2, keepdim=True)
    flux = torch.nn.functional.pad(rise, (1, 0))
    return torch.cat([centroid, bandwidth, roll, flatness.clamp(0, 1), flux], dim=-2)


def _first_freq(mask: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Frequency ``(..., 1, frames)`` of the first True bin of ``mask: (..., n_freq, frames)``."""
    first = mask.to(torch.int8).argmax(-2, keepdim=True)  # (..., 1, frames)
    return freqs[:, 0][first]


class SpectralStream(nn.Module):
    """``(..., time)`` -> ``(..., spectral_mels + 5, frames)``: log-mel (dB) + descriptors."""

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        c = self.config = config
        self.spec = torchaudio.transforms.Spectrogram(
            n_fft=c.n_fft, win_length=c.win_length, hop_length=c.hop_length,
            window_fn=torch.hamming_window, power=2.0, center=True, pad_mode="reflect",
        )
        self.mel = torchaudio.transforms.MelScale(c.spectral_mels, c.sample_rate, n_stft=c.n_fft // 2 + 1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        power = self.spec(waveform)  # (..., n_fft // 2 + 1, frames)
        log_mel = 10.0 * torch.log10(self.mel(power).clamp_min(_EPS))  # (..., 64, frames)
        return torch.cat([log_mel, spectral_descriptors(power, self.config.sample_rate)], dim=-2)


class ProsodicStream(nn.Module):
    """``(..., time)`` -> ``(..., 6, frames)``: log-F0 (0 unvoiced), voicing probability,
    log-energy (dB of the 25 ms Hamming-windowed frame), then the three deltas."""

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hamming_window(config.win_length), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        c = self.config
        f0, voicing = yin(waveform, c.sample_rate, c.hop_length, c.f0_min_hz, c.f0_max_hz)  # (..., F)
        log_f0 = torch.where(f0 > 0, torch.log(f0.clamp_min(1.0)), torch.zeros_like(f0))
        half = c.win_length // 2
        frames = torch.nn.functional.pad(waveform, (half, half)).unfold(-1, c.win_length, c.hop_length)
        energy = 10 * torch.log10((frames * self.window).square().mean(-1) + _EPS)  # (..., F)
        static = torch.stack([log_f0, voicing, energy], dim=-2)  # (..., 3, F)
        delta = torchaudio.functional.compute_deltas(static, win_length=2 * c.delta_width + 1)
        return torch.cat([static, delta], dim=-2)


class SSLStream(nn.Module):
    """``(..., time)`` -> ``(..., hidden_size, frames)``: one hidden layer of a frozen local
    pre-trained model, linearly interpolated to the MFCC frame grid."""

    _MIN_SAMPLES = 400  # the wav2vec2-family conv front end needs one 25 ms receptive field

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        from model.ssl import load_ssl_encoder, ssl_normalizes

        self.config = config
        self.encoder = load_ssl_encoder(str(config.ssl_model))
        self.normalize = ssl_normalizes(config.ssl_model)

    def train(self, mode: bool = True) -> SSLStream:
        super().train(mode)
        self.encoder.eval()  # frozen: its dropout stays off whatever the caller's mode
        return self

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        c = self.config
        lead, time = waveform.shape[:-1], waveform.shape[-1]
        x = waveform.reshape(-1, time).float()  # (B, time)
        if self.normalize:  # per utterance, as the model's feature extractor would
            x = (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False) + 1e-7).sqrt()
        if time < self._MIN_SAMPLES:
            x = torch.nn.functional.pad(x, (0, self._MIN_SAMPLES - time))
        out = self.encoder(x, output_hidden_states=True)
        try:
            hidden = out.hidden_states[c.ssl_layer]  # (B, T', H)
        except IndexError:
            raise ModelError(f"ssl_layer={c.ssl_layer}: the model has {len(out.hidden_states)} hidden "
                             f"states") from None
        n_frames = 1 + time // c.hop_length
        h = torch.nn.functional.interpolate(hidden.transpose(1, 2), size=n_frames, mode="linear",
                                            align_corners=False)  # (B, H, frames)
        return h.reshape(*lead, h.shape[1], n_frames)


_STREAM_MODULES = {"spectral": SpectralStream, "prosodic": ProsodicStream, "ssl": SSLStream}


class StreamExtractor(nn.Module):
    """The streams of ``config.streams`` stacked on the feature axis.

    ``waveform: (..., time)`` at 16 kHz -> ``(..., sum(dims), frames)``; ``dims`` gives each
    stream's rows in order. ``config`` is the ``FeatureConfig`` (segmentation included), so the
    extractor drops into ``model.features.utterance_segments`` and ``fit_stats``.
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeatureConfig()
        self.dims = stream_dims(self.config)
        self.streams = nn.ModuleList(
            MFCCExtractor(self.config) if s == "mfcc" else _STREAM_MODULES[s](self.config)
            for s in self.config.streams
        )

    @property
    def n_features(self) -> int:
        return sum(self.dims)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        parts = [stream(waveform) for stream in self.streams]  # each (..., dim_s, frames)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-2)


def network_features(features: FeatureConfig, network_config, *, name: str = "") -> tuple[FeatureConfig, dict]:
    """The feature config a network consumes, and the config overrides that size it.

    ``network_config``: a ``MACNNConfig`` (MFCC only: ``features`` unchanged, no overrides) or
    an ``IFNConfig``: its ``streams`` replace ``features.streams``, standardisation is on (the
    ifn-spec standardises every stream with training-fold statistics) and the overrides carry
    ``stream_dims`` as the pipeline produces them (ssl: the encoder's hidden size).
    """
    streams = getattr(network_config, "streams", None)
    if streams is None:
        return features, {}
    if "ssl" in streams and not features.ssl_model:
        raise ModelError(f"model {name or 'IFN'} uses the ssl stream: give a local pre-trained speech "
                         f"model folder (FeatureConfig.ssl_model, audit train --ssl-model DIR)")
    needed = replace(features, streams=tuple(streams), standardize=True)
    return needed, {"stream_dims": stream_dims(needed)}
