"""Validation speakers scored after every epoch: utterance probabilities pooled from test-stride
segments exactly as ``model.predict.Predictor`` pools them (fp32, padded fixed-size batches)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from model.features import FeatureConfig, FeatureStats, utterance_segments
from model.streams import StreamExtractor

__all__ = ["ValidationSet", "unweighted_accuracy"]


def unweighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true`` (UA, balanced accuracy)."""
    classes = np.unique(y_true)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))


class ValidationSet:
    """``waveforms`` (each ``(time,)`` at 16 kHz) of the validation speakers and their class
    indices; segments are cut once at the test stride."""

    def __init__(self, waveforms: Sequence[np.ndarray], label_idx: Sequence[int], features: FeatureConfig, *,
                 stats: FeatureStats | None = None, device: torch.device | str = "cpu") -> None:
        extractor = StreamExtractor(features).to(device)
        parts, owners = [], []
        for i, segs in utterance_segments(waveforms, extractor, features.test_stride, stats=stats, device=device):
            parts.append(segs)
            owners.append(np.full(segs.shape[0], i))
        self.x = torch.cat(parts)  # (S, 1, rows, 200)
        self.owner = np.concatenate(owners)  # (S,)
        self.y = np.asarray(label_idx, dtype=np.int64)  # (n_utt,)

    def __len__(self) -> int:
        return len(self.y)

    @torch.no_grad()
    def probabilities(self, model: nn.Module, batch_size: int = 32) -> np.ndarray:
        """``(n_utt, K)`` mean segment softmax per utterance (eval mode, fp32)."""
        model.eval()
        k = model.config.num_classes
        sums = np.zeros((len(self.y), k))
        for start in range(0, self.x.shape[0], batch_size):
            xb = self.x[start:start + batch_size]
            n = xb.shape[0]
            if n < batch_size:  # the predictor's convention: every forward sees batch_size rows
                xb = torch.cat([xb, xb.new_zeros((batch_size - n, *xb.shape[1:]))])
            prob = torch.softmax(model(xb).float()[:n], dim=1).double().cpu().numpy()
            np.add.at(sums, self.owner[start:start + n], prob)
        return sums / np.bincount(self.owner, minlength=len(self.y))[:, None]

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """``val_loss`` (mean -log pooled probability of the true class), ``val_wa``, ``val_ua``."""
        prob = self.probabilities(model)
        pred = prob.argmax(axis=1)
        true_p = prob[np.arange(len(self.y)), self.y].clip(1e-12, None)
        return {"val_loss": float(-np.log(true_p).mean()), "val_wa": float(np.mean(pred == self.y)),
                "val_ua": unweighted_accuracy(self.y, pred)}
