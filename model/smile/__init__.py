"""The openSMILE baseline family: eGeMAPSv02 / ComParE_2016 functionals + a standardised linear
SVM or logistic regression (``egemaps_svm``, ``egemaps_logreg``, ``compare_svm``).

Optional: ``pip install 'ser-audit[smile]'`` (opensmile, scikit-learn). The opensmile wrapper
is MIT, the openSMILE library inside it is under audEERING's research licence (non-commercial;
commercial use needs their licence). Checkpoints are safetensors + a JSON sidecar of kind
``smile``; auditing needs opensmile but not scikit-learn.
"""

from model.smile.checkpoint import SMILE_FORMAT, SmilePredictor, is_smile_checkpoint, load_smile, save_smile
from model.smile.features import FEATURE_SETS, SmileFeatureConfig, SmileFeatures, opensmile_version
from model.smile.linear import CLASSIFIERS, LinearModel, fit_linear
from model.smile.registry import SMILE_MODELS, SmileConfig, is_smile_model, list_smile_models, smile_config

__all__ = [
    "CLASSIFIERS", "FEATURE_SETS", "LinearModel", "SMILE_FORMAT", "SMILE_MODELS", "SmileConfig",
    "SmileFeatureConfig", "SmileFeatures", "SmilePredictor", "fit_linear", "is_smile_checkpoint",
    "is_smile_model", "list_smile_models", "load_smile", "opensmile_version", "save_smile",
    "smile_config",
]
