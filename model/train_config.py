"""Training settings: the paper's protocol as defaults, every choice explicit and recorded."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from model.aam import AAMConfig
from model.errors import ModelError
from model.features import FeatureConfig
from model.precision import PRECISIONS
from model.registry import model_config
from model.streams import network_features

__all__ = ["AUGMENTATIONS", "TrainConfig"]

# aam_nodiff / aam_random are the paper's Table 8 ablations; aam+mixup its Table 9 combination.
AUGMENTATIONS = ("none", "aam", "aam_nodiff", "aam_random", "mixup", "aam+mixup")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (paper section 3.2 defaults).

    lr_step_epochs : None = constant lr (paper); N = divide by ``1 / lr_gamma`` every N epochs
        (the reference code uses 10).
    aug : one of ``AUGMENTATIONS``. ``aam_nodiff`` = AAM with lambda from
        Beta(aam.beta_alpha) (or 0.5 with ``aam.weighting="half"``); ``aam_random`` = random
        partners without the similarity test; ``mixup`` replaces each batch by its MixUp;
        ``aam+mixup`` applies MixUp to the originals plus their AAM samples.
    bn_recalibrate : after the last epoch, replace BatchNorm running statistics by exact
        averages over the training segments under the final weights ("precise BN"); off by
        default (the paper keeps the running averages). Helps short runs, where the running
        averages lag behind fast-moving weights and eval mode then disagrees with training.
    time_budget_s : None = run all ``epochs``; else stop before an epoch that would end past
        the budget (counted from the start of this ``train_model`` call, predicted from the
        slowest epoch so far; the first epoch always runs). The saved model is the last
        completed epoch; the sidecar's ``epochs`` says how many ran, next to
        ``epochs_requested`` and ``stopped_early``; the resume state lets a later call go on.
    precision : ``auto`` (default: bf16 autocast where the CPU has native bf16, fp16 AMP on
        CUDA, else fp32), ``fp32`` or ``bf16`` (see ``model.precision``). bf16 trains 1.4-1.5x
        faster here with two fold jobs; in short runs its accuracy stayed within the
        seed-to-seed spread of fp32 (docs/model.md, with the evidence and its limits).
    threads : intra-op threads of the training step. Weights depend on it (reduction order),
        so it is fixed (default 1) and recorded rather than taken from the machine; more
        cores are used by training folds in parallel (``audit train --jobs``).
    progress : None = a progress bar only when stderr is a terminal.
    """

    model: str = "macnn_icasa"
    model_overrides: dict = field(default_factory=dict)
    aug: str = "aam"
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-6
    lr_step_epochs: int | None = None
    lr_gamma: float = 0.1
    seed: int = 987654
    device: str = "auto"
    precision: str = "auto"
    threads: int = 1
    aam: AAMConfig = field(default_factory=AAMConfig)
    mixup_alpha: float = 0.4
    features: FeatureConfig = field(default_factory=FeatureConfig)
    bn_recalibrate: bool = False
    time_budget_s: float | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.aug not in AUGMENTATIONS:
            raise ModelError(f"aug={self.aug!r}: choose one of {', '.join(AUGMENTATIONS)}")
        if self.precision not in PRECISIONS:
            raise ModelError(f"precision={self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        for name in ("epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ModelError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.mixup_alpha <= 0:
            raise ModelError(f"lr={self.lr}, weight_decay={self.weight_decay}, mixup_alpha="
                             f"{self.mixup_alpha}: lr and mixup_alpha must be > 0, weight_decay >= 0")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ModelError(f"time_budget_s={self.time_budget_s}: must be > 0 or None")
        if self.lr_step_epochs is not None and self.lr_step_epochs < 1:
            raise ModelError(f"lr_step_epochs={self.lr_step_epochs}: must be >= 1 or None")
        # Unknown name or override, or streams the features cannot give (ssl without a folder) -> ModelError.
        network_features(self.features, model_config(self.model, 2, **self.model_overrides), name=self.model)

    def effective_aam(self) -> AAMConfig | None:
        """The AAM settings this ``aug`` implies (None when AAM is off)."""
        if self.aug in ("none", "mixup"):
            return None
        if self.aug == "aam_nodiff":
            weighting = "beta" if self.aam.weighting == "difficulty" else self.aam.weighting
            return replace(self.aam, weighting=weighting)
        if self.aug == "aam_random":
            return replace(self.aam, pairing="random")
        return self.aam

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = self.features.to_dict()  # its own JSON form (streams, legacy keys)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        if "amp" in d:  # sidecars before precision existed: amp meant fp16 AMP on CUDA
            amp = d.pop("amp")
            d.setdefault("precision", "auto" if amp else "fp32")
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ModelError(f"train config: unknown key(s) {unknown}")
        if isinstance(d.get("aam"), dict):
            d["aam"] = AAMConfig(**d["aam"])
        if isinstance(d.get("features"), dict):
            d["features"] = FeatureConfig.from_dict(d["features"])
        return cls(**d)
