"""A local pre-trained speech model folder (wav2vec2 / HuBERT / WavLM) as a frozen encoder.

Only local files are read (``local_files_only=True``): nothing is downloaded. ``transformers``
is optional (the ``ssl`` extra); without it, or without the folder, the ``ssl`` stream raises a
one-line ``ModelError`` and its tests are skipped.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from model.errors import ModelError

__all__ = ["ssl_unavailable", "ssl_hidden_size", "ssl_normalizes", "load_ssl_encoder"]


def _config(folder: str | Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelError(f"{folder}: not a pre-trained model folder (no config.json)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model config ({exc})") from None


def ssl_unavailable(folder: str | Path | None) -> str | None:
    """Why the ssl stream cannot run with ``folder`` (None when it can)."""
    if importlib.util.find_spec("transformers") is None:
        return "the ssl stream needs transformers (pip install 'ser-audit[ssl]')"
    if not folder:
        return "no ssl model folder given"
    if not (Path(folder) / "config.json").is_file():
        return f"{folder}: not a pre-trained model folder (no config.json)"
    return None


def ssl_hidden_size(folder: str | Path) -> int:
    """Width of the folder's hidden states (``hidden_size`` in its config.json)."""
    size = _config(folder).get("hidden_size")
    if not isinstance(size, int) or size < 1:
        raise ModelError(f"{folder}/config.json: no positive integer hidden_size")
    return size


def ssl_normalizes(folder: str | Path) -> bool:
    """Whether the model expects zero-mean unit-variance input (its feature extractor's
    ``do_normalize``; wav2vec2-base says no, most large and HuBERT/WavLM models yes)."""
    path = Path(folder) / "preprocessor_config.json"
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text()).get("do_normalize", False))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable preprocessor config ({exc})") from None


@lru_cache(maxsize=2)
def load_ssl_encoder(folder: str):
    """The folder's ``transformers`` model, eval mode, gradients off; cached so fold
    checkpoints that share one encoder load it once."""
    reason = ssl_unavailable(folder)
    if reason:
        raise ModelError(reason)
    from transformers import AutoModel

    try:
        encoder = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{folder}: cannot load the pre-trained model ({first[:200]})") from None
    encoder.eval()
    encoder.requires_grad_(False)
    return encoder
