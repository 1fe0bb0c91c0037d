"""SER models: MFCC features, MACNN and its attention family, AAM, the trainer, checkpoints.

Public surface (docs/architecture.md, ``model`` contract): ``FeatureConfig``,
``create_model``, ``list_models``, ``TrainConfig``, ``train_model``, ``load_checkpoint``,
``Predictor``, ``ModelError``.
"""

from model.aam import AAMConfig, aam_batch
from model.attention import ATTENTION_KINDS
from model.complexity import PAPER_TABLE20, count_macs, count_parameters, measure_latency
from model.errors import ModelError
from model.features import FeatureConfig, FeatureStats, MFCCExtractor
from model.macnn import MACNN, MACNNConfig
from model.mixup import mixup
from model.predict import Predictor, load_checkpoint, resolve_device
from model.registry import create_model, list_models
from model.train import AUGMENTATIONS, TrainConfig, train_model

__all__ = [
    "AAMConfig",
    "ATTENTION_KINDS",
    "AUGMENTATIONS",
    "FeatureConfig",
    "FeatureStats",
    "MACNN",
    "MACNNConfig",
    "MFCCExtractor",
    "ModelError",
    "PAPER_TABLE20",
    "Predictor",
    "TrainConfig",
    "aam_batch",
    "count_macs",
    "count_parameters",
    "create_model",
    "list_models",
    "load_checkpoint",
    "measure_latency",
    "mixup",
    "resolve_device",
    "train_model",
]
