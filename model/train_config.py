"""Training settings: the paper's protocol as defaults, every choice explicit and recorded."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from model.aam import AAMConfig
from model.errors import ModelError
from model.features import FeatureConfig
from model.precision import PRECISIONS
from model.registry import model_config
from model.streams import network_features

__all__ = ["AUGMENTATIONS", "SCHEDULES", "OPTIMIZERS", "SELECTIONS", "TrainConfig"]

# aam_nodiff / aam_random are the paper's Table 8 ablations; aam+mixup its Table 9 combination.
AUGMENTATIONS = ("none", "aam", "aam_nodiff", "aam_random", "mixup", "aam+mixup")
SCHEDULES = ("constant", "step", "cosine")
OPTIMIZERS = ("adam", "adamw")
SELECTIONS = ("last", "best")

# Fields added after the paper recipe's checkpoints were trained. ``to_dict`` leaves each out
# while it holds its default, so the shipped sidecars, resume identities and
# ``checkpoint_matches`` read exactly as before (``--recipe paper`` reproduces their configs).
_LATER = {
    "recipe": "paper", "val_speakers": 0, "select": "last", "patience": None, "optimizer": "adam",
    "schedule": "constant", "warmup_epochs": 0, "label_smoothing": 0.0, "specaug_freq_width": 0,
    "specaug_freq_masks": 2, "specaug_time_width": 0, "specaug_time_masks": 2, "speed_factors": (),
    "augment": "", "augment_hold_out": (), "balance": None,
}


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (paper section 3.2 defaults; ``model.recipes`` names other sets).

    lr_step_epochs : None = constant lr (paper); N = divide by ``1 / lr_gamma`` every N epochs
        (the reference code uses 10). Implies ``schedule="step"``.
    aug : one of ``AUGMENTATIONS``. ``aam_nodiff`` = AAM with lambda from
        Beta(aam.beta_alpha) (or 0.5 with ``aam.weighting="half"``); ``aam_random`` = random
        partners without the similarity test; ``mixup`` replaces each batch by its MixUp;
        ``aam+mixup`` applies MixUp to the originals plus their AAM samples.
    bn_recalibrate : replace BatchNorm running statistics by exact averages over the (clean,
        unaugmented) training segments under the saved weights ("precise BN"). With validation
        data the statistics are recomputed before every validation pass, so the model scored on
        the validation speakers is the model that is saved. Off in the paper recipe.
    time_budget_s : None = run all ``epochs``; else stop before an epoch that would end past
        the budget (counted from the start of this ``train_model`` call, predicted from the
        slowest epoch so far; the first epoch always runs). The saved model is the last
        completed epoch; the sidecar's ``epochs`` says how many ran, next to
        ``epochs_requested`` and ``stopped_early``; the resume state lets a later call go on.
    precision : ``auto`` (default: bf16 autocast where the CPU has native bf16, fp16 AMP on
        CUDA, else fp32), ``fp32`` or ``bf16`` (see ``model.precision``).
    threads : intra-op threads of the training step. Weights depend on it (reduction order),
        so it is fixed (default 1) and recorded rather than taken from the machine.
    progress : None = a progress bar only when stderr is a terminal.

    Recipe fields (added after the paper recipe; see docs/model.md, "Recipes"):

    recipe : the name of the recipe these settings came from (recorded, not acted on).
    val_speakers : training speakers the caller holds out for validation (``audit train``
        picks them, one per gender where the fold has both); 0 = no validation.
    select : ``last`` epoch (paper) or ``best`` validation UA (needs validation data).
    patience : stop after this many epochs without a better validation UA (None = never).
    optimizer : ``adam`` (L2 ``weight_decay`` in the gradient, paper) or ``adamw`` (decoupled).
    schedule : ``constant``, ``step`` (``lr_step_epochs``) or ``cosine`` (to 0 at the last
        epoch); ``warmup_epochs`` of linear warm-up from lr / warmup_epochs precede it.
    label_smoothing : epsilon of label smoothing on every (soft) target.
    specaug_* : SpecAugment on the network input: ``specaug_freq_masks`` masks of up to
        ``specaug_freq_width`` feature rows and ``specaug_time_masks`` of up to
        ``specaug_time_width`` frames, set to 0 (the mean of standardised features); width 0 =
        off. Drawn per segment from ``(seed, epoch, segment)``.
    speed_factors : speed perturbation (resampling: tempo and pitch change together); each
        utterance takes one factor per epoch, drawn from ``(seed, epoch, utterance)``;
        () = off. Typical: (0.9, 1.0, 1.1).
    augment : multi-condition training spec (``audit.engine.augment``; the caller renders it);
        recorded here. ``augment_hold_out``: perturbation names declared unseen in training.
    balance : a manifest column (e.g. ``gender``): the caller weighs every (group, class) cell
        equally in the loss (recorded here; the weights come with the data).
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
    recipe: str = "paper"
    val_speakers: int = 0
    select: str = "last"
    patience: int | None = None
    optimizer: str = "adam"
    schedule: str = "constant"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    specaug_freq_width: int = 0
    specaug_freq_masks: int = 2
    specaug_time_width: int = 0
    specaug_time_masks: int = 2
    speed_factors: tuple[float, ...] = ()
    augment: str = ""
    augment_hold_out: tuple[str, ...] = ()
    balance: str | None = None

    def __post_init__(self) -> None:
        for name in ("speed_factors", "augment_hold_out"):  # JSON lists -> hashable tuples
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        if self.lr_step_epochs is not None and self.schedule == "constant":
            object.__setattr__(self, "schedule", "step")
        self._check_choices()
        self._check_numbers()
        # Unknown name or override, or streams the features cannot give (ssl without a folder) -> ModelError.
        network_features(self.features, model_config(self.model, 2, **self.model_overrides), name=self.model)

    def _check_choices(self) -> None:
        for name, allowed in (("aug", AUGMENTATIONS), ("precision", PRECISIONS), ("schedule", SCHEDULES),
                              ("optimizer", OPTIMIZERS), ("select", SELECTIONS)):
            if getattr(self, name) not in allowed:
                raise ModelError(f"{name}={getattr(self, name)!r}: choose one of {', '.join(allowed)}")
        if self.lr_step_epochs is not None and self.schedule != "step":
            raise ModelError(f"lr_step_epochs={self.lr_step_epochs} is the step schedule; it cannot go with "
                             f"schedule={self.schedule!r}")
        if self.schedule == "step" and self.lr_step_epochs is None:
            raise ModelError("schedule='step' needs lr_step_epochs")
        if self.balance is not None and self.aug != "none":
            raise ModelError(f"balance={self.balance!r} weighs the loss of each segment; it needs aug='none' "
                             f"(AAM and MixUp make targets of two segments)")

    def _check_numbers(self) -> None:
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
        for name in ("val_speakers", "warmup_epochs", "specaug_freq_width", "specaug_freq_masks",
                     "specaug_time_width", "specaug_time_masks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ModelError(f"{name}={value!r}: must be an integer >= 0")
        if self.warmup_epochs >= self.epochs and self.warmup_epochs:
            raise ModelError(f"warmup_epochs={self.warmup_epochs}: must be below epochs={self.epochs}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ModelError(f"patience={self.patience!r}: must be an integer >= 1 or None")
        if not 0 <= self.label_smoothing < 1:
            raise ModelError(f"label_smoothing={self.label_smoothing}: must lie in [0, 1)")
        bad = [f for f in self.speed_factors if not (isinstance(f, (int, float)) and 0.5 <= f <= 2.0)]
        if bad or len(set(self.speed_factors)) != len(self.speed_factors):
            raise ModelError(f"speed_factors={list(self.speed_factors)}: distinct factors in [0.5, 2.0]")
        if (self.select == "best" or self.patience is not None) and self.val_speakers == 0:
            raise ModelError(f"select={self.select!r}, patience={self.patience}: choosing or stopping on "
                             f"validation needs val_speakers >= 1")

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

    @property
    def specaugment(self) -> bool:
        """Whether any SpecAugment mask is on."""
        return bool(self.specaug_freq_width and self.specaug_freq_masks) or \
            bool(self.specaug_time_width and self.specaug_time_masks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = self.features.to_dict()  # its own JSON form (streams, legacy keys)
        if self.schedule == "step" and self.lr_step_epochs is not None:
            d["schedule"] = "constant"  # implied by lr_step_epochs, as the paper-era configs say
        for key, default in _LATER.items():
            if d[key] == default or (isinstance(default, tuple) and tuple(d[key]) == default):
                del d[key]
            elif isinstance(d[key], tuple):
                d[key] = list(d[key])
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
