"""Feature streams computed once per waveform while a share is open.

An audit hands the same rendered waveform to every model that scores it: ``macnn`` and
``macnn_icasa`` read the same MFCC, and every IFN-family checkpoint (``ifn``, ``tuned``,
``tuned_mc``, the members of a seed ensemble) the same MFCC, spectral and prosodic streams.
Inside ``with shared_features():`` each stream of each waveform is computed once and handed to
every extractor that asks for it with the same stream settings; outside one, nothing is kept.

What is shared is exactly what would have been computed (the same module, settings, device and
dtype on the same samples), so predictions are byte-identical with and without a share (tested).
A waveform is recognised by identity: the share holds a reference to it, so its ``id`` cannot be
reused while the share is open, and it must not be modified in place meanwhile (the engine never
does). Memory: the streams of the waveforms seen in the share (the engine opens one per
condition and load of audio, so at most one load's features).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from typing import Any

import torch

__all__ = ["FeatureShare", "shared_features"]

# Settings that do not change a stream's frames: the segmentation, standardisation (applied
# after extraction with the checkpoint's own statistics), trimming (applied after) and which
# other streams are stacked beside it.
_NOT_STREAM = frozenset({"streams", "standardize", "segment_frames", "train_stride", "test_stride",
                         "trim_db"})

_ACTIVE: ContextVar[FeatureShare | None] = ContextVar("ser_audit_feature_share", default=None)


class FeatureShare:
    """The streams computed so far, keyed by (stream, settings, device, dtype, waveform).

    ``computed`` and ``reused`` count stream computations and hits (for tests and benchmarks).
    """

    def __init__(self) -> None:
        self._streams: dict[tuple, torch.Tensor] = {}
        self._owners: dict[int, Any] = {}
        self.computed = 0
        self.reused = 0

    def extract(self, extractor: torch.nn.Module, x: torch.Tensor, owner: Any) -> torch.Tensor:
        """``extractor(x)`` for ``x: (time,)``, the samples of ``owner`` (the caller's waveform
        object), stream by stream from the share where another extractor computed it.

        An extractor that is neither an ``MFCCExtractor`` nor a ``StreamExtractor`` runs as is.
        """
        parts = _streams_of(extractor)
        if parts is None:
            return extractor(x)
        settings = tuple((f.name, getattr(extractor.config, f.name)) for f in fields(extractor.config)
                         if f.name not in _NOT_STREAM)
        self._owners[id(owner)] = owner  # pinned: its id stays unique while the share lives
        out = []
        for name, module in parts:
            key = (name, type(module).__qualname__, settings, str(x.device), x.dtype, id(owner), x.shape)
            hit = self._streams.get(key)
            if hit is None:
                hit = module(x)
                self._streams[key] = hit
                self.computed += 1
            else:
                self.reused += 1
            out.append(hit)
        return out[0] if len(out) == 1 else torch.cat(out, dim=-2)


def _streams_of(extractor: torch.nn.Module) -> list[tuple[str, torch.nn.Module]] | None:
    from model.features import MFCCExtractor
    from model.streams import StreamExtractor

    if type(extractor) is MFCCExtractor:
        return [("mfcc", extractor)]
    if type(extractor) is StreamExtractor:
        return list(zip(extractor.config.streams, extractor.streams, strict=True))
    return None


def active_share() -> FeatureShare | None:
    """The share open in this context, or None."""
    return _ACTIVE.get()


@contextmanager
def shared_features() -> Iterator[FeatureShare]:
    """Open a share (or join the one already open) for the ``with`` block; yields it."""
    current = _ACTIVE.get()
    if current is not None:
        yield current
        return
    share = FeatureShare()
    token = _ACTIVE.set(share)
    try:
        yield share
    finally:
        _ACTIVE.reset(token)
