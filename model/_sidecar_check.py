"""The values a checkpoint sidecar may hold: types, ranges and file names, checked before any
network or feature pipeline is built from them (a hostile or corrupt sidecar gets a one-line
reason, never a 4 GiB window or a million conv modules)."""

from __future__ import annotations

import math
from pathlib import Path

from model.errors import ModelError
from model.features import FeatureConfig

__all__ = ["sidecar_problem"]

# Bounds on what a sidecar may ask for: far above any real configuration, far below what would
# exhaust memory when the feature pipeline is built (an n_fft of 2**30 is a 4 GiB window).
_FEATURE_MAX = {"sample_rate": 384_000, "n_mfcc": 128, "n_mels": 512, "win_length": 65_536,
                "hop_length": 65_536, "n_fft": 65_536, "delta_width": 64, "segment_frames": 100_000,
                "train_stride": 100_000, "test_stride": 100_000}
_MAX_CLASSES = 1000
# module counts grow with these (a million heads is three million conv modules to build)
_MODEL_MAX = {"num_classes": _MAX_CLASSES, "n_heads": 64, "hidden": 4096, "sa_groups": 4096,
              "ca_reduction": 4096}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def sidecar_problem(doc: dict) -> str | None:
    """What is wrong with a sidecar's values (types, ranges, file names), or None."""
    classes = doc["classes"]
    if (not isinstance(classes, list) or not 2 <= len(classes) <= _MAX_CLASSES
            or not all(isinstance(c, str) and c for c in classes) or len(set(classes)) != len(classes)):
        return f"'classes' must be a list of 2 to {_MAX_CLASSES} distinct non-empty names"
    model = doc["model_config"]
    if not isinstance(model, dict):
        return "'model_config' must be an object"
    for key, high in _MODEL_MAX.items():
        if key in model and not (_is_int(model[key]) and 1 <= model[key] <= high):
            return f"model_config.{key}={model[key]!r}: must be an integer from 1 to {high}"
    feats = doc["feature_config"]
    if not isinstance(feats, dict):
        return "'feature_config' must be an object"
    for key, high in _FEATURE_MAX.items():
        if key in feats and not (_is_int(feats[key]) and 1 <= feats[key] <= high):
            return f"feature_config.{key}={feats[key]!r}: must be an integer from 1 to {high}"
    if "standardize" in feats and not isinstance(feats["standardize"], bool):
        return f"feature_config.standardize={feats['standardize']!r}: must be true or false"
    try:
        FeatureConfig.from_dict(feats)
    except (TypeError, ModelError) as exc:
        return f"bad feature_config ({exc})"
    stats = doc.get("feature_stats")
    if stats is not None:
        n = 3 * feats.get("n_mfcc", 13) if _is_int(feats.get("n_mfcc", 13)) else None
        if tuple(feats.get("streams") or ("mfcc",)) != ("mfcc",):
            # multi-stream (IFN): one value per stacked row; the predictor checks the rows
            # against the network, here only a sane bounded length equal for mean and std
            mean = stats.get("mean") if isinstance(stats, dict) else None
            n = len(mean) if isinstance(mean, list) and 1 <= len(mean) <= 100_000 else None
        ok = isinstance(stats, dict) and n is not None and all(
            isinstance(stats.get(k), list) and len(stats[k]) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in stats[k]) for k in ("mean", "std"))
        if not ok or not all(v > 0 for v in stats["std"]):
            count = n if n is not None else "as many as the feature rows,"
            return f"'feature_stats' must hold 'mean' and 'std': {count} finite numbers each, std > 0"
    name = doc.get("weights_file")
    if name is not None and (not isinstance(name, str) or name in ("", ".", "..")
                             or "/" in name or "\\" in name or "\x00" in name
                             or Path(name).suffix not in (".safetensors", ".pt", ".pth")):
        return (f"'weights_file'={name!r}: must be a plain file name beside the sidecar "
                "(.safetensors, .pt or .pth)")
    fold = doc.get("fold")
    if fold is not None and not (_is_int(fold) and fold >= 0):
        return f"'fold'={fold!r}: must be a non-negative integer or null"
    for key in ("train_speakers", "training_speakers"):
        spk = doc.get(key)
        if spk is not None and not (isinstance(spk, list) and all(isinstance(x, (str, int)) for x in spk)):
            return f"'{key}' must be a list of speaker ids"
    if not isinstance(doc.get("name", ""), str):
        return f"'name'={doc['name']!r}: must be a string"
    return None
