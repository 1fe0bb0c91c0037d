"""openSMILE functionals of an utterance: eGeMAPSv02 (88) or ComParE_2016 (6,373) features.

Backed by the ``opensmile`` package (``pip install 'ser-audit[smile]'``). Its Python wrapper is
MIT-licensed, but the openSMILE library it ships is under audEERING's research licence:
non-commercial research and teaching, commercial use needs a licence from audEERING.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model.errors import ModelError

__all__ = ["FEATURE_SETS", "SmileFeatureConfig", "SmileFeatures", "opensmile_version"]

# feature set -> number of functionals (checked against opensmile when extracting)
FEATURE_SETS = {"eGeMAPSv02": 88, "ComParE_2016": 6373}
SAMPLE_RATE = 16000


def _opensmile():
    try:
        import opensmile
    except ImportError:
        raise ModelError("the openSMILE models need the opensmile package: "
                         "pip install 'ser-audit[smile]'") from None
    return opensmile


def opensmile_version() -> str:
    """The installed opensmile version (it decides the feature values), or ``not installed``."""
    try:
        return str(_opensmile().__version__)
    except ModelError:
        return "not installed"


@dataclass(frozen=True)
class SmileFeatureConfig:
    """What the features are: the set, functionals level, input rate and opensmile version
    (part of the audit cache key: another version may compute other values)."""

    feature_set: str = "eGeMAPSv02"
    sample_rate: int = SAMPLE_RATE
    opensmile: str = ""

    def __post_init__(self) -> None:
        if self.feature_set not in FEATURE_SETS:
            raise ModelError(f"feature_set={self.feature_set!r}: expected one of {', '.join(FEATURE_SETS)}")
        if self.sample_rate != SAMPLE_RATE:
            raise ModelError(f"sample_rate={self.sample_rate}: the openSMILE models read {SAMPLE_RATE} Hz")

    def to_dict(self) -> dict:
        return {"feature_set": self.feature_set, "feature_level": "functionals",
                "sample_rate": self.sample_rate, "opensmile": self.opensmile}

    @classmethod
    def from_dict(cls, data: dict) -> "SmileFeatureConfig":
        return cls(str(data.get("feature_set", "")), int(data.get("sample_rate", SAMPLE_RATE)),
                   str(data.get("opensmile", "")))


class SmileFeatures:
    """``features(waveforms) -> (n_utt, n_features)`` float64, waveforms (time,) at 16 kHz."""

    def __init__(self, feature_set: str) -> None:
        opensmile = _opensmile()
        self.config = SmileFeatureConfig(feature_set, SAMPLE_RATE, str(opensmile.__version__))
        self._smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                                      feature_level=opensmile.FeatureLevel.Functionals)
        self.names = list(self._smile.feature_names)
        if len(self.names) != FEATURE_SETS[feature_set]:
            raise ModelError(f"opensmile {self.config.opensmile} gives {len(self.names)} "
                             f"{feature_set} functionals, expected {FEATURE_SETS[feature_set]}")

    def __call__(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty((len(waveforms), len(self.names)), dtype=np.float64)
        for i, wav in enumerate(waveforms):
            x = np.ascontiguousarray(wav, dtype=np.float32)
            if x.ndim != 1 or x.size == 0:
                raise ModelError(f"openSMILE features: expected a non-empty (time,) waveform, "
                                 f"got shape {x.shape}")
            out[i] = self._smile.process_signal(x, SAMPLE_RATE).to_numpy(dtype=np.float64)[0]
        if not np.isfinite(out).all():
            bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
            raise ModelError(f"openSMILE features: utterance {bad} of the batch gave NaN or inf")
        return out
