"""BatchNorm statistics recomputed for a finished checkpoint ("precise BN", after training).

During training every BatchNorm layer normalises with the statistics of its batch and keeps a
running average (momentum 0.1, so mostly the last ~20 batches, and of augmented batches where
AAM or MixUp trains); prediction uses that average. ``recalibrate_checkpoint`` replaces it with
the exact average of the batch statistics over the checkpoint's own training segments, in a
fixed order, with the weights unchanged: what ``audit train --bn-recalibrate`` does after the
last epoch, for a checkpoint trained without it. Only BatchNorm buffers change; the training
data must be the one that trained the checkpoint (the caller checks the speakers).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from model._epoch import recalibrate_batchnorm
from model._seed import deterministic, seeded_global
from model.checkpoint import git_commit, load_model, save_checkpoint
from model.errors import ModelError
from model.features import FeatureConfig, FeatureStats
from model.precision import cpu_capability, cpu_name
from model.train import build_training_set, training_threads

__all__ = ["recalibrate_checkpoint", "SIDECAR_KEY"]

SIDECAR_KEY = "bn_recalibrated"  # the sidecar entry that records what was done
_WRITTEN_BY_SAVE = ("format", "family", "model_config", "weights_file", "weights_sha256")


def _norm_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def recalibrate_checkpoint(path: str | Path, waveforms: Sequence[np.ndarray], out_stem: str | Path, *,
                           batch_size: int | None = None, threads: int = 1,
                           provenance: dict | None = None, expect_segments: int | None = None) -> Path:
    """Write ``<out_stem>.safetensors`` / ``.json``: the checkpoint at ``path`` with every
    BatchNorm's running mean and variance recomputed over the training segments of
    ``waveforms`` (16 kHz, the utterances that trained it; the segments are cut as the trainer
    cut them, with the checkpoint's feature config and standardisation).

    ``batch_size``: default ``max(training batch, 64)``, as ``--bn-recalibrate`` uses; with
    the same ``threads`` as training the result equals a training run with
    ``--bn-recalibrate`` bit for bit. The sidecar is the source's, with ``bn_recalibrated``
    added (source weights hash, segments, batch size, threads, commit, CPU, ``provenance``);
    ``final_metrics``' held-out scores are removed (they described the source). Returns the
    weights path. ``ModelError`` (nothing written) if the network has no BatchNorm layer, there
    is nothing to read, or the segments are not ``expect_segments`` (the sidecar's
    ``n_train_segments``: other utterances than the ones that trained it).

    Bit for bit equal to ``--bn-recalibrate`` only for a checkpoint trained on the CPU and
    recomputed with the thread count that trained it (both set the reduction order).
    """
    model, doc, weights = load_model(path)
    if not _norm_layers(model):
        raise ModelError(f"{weights}: {doc.get('name', 'the model')} has no BatchNorm layer: nothing to recalibrate")
    if doc.get(SIDECAR_KEY) or (doc.get("train_config") or {}).get("bn_recalibrate"):
        raise ModelError(f"{weights}: its BatchNorm statistics were already recomputed after training")
    if not waveforms:
        raise ModelError(f"{weights}: no training waveforms to recompute BatchNorm statistics from")
    train_cfg = doc.get("train_config") or {}
    batch = int(batch_size) if batch_size is not None else max(int(train_cfg.get("batch_size", 32)), 64)
    if batch < 2:
        raise ModelError(f"batch_size={batch}: BatchNorm statistics need at least 2 segments per batch")
    features = FeatureConfig.from_dict(doc["feature_config"])
    stats = FeatureStats.from_dict(doc["feature_stats"]) if doc.get("feature_stats") else None
    seed = int(doc["seed"] if doc.get("seed") is not None else train_cfg.get("seed", 987654))
    with training_threads(threads), deterministic(), seeded_global(seed, "bn_recalibrate"):
        x_all, _ = build_training_set(waveforms, [0] * len(waveforms), features, stats=stats)
        if expect_segments is not None and int(x_all.shape[0]) != int(expect_segments):
            raise ModelError(f"{weights}: trained on {expect_segments} segments, these waveforms give "
                             f"{x_all.shape[0]}: not the utterances that trained it")
        recalibrate_batchnorm(model, x_all, batch)  # leaves the model in eval mode
    sidecar = {k: v for k, v in doc.items() if k not in _WRITTEN_BY_SAVE}
    sidecar["final_metrics"] = {k: v for k, v in (doc.get("final_metrics") or {}).items()
                                if k not in ("test_wa", "test_ua", "n_test")}
    sidecar[SIDECAR_KEY] = {
        "source_weights": weights.name,
        "source_weights_sha256": doc.get("weights_sha256"),
        "source_final_metrics": doc.get("final_metrics"),
        "n_utterances": len(waveforms),
        "n_segments": int(x_all.shape[0]),
        "batch_size": batch,
        "threads": threads,
        "git_commit": git_commit(),
        "cpu": cpu_name(),
        "cpu_capability": cpu_capability(),
        **(provenance or {}),
    }
    return save_checkpoint(Path(out_stem), model, sidecar)
