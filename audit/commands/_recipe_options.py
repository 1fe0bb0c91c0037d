"""The training-recipe options of ``audit train`` and ``audit search``: each defaults to None
(= the recipe's value, see ``model.recipes``) and is collected into ``build_config``'s keywords."""

from __future__ import annotations

import click

__all__ = ["recipe_options", "recipe_given"]

_AUGS = ["none", "aam", "aam_nodiff", "aam_random", "mixup", "aam+mixup"]


def _floats(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected comma-separated numbers, e.g. 0.9,1.0,1.1") from None


def _pair(ctx, param, value):
    if value is None:
        return None
    parts = value.split(",")
    try:
        width, masks = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 2)
    except (ValueError, IndexError):
        raise click.BadParameter(f"{value!r}: expected WIDTH[,MASKS], e.g. 8,2") from None
    return width, masks


_OPTIONS = [
    click.option("--recipe", default="paper", show_default=True,
                 help="Starting values of every option below (model.recipes): paper | tuned."),
    click.option("--model", "model", default=None, help="Registered model name (`audit model list`); "
                 "paper: macnn_icasa, tuned: ifn."),
    click.option("--aug", default=None, type=click.Choice(_AUGS), help="Batch augmentation (paper: aam; tuned: none)."),
    click.option("--epochs", type=int, default=None, help="Epochs (paper 60, tuned 30)."),
    click.option("--batch-size", type=int, default=None, help="Batch size (32)."),
    click.option("--lr", type=float, default=None, help="Peak learning rate (1e-3)."),
    click.option("--lr-step", "lr_step_epochs", type=int, default=None,
                 help="Divide lr by 10 every N epochs (the step schedule)."),
    click.option("--optimizer", default=None, type=click.Choice(["adam", "adamw"]), help="paper adam, tuned adamw."),
    click.option("--weight-decay", type=float, default=None, help="paper 1e-6 (L2), tuned 1e-2 (decoupled)."),
    click.option("--schedule", default=None, type=click.Choice(["constant", "step", "cosine"]),
                 help="Learning-rate schedule (paper constant, tuned cosine)."),
    click.option("--warmup", "warmup_epochs", type=int, default=None, help="Epochs of linear warm-up (tuned 3)."),
    click.option("--label-smoothing", type=float, default=None, help="Label smoothing epsilon (tuned 0.1)."),
    click.option("--specaug-freq", "specaug_freq", default=None, callback=_pair,
                 help="SpecAugment frequency masks WIDTH[,MASKS] in feature rows (tuned 8,2; 0 = off)."),
    click.option("--specaug-time", "specaug_time", default=None, callback=_pair,
                 help="SpecAugment time masks WIDTH[,MASKS] in frames (tuned 20,2; 0 = off)."),
    click.option("--speed", "speed_factors", default=None, callback=_floats,
                 help="Speed-perturbation factors, e.g. 0.9,1.0,1.1 (tuned); '' = off."),
    click.option("--dropout", type=float, default=None, help="Dropout before the classifier (model override)."),
    click.option("--val-speakers", type=int, default=None,
                 help="Training speakers held out for validation, one per gender in turn (paper 0, others 2)."),
    click.option("--select", default=None, type=click.Choice(["best", "last"]),
                 help="Save the best-validation-UA epoch or the last (paper last, tuned best)."),
    click.option("--patience", type=int, default=None, help="Stop after N epochs without better validation UA."),
    click.option("--augment", default=None,
                 help="Multi-condition training, e.g. 'awgn:snr_db=0..30@0.5, reverb:rt60_s=0.2..0.9@0.3' "
                      "(docs/model.md, 'Multi-condition training')."),
    click.option("--hold-out", "augment_hold_out", multiple=True,
                 help="Perturbation declared unseen in training (repeatable); --augment may not use it."),
    click.option("--balance", default=None, help="Manifest column (e.g. gender): every (group, class) cell weighs "
                 "equally in the loss."),
    click.option("--standardize/--no-standardize", default=None,
                 help="Per-coefficient feature standardisation fitted on the training fold (IFN: always on)."),
    click.option("--trim-db", type=float, default=None,
                 help="Cut leading/trailing frames quieter than the loudest by this many dB (features; off by default)."),
    click.option("--bn-recalibrate/--no-bn-recalibrate", default=None,
                 help="Exact BatchNorm statistics over the training set (paper off, tuned on)."),
    click.option("--precision", default=None, type=click.Choice(["auto", "fp32", "bf16"]),
                 help="auto = bf16 autocast where the CPU has native bf16; paper auto, tuned fp32."),
    click.option("--aam-threshold", type=float, default=None, help="AAM similarity threshold (0.7)."),
    click.option("--aam-alpha", type=float, default=None, help="AAM Beta alpha (2.0)."),
    click.option("--aam-similarity", type=click.Choice(["raw", "standardized"]), default=None),
]


def recipe_options(fn):
    """Decorate a click command with the recipe options (in the order listed above)."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def recipe_given(kwargs: dict) -> tuple[str, dict]:
    """``(recipe, build_config keywords)`` popped from a command's ``kwargs``."""
    recipe = kwargs.pop("recipe")
    given = {k: kwargs.pop(k) for k in ("model", "aug", "epochs", "batch_size", "lr", "lr_step_epochs",
                                        "optimizer", "weight_decay", "schedule", "warmup_epochs",
                                        "label_smoothing", "speed_factors", "dropout", "val_speakers", "select",
                                        "patience", "augment", "balance", "standardize", "trim_db", "bn_recalibrate",
                                        "precision", "aam_threshold", "aam_alpha", "aam_similarity")}
    hold = kwargs.pop("augment_hold_out")
    given["augment_hold_out"] = tuple(hold) if hold else None
    for name in ("specaug_freq", "specaug_time"):
        pair = kwargs.pop(name)
        if pair is not None:
            given[f"{name}_width"], given[f"{name}_masks"] = pair
    return recipe, given
