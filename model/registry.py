"""Named model variants: ``create_model(name, num_classes, **overrides)``, ``list_models()``.

Each variant belongs to a family (``macnn``: MFCC CNNs; ``ifn``: multi-stream fusion), one file
and one config dataclass per family. The checkpoint sidecar records the family, so a loader
rebuilds the right class from ``model_config``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from model.errors import ModelError
from model.ifn import IFN, IFNConfig
from model.macnn import MACNN, MACNNConfig

__all__ = ["FAMILIES", "register_model", "create_model", "list_models", "model_config", "model_family",
           "family_of", "build_network", "model_streams", "input_shape"]

FAMILIES: dict[str, tuple[type[nn.Module], type]] = {"macnn": (MACNN, MACNNConfig), "ifn": (IFN, IFNConfig)}

_REGISTRY: dict[str, tuple[str, Callable[[], dict]]] = {}


def register_model(name: str, family: str = "macnn"):
    """Register a function returning the variant's default config overrides."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}")

    def wrap(fn: Callable[[], dict]) -> Callable[[], dict]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = (family, fn)
        return fn

    return wrap


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, sorted (only ``family``'s when given)."""
    return sorted(n for n, (fam, _) in _REGISTRY.items() if family is None or fam == family)


def model_family(name: str) -> str:
    """The family (``macnn`` or ``ifn``) of a registered variant."""
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _REGISTRY[name][0]


def model_config(name: str, num_classes: int, **overrides) -> MACNNConfig | IFNConfig:
    """The config ``create_model`` would build, without building it."""
    family = model_family(name)
    base = _REGISTRY[name][1]()
    base.update(overrides)
    base["num_classes"] = num_classes
    try:
        return FAMILIES[family][1].from_dict(base)
    except TypeError as exc:  # pragma: no cover - from_dict already names unknown keys
        raise ModelError(f"model {name!r}: {exc}") from None


def create_model(name: str, num_classes: int, **overrides) -> nn.Module:
    """Build the variant ``name`` with ``num_classes`` outputs; ``overrides`` are fields of the
    family's config (``MACNNConfig``: ``attention``, ``fusion``, ...; ``IFNConfig``: ``d``,
    ``fusion``, ``stream_dims``, ...)."""
    config = model_config(name, num_classes, **overrides)
    return FAMILIES[model_family(name)][0](config)


def family_of(model: nn.Module) -> str:
    """The family name of a built network."""
    for family, (cls, _) in FAMILIES.items():
        if isinstance(model, cls):
            return family
    raise ModelError(f"{type(model).__name__} is not a registered model family")


def build_network(family: str, config: dict) -> nn.Module:
    """Rebuild a network from a sidecar's ``family`` and ``model_config``."""
    if family not in FAMILIES:
        raise ModelError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    cls, config_cls = FAMILIES[family]
    return cls(config_cls.from_dict(config))


def model_streams(config) -> tuple[str, ...]:
    """Feature streams a network config consumes (MACNN: MFCC only)."""
    return tuple(getattr(config, "streams", ("mfcc",)))


def input_shape(config, frames: int = 200) -> tuple[int, int, int, int]:
    """Batch-1 input shape ``(1, 1, rows, frames)`` of a network config."""
    rows = config.n_features if hasattr(config, "n_features") else 39
    return 1, 1, rows, frames


def _variant(name: str, family: str = "macnn", **cfg) -> None:
    register_model(name, family)(lambda: dict(cfg))


_variant("macnn", attention="none")
for _kind in ("sa", "ica", "icasa", "ca", "se", "eca", "cbam"):
    _variant(f"macnn_{_kind}", attention=_kind)
# The spec's head-fusion option on the baseline and on the proposed model.
_variant("macnn_fusion", attention="none", fusion=True)
_variant("macnn_icasa_fusion", attention="icasa", fusion=True)

# IFN (docs/ifn-spec.md): the full model and its ablations. stream_dims are those of the
# default FeatureConfig; the trainer replaces them by the feature pipeline's (ssl: the
# encoder's hidden size, 768 for base-size wav2vec2 / HuBERT / WavLM).
_variant("ifn", "ifn")
_variant("ifn_mfcc", "ifn", streams=("mfcc",), stream_dims=(39,))
_variant("ifn_noref", "ifn", refine_blocks=0)
_variant("ifn_add", "ifn", fusion="additive")
_variant("ifn_ssl", "ifn", streams=("mfcc", "spectral", "prosodic", "ssl"), stream_dims=(39, 69, 6, 768))
