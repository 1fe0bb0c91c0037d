"""Model adapters: our checkpoints, TorchScript, ONNX, Python entry points, and local Hugging Face
(``hf:DIR``) and SpeechBrain (``speechbrain:DIR``) folders as predictors (see docs/engine.md).

Every predictor satisfies :class:`Predictor` (``audit/models/protocol.py``): the one seam
between a model and the engine."""

from audit.models._hf import load_hf
from audit.models._load import ModelSet, check_classes, load_model, load_models
from audit.models._speechbrain import load_speechbrain
from audit.models._windows import WindowConfig
from audit.models.protocol import (PRECISIONS, FeatureSettings, Predictor, cache_identity,
                                   check_predictor, feature_key)

__all__ = ["PRECISIONS", "FeatureSettings", "ModelSet", "Predictor", "WindowConfig", "cache_identity",
           "check_classes", "check_predictor", "feature_key", "load_hf", "load_model", "load_models",
           "load_speechbrain"]
