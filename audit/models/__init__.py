"""Model adapters: our checkpoints, TorchScript, ONNX and Python entry points as predictors."""

from audit.models._load import ModelSet, check_classes, load_model, load_models

__all__ = ["ModelSet", "check_classes", "load_model", "load_models"]
