"""The perturbation contract: ``Perturbation`` (base dataclass), ``Clean`` and ``Chain``.

A perturbation splits *draw* from *apply*: ``sample_params(rng, sample_rate)`` makes every
random choice and returns them (with the fixed parameters) as a dict; ``apply(waveform,
sample_rate, params)`` is deterministic. The params go into the results, so every row says
exactly what was applied, and a record can be re-applied without the generator.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from perturbations.errors import PerturbationError

__all__ = ["Perturbation", "Clean", "Chain", "register", "registered", "check_waveform",
           "format_value"]

_REGISTRY: dict[str, type["Perturbation"]] = {}


def register(cls: type["Perturbation"]) -> type["Perturbation"]:
    """Class decorator: make ``cls`` known to ``parse_condition`` under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, type["Perturbation"]]:
    """Name -> class of every registered perturbation (a copy)."""
    return dict(_REGISTRY)


def format_value(value: Any) -> str:
    """Canonical text of a parameter value: ``10.0 -> '10'``, ``0.3 -> '0.3'``, ``True -> 'true'``.

    ``repr`` of a float is the shortest string that round-trips, so ``parse(str(p)) == p``.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def check_waveform(waveform: Any, who: str) -> np.ndarray:
    """Validate a mono waveform: a 1-D floating numpy array of finite values.

    Parameters
    ----------
    waveform : np.ndarray, shape (time,)
    who : str
        Name used in the error message.
    """
    if not isinstance(waveform, np.ndarray) or waveform.ndim != 1:
        shape = getattr(waveform, "shape", type(waveform).__name__)
        raise PerturbationError(f"{who}: expected a mono waveform of shape (time,), got {shape}")
    if not np.issubdtype(waveform.dtype, np.floating):
        raise PerturbationError(f"{who}: expected a float waveform, got dtype {waveform.dtype}")
    if waveform.size == 0:
        raise PerturbationError(f"{who}: the waveform is empty")
    if not np.isfinite(waveform.sum()):  # one pass, no temporary: NaN/inf propagate
        raise PerturbationError(f"{who}: the waveform contains NaN or inf")
    return waveform


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Perturbation:
    """Base class: a frozen dataclass whose fields are the parameters, in units.

    Subclasses set ``name``, declare fields, implement ``_validate`` (raise
    ``PerturbationError``, a ``ValueError``, showing the bad value), ``apply`` and, where they
    draw random choices, ``sample_params``.
    """

    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(self.name, f.name, hints.get(f.name), value))
        self._validate()

    def _validate(self) -> None:
        """Check the parameters; raise ``PerturbationError`` naming the bad value."""

    # -- draw / apply ---------------------------------------------------------------------
    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Every random choice for one call, plus the fixed parameters.

        Parameters
        ----------
        rng : numpy.random.Generator
            The per-item generator (see ``derive_rng``).
        sample_rate : int
            Native rate of the waveform the params will be applied to.
        context : dict, optional
            Item metadata (``utt_id``, ``speaker``, ...) for perturbations that need it.
        """
        return self.fixed_params()

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """Deterministic: waveform (time,) float -> waveform (time,), same dtype and length."""
        raise NotImplementedError

    def measure(self, before: np.ndarray, after: np.ndarray, sample_rate: int,
                params: dict) -> dict:
        """What was achieved (``achieved_snr_db`` ...), from input (time,) and output (time,)."""
        return {}

    def render_params(self, waveform: np.ndarray, sample_rate: int,
                      params: dict) -> tuple[np.ndarray, dict]:
        """Apply then measure: ``(output (time,), flat record)``; ``Chain`` overrides it."""
        out = self.apply(waveform, sample_rate, params)
        measured = self.measure(waveform, out, sample_rate, params)
        return out, self.record(params, measured)

    def record(self, params: dict, measured: dict, prefix: str = "") -> dict:
        """Flat JSON-serialisable ``{"<prefix><name>.<key>": value}`` of params and measures."""
        out = {f"{prefix}{self.name}.{k}": _jsonable(v) for k, v in params.items()}
        out.update({f"{prefix}{self.name}.{k}": _jsonable(v) for k, v in measured.items()})
        return out

    def bind_corpus(self, manifest: Any) -> None:
        """Give the perturbation the corpus (no-op except for babble)."""

    def corpus_key(self) -> str | None:
        """What of the bound corpus its renders depend on, as a hash (None: nothing; babble's
        talker pool). The engine keys cached predictions with it: a run on a subset of a corpus
        draws other talkers than a run on all of it, so the two must not share predictions."""
        return None

    # -- naming ---------------------------------------------------------------------------
    def fixed_params(self) -> dict:
        """The dataclass fields as a dict (no ``name``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def to_dict(self) -> dict:
        """``{"name": ..., <field>: value, ...}``; ``from_dict`` inverts it."""
        return {"name": self.name, **self.fixed_params()}

    @classmethod
    def from_dict(cls, data: dict) -> "Perturbation":
        """Build from ``to_dict()`` output; on the base class, dispatch on ``data["name"]``."""
        from perturbations.registry import condition_from_dict

        p = condition_from_dict(data)
        if cls not in (Perturbation,) and not isinstance(p, cls):
            raise PerturbationError(f"{cls.__name__}.from_dict got a {data.get('name')!r} dict")
        return p

    def __str__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            has_default = f.default is not dataclasses.MISSING
            if not has_default or value != f.default:
                parts.append(f"{f.name}={format_value(value)}")
        return f"{self.name}:{','.join(parts)}" if parts else self.name


def _coerce(pname: str, key: str, hint: Any, value: Any) -> Any:
    """Coerce a field value to its annotated type (float, int, bool, str); error otherwise."""
    where = f"{pname}:{key}={value!r}"
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise PerturbationError(f"{where}: expected a number")
        value = float(value)
        if not math.isfinite(value):
            raise PerturbationError(f"{where}: must be finite")
        return value
    if hint is int:
        if isinstance(value, bool):
            raise PerturbationError(f"{where}: expected an integer")
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return int(value)
        if not isinstance(value, (int, np.integer)):
            raise PerturbationError(f"{where}: expected an integer")
        return int(value)
    if hint is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise PerturbationError(f"{where}: expected true or false")
        return bool(value)
    if hint is str:
        if not isinstance(value, str):
            raise PerturbationError(f"{where}: expected a string")
        return value
    return value


@register
@dataclass(frozen=True)
class Clean(Perturbation):
    """The identity: the reference condition ``clean``."""

    name: ClassVar[str] = "clean"

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> a copy (time,)."""
        return check_waveform(waveform, self.name).copy()


@register
@dataclass(frozen=True)
class Chain(Perturbation):
    """Stages applied in order (``reverb:rt60_s=0.3+awgn:snr_db=10``), each with its own rng.

    Nested chains are flattened and ``clean`` stages dropped, so the string form is canonical.
    """

    name: ClassVar[str] = "chain"
    stages: tuple = field(default=())

    def _validate(self) -> None:
        flat: list[Perturbation] = []
        for stage in self.stages:
            if not isinstance(stage, Perturbation):
                raise PerturbationError(f"chain: stage {stage!r} is not a perturbation")
            if isinstance(stage, Chain):
                flat.extend(stage.stages)
            elif not isinstance(stage, Clean):
                flat.append(stage)
        if not flat:
            raise PerturbationError("chain: needs at least one stage other than clean")
        object.__setattr__(self, "stages", tuple(flat))

    def bind_corpus(self, manifest: Any) -> None:
        """Every stage gets the corpus (a chain with babble draws talkers like babble alone)."""
        for stage in self.stages:
            stage.bind_corpus(manifest)

    def corpus_key(self) -> str | None:
        """The stages' corpus keys, joined (None when no stage depends on the corpus)."""
        keys = [k for k in (s.corpus_key() for s in self.stages) if k]
        return ",".join(keys) if keys else None

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """``{"stages": [params_0, params_1, ...]}``; stage i draws from its own child rng."""
        # One child seed per stage: adding a stage never changes what earlier stages draw.
        seeds = rng.integers(0, 2**63, size=len(self.stages))
        return {"stages": [s.sample_params(np.random.default_rng(int(seed)), sample_rate,
                                           context=context)
                           for s, seed in zip(self.stages, seeds)]}

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> waveform (time,) after every stage."""
        out = waveform
        for stage, p in zip(self.stages, _stage_params(self, params)):
            out = stage.apply(out, sample_rate, p)
        return out

    def render_params(self, waveform: np.ndarray, sample_rate: int,
                      params: dict) -> tuple[np.ndarray, dict]:
        """Stage by stage, measuring each stage against its own input; keys ``"<i>.<name>.<key>"``."""
        out, record = waveform, {}
        for i, (stage, p) in enumerate(zip(self.stages, _stage_params(self, params))):
            nxt = stage.apply(out, sample_rate, p)
            record.update(stage.record(p, stage.measure(out, nxt, sample_rate, p), f"{i}."))
            out = nxt
        return out, record

    def record(self, params: dict, measured: dict, prefix: str = "") -> dict:
        out = {}
        for i, (stage, p) in enumerate(zip(self.stages, _stage_params(self, params))):
            out.update(stage.record(p, {}, f"{prefix}{i}."))
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "stages": [s.to_dict() for s in self.stages]}

    def __str__(self) -> str:
        return "+".join(str(s) for s in self.stages)


def _stage_params(chain: Chain, params: dict) -> list[dict]:
    stages = params.get("stages") if isinstance(params, dict) else None
    if not isinstance(stages, list) or len(stages) != len(chain.stages):
        raise PerturbationError(
            f"chain {chain}: params must hold 'stages' with {len(chain.stages)} entries")
    return stages
