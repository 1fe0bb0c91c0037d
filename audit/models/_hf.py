"""``hf:PATH``: a local Hugging Face ``save_pretrained`` audio-classification folder as a predictor.

Loads ``AutoFeatureExtractor`` + ``AutoModelForAudioClassification`` with
``local_files_only=True`` (a hub name is refused, never fetched), maps ``id2label`` onto the
data's emotion names (:mod:`audit.models._classmap`), resamples 16 kHz input to the extractor's
rate and scores long utterances in windows (:mod:`audit.models._windows`). Per window it does
what ``transformers.pipeline("audio-classification")`` does: feature extractor on the raw
waveform, model, softmax of the logits.

The cache identity (``sha256``) hashes the weight files together with ``config.json`` (class
order, architecture) and ``preprocessor_config.json`` (normalisation, rate): any of them changes
the probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.models._classmap import map_model_classes
from audit.models._offline import hash_files, hub_offline, local_folder
from audit.models._windows import WindowConfig, WindowedPredictor, resolve_adapter_precision

__all__ = ["load_hf", "hf_weight_files"]

_WEIGHTS = ("model.safetensors", "model-*-of-*.safetensors", "pytorch_model.bin",
            "pytorch_model-*-of-*.bin")
_CONFIGS = ("config.json", "preprocessor_config.json")


def hf_weight_files(folder: Path) -> list[Path]:
    """The weight files of a ``save_pretrained`` folder (single or sharded, safetensors or bin)."""
    found: list[Path] = []
    for pattern in _WEIGHTS:
        found += sorted(folder.glob(pattern))
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_parts(folder: Path, label: str) -> tuple[Any, Any]:
    import torch
    import transformers

    transformers.logging.set_verbosity_error()  # no init notes on stderr
    transformers.logging.disable_progress_bar()  # nor "Loading weights" bars
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    with hub_offline():
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise AuditError(f"{label}: cannot read config.json ({_first_line(exc)})") from None
        try:
            # float32 whatever dtype the weights were saved in (transformers 5 loads the saved
            # dtype by default): reduced precision is the --precision option's business.
            model, info = AutoModelForAudioClassification.from_pretrained(
                folder, local_files_only=True, output_loading_info=True, dtype=torch.float32)
        except ValueError as exc:
            if "Unrecognized configuration class" in str(exc):
                raise AuditError(
                    f"{label}: config.json is a {type(config).__name__} "
                    f"({', '.join(getattr(config, 'architectures', None) or ['no architecture'])}), "
                    "not an audio-classification model") from None
            raise AuditError(f"{label}: cannot load the model ({_first_line(exc)})") from None
        except OSError as exc:
            raise AuditError(f"{label}: cannot load the model ({_first_line(exc)})") from None
        missing = sorted(info.get("missing_keys") or [])
        if missing:
            archs = ", ".join(getattr(config, "architectures", None) or ["no architecture"])
            raise AuditError(
                f"{label}: the weights lack {len(missing)} parameter(s) of the classifier "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): config.json says "
                f"{archs}, not a fine-tuned audio-classification model")
        try:
            extractor = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise AuditError(f"{label}: cannot load the feature extractor "
                             f"(preprocessor_config.json: {_first_line(exc)})") from None
    return model, extractor


def load_hf(text: str, *, device: str = "cpu", classes: Sequence[str] | None = None,
            window_s: float = 10.0, hop_s: float = 5.0, pass_s: float = 20.0,
            precision: str = "fp32") -> WindowedPredictor:
    """A predictor for the local folder ``text`` (``hf:`` already stripped).

    ``classes`` (``--classes``) names the outputs in ``id2label`` order instead of the synonym
    lookup; ``window_s`` / ``hop_s`` set the long-utterance windows, ``pass_s`` the audio of
    one forward pass (whole windows, at least one).
    """
    import torch

    from model.precision import autocast_context

    label = f"hf:{text}"
    folder = local_folder(text, "hf", "save_pretrained")
    if not (folder / "config.json").is_file():
        raise AuditError(f"{label}: no config.json in this folder (expected a save_pretrained folder)")
    weights = hf_weight_files(folder)
    if not weights:
        raise AuditError(f"{label}: no weights in this folder (model.safetensors or "
                         "pytorch_model.bin, possibly sharded)")
    model, extractor = _load_parts(folder, label)
    cfg = model.config
    if getattr(cfg, "problem_type", None) in ("regression", "multi_label_classification"):
        raise AuditError(f"{label}: config.json problem_type is {cfg.problem_type!r}; only "
                         "single-label emotion classifiers can be audited")
    id2label = {int(k): str(v) for k, v in (cfg.id2label or {}).items()}
    if sorted(id2label) != list(range(cfg.num_labels)):
        raise AuditError(f"{label}: config.json id2label {id2label} does not name outputs "
                         f"0..{cfg.num_labels - 1}")
    labels = [id2label[j] for j in range(cfg.num_labels)]
    names = map_model_classes(labels, source=f"{label}/config.json id2label", classes=classes)
    sr = int(getattr(extractor, "sampling_rate", 0) or 0)
    if sr <= 0:
        raise AuditError(f"{label}: preprocessor_config.json has no sampling_rate")
    dev = torch.device(str(device))
    mode = resolve_adapter_precision(precision, dev, label)
    model = model.to(dev).eval()

    def forward(batch: np.ndarray) -> np.ndarray:
        inputs = extractor(list(batch), sampling_rate=sr, return_tensors="pt")
        inputs = {k: v.to(dev) for k, v in inputs.items()}
        with torch.no_grad(), autocast_context(mode, dev):
            logits = model(**inputs).logits.float()
        return torch.softmax(logits, dim=-1).cpu().numpy()

    files = weights + [folder / c for c in _CONFIGS if (folder / c).is_file()]
    meta = {"adapter": "hf", "folder": str(folder.resolve()), "id2label": labels,
            "model_type": getattr(cfg, "model_type", ""),
            "architectures": list(getattr(cfg, "architectures", None) or [])}
    return WindowedPredictor(forward, names, WindowConfig("hf", sr, window_s, hop_s, pass_s),
                             name=folder.name, sha256=hash_files(folder, files), meta=meta,
                             precision=mode)
