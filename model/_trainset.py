"""The training segments of each epoch: clean features cached per speed factor, perturbed
utterances rendered afresh (``render``), SpecAugment masks drawn per segment.

``TrainingSet.epoch(e)`` is a function of ``(seed, e)`` and the data alone: each utterance
draws its speed factor from ``(seed, "speed", e, utterance)``, the caller's ``render(i, e)``
derives its own generator per utterance and epoch, and the masks come from ``mask_plan``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model._seed import numpy_rng
from model.features import FeatureConfig, FeatureStats, utterance_segments
from model.specaugment import MaskPlan, mask_plan
from model.speed import change_speed
from model.streams import StreamExtractor

__all__ = ["Render", "EpochSet", "TrainingSet"]

# render(i, epoch) -> (waveform (time,) at 16 kHz, names of the conditions applied), or None
# when utterance i stays clean this epoch.
Render = Callable[[int, int], "tuple[np.ndarray, list[str]] | None"]


@dataclass
class EpochSet:
    """One epoch's training data: ``x: (N, 1, rows, 200)``, ``y: (N,)`` long, ``weight: (N,)``
    float (None = all 1), ``masks`` (None = no SpecAugment) and ``stats``: the share of
    utterances each condition and speed factor was applied to (for the epoch log)."""

    x: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor | None
    masks: MaskPlan | None
    stats: dict[str, float]


class TrainingSet:
    """Training utterances ``waveforms`` (each ``(time,)`` at 16 kHz) with class indices
    ``label_idx``, per-utterance balance ``cells`` (None = no weighting; else each epoch weighs
    the segments so that every cell carries the same total weight, the weights averaging 1)
    and an optional ``render`` for multi-condition training; ``config`` is the ``TrainConfig``."""

    def __init__(self, waveforms: Sequence[np.ndarray], label_idx: Sequence[int], features: FeatureConfig,
                 config, *, stats: FeatureStats | None = None, device: torch.device | str = "cpu",
                 cells: Sequence[int] | None = None, render: Render | None = None) -> None:
        self.waveforms, self.label_idx = waveforms, [int(v) for v in label_idx]
        self.features, self.config, self.stats, self.device = features, config, stats, device
        self.cells = None if cells is None else [int(c) for c in cells]
        self.render = render
        self.extractor = StreamExtractor(features).to(device)
        self._cache: dict[float, list[torch.Tensor]] = {}
        self._clean: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None

    @property
    def static(self) -> bool:
        """True when every epoch sees the same segments (no speed factors, no rendering)."""
        return not self.config.speed_factors and self.render is None

    def _segments(self, waveforms: Sequence[np.ndarray]) -> list[torch.Tensor]:
        stride = self.features.train_stride
        return [segs for _, segs in utterance_segments(waveforms, self.extractor, stride, stats=self.stats,
                                                       device=self.device)]

    def segments(self, factor: float = 1.0) -> list[torch.Tensor]:
        """Per utterance its clean segments ``(n_i, 1, rows, 200)`` at speed ``factor`` (cached)."""
        if factor not in self._cache:
            wavs = self.waveforms if factor == 1.0 else [change_speed(w, factor) for w in self.waveforms]
            self._cache[factor] = self._segments(wavs)
        return self._cache[factor]

    def _stack(self, parts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        y = torch.cat([torch.full((p.shape[0],), self.label_idx[i], dtype=torch.long, device=self.device)
                       for i, p in enumerate(parts)])
        weight = None
        if self.cells is not None:
            cell = np.concatenate([np.full(p.shape[0], self.cells[i]) for i, p in enumerate(parts)])
            counts = np.bincount(cell)
            per_cell = len(cell) / (np.count_nonzero(counts) * np.maximum(counts, 1))
            weight = torch.as_tensor(per_cell[cell], dtype=torch.float32, device=self.device)
        return torch.cat(parts), y, weight

    def clean(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All clean segments at speed 1 and their labels (the paper's whole training set)."""
        if self._clean is None:
            self._clean = self._stack(self.segments(1.0))
        return self._clean[0], self._clean[1]

    def _factors(self, epoch: int) -> list[float]:
        factors = self.config.speed_factors
        if not factors:
            return [1.0] * len(self.waveforms)
        seed = self.config.seed
        return [float(factors[int(numpy_rng(seed, "speed", epoch, i).integers(len(factors)))])
                for i in range(len(self.waveforms))]

    def epoch(self, epoch: int) -> EpochSet:
        """The segments of ``epoch`` (0-based), in utterance order."""
        counts: Counter = Counter()
        if self.static:
            self.clean()
            x, y, weight = self._clean
        else:
            parts = []
            for i, factor in enumerate(self._factors(epoch)):
                rendered = self.render(i, epoch) if self.render is not None else None
                if rendered is None:
                    parts.append(self.segments(factor)[i])
                else:
                    wav, applied = rendered
                    counts.update(set(applied))
                    parts.append(self._segments([change_speed(wav, factor)])[0])
                if self.config.speed_factors:
                    counts[f"speed_{factor:g}"] += 1
            x, y, weight = self._stack(parts)
        masks = None
        if self.config.specaugment:
            c = self.config
            masks = mask_plan(c.seed, epoch, x.shape[0], x.shape[2], x.shape[3], freq_width=c.specaug_freq_width,
                              freq_masks=c.specaug_freq_masks, time_width=c.specaug_time_width,
                              time_masks=c.specaug_time_masks)
        n = len(self.waveforms)
        return EpochSet(x, y, weight, masks, {k: counts[k] / n for k in sorted(counts)})
