"""SER models: MFCC and IFN feature streams, MACNN and its attention family, IFN, AAM, the
trainer, checkpoints.

Public surface (docs/architecture.md, ``model`` contract): ``FeatureConfig``,
``create_model``, ``list_models``, ``TrainConfig``, ``train_model``, ``load_checkpoint``,
``Predictor``, ``ModelError``; ``StreamExtractor``, ``STREAMS``, ``IFN``, ``IFNConfig``.
"""

from model.aam import AAMConfig, aam_batch
from model.attention import ATTENTION_KINDS
from model.complexity import PAPER_TABLE20, count_macs, count_parameters, measure_latency
from model.errors import ModelError
from model.feature_share import FeatureShare, shared_features
from model.features import FeatureConfig, FeatureStats, MFCCExtractor
from model.ifn import IFN, IFNConfig
from model.macnn import MACNN, MACNNConfig
from model.mixup import mixup
from model.checkpoint import speakers_seen
from model.ensemble import EnsemblePredictor, load_ensemble, write_ensemble
from model.predict import Predictor, SegmentStream, load_checkpoint, resolve_device
from model.recalibrate import recalibrate_checkpoint
from model.registry import create_model, list_models
from model.streams import STREAMS, StreamExtractor, stream_dims
from model.train import AUGMENTATIONS, TrainConfig, train_model
from model._resume import resume_path

__all__ = [
    "AAMConfig",
    "ATTENTION_KINDS",
    "AUGMENTATIONS",
    "EnsemblePredictor",
    "FeatureConfig",
    "FeatureShare",
    "FeatureStats",
    "IFN",
    "IFNConfig",
    "MACNN",
    "MACNNConfig",
    "MFCCExtractor",
    "ModelError",
    "PAPER_TABLE20",
    "Predictor",
    "STREAMS",
    "SegmentStream",
    "resume_path",
    "StreamExtractor",
    "TrainConfig",
    "aam_batch",
    "count_macs",
    "count_parameters",
    "create_model",
    "list_models",
    "load_checkpoint",
    "load_ensemble",
    "measure_latency",
    "mixup",
    "recalibrate_checkpoint",
    "resolve_device",
    "shared_features",
    "speakers_seen",
    "stream_dims",
    "train_model",
    "write_ensemble",
]
