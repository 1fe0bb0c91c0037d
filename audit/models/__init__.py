"""Model adapters: our checkpoints, TorchScript, ONNX, Python entry points, and local Hugging Face
(``hf:DIR``) and SpeechBrain (``speechbrain:DIR``) folders as predictors (see docs/engine.md)."""

from audit.models._hf import load_hf
from audit.models._load import ModelSet, check_classes, load_model, load_models
from audit.models._speechbrain import load_speechbrain
from audit.models._windows import WindowConfig

__all__ = ["ModelSet", "WindowConfig", "check_classes", "load_hf", "load_model", "load_models",
           "load_speechbrain"]
