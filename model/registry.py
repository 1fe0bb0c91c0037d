"""Named model variants: ``create_model(name, num_classes, **overrides)``, ``list_models()``."""

from __future__ import annotations

from collections.abc import Callable

from model.errors import ModelError
from model.macnn import MACNN, MACNNConfig

__all__ = ["register_model", "create_model", "list_models", "model_config"]

_REGISTRY: dict[str, Callable[[], dict]] = {}


def register_model(name: str):
    """Register a function returning the variant's default config overrides."""

    def wrap(fn: Callable[[], dict]) -> Callable[[], dict]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def model_config(name: str, num_classes: int, **overrides) -> MACNNConfig:
    """The config ``create_model`` would build, without building it."""
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    base = _REGISTRY[name]()
    base.update(overrides)
    base["num_classes"] = num_classes
    try:
        return MACNNConfig.from_dict(base)
    except TypeError as exc:  # pragma: no cover - from_dict already names unknown keys
        raise ModelError(f"model {name!r}: {exc}") from None


def create_model(name: str, num_classes: int, **overrides) -> MACNN:
    """Build the variant ``name`` with ``num_classes`` outputs; ``overrides`` are
    ``MACNNConfig`` fields (``n_heads``, ``hidden``, ``attention``, ``fusion``, ...)."""
    return MACNN(model_config(name, num_classes, **overrides))


def _variant(name: str, **cfg) -> None:
    register_model(name)(lambda: dict(cfg))


_variant("macnn", attention="none")
for _kind in ("sa", "ica", "icasa", "ca", "se", "eca", "cbam"):
    _variant(f"macnn_{_kind}", attention=_kind)
# The spec's head-fusion option on the baseline and on the proposed model.
_variant("macnn_fusion", attention="none", fusion=True)
_variant("macnn_icasa_fusion", attention="icasa", fusion=True)
