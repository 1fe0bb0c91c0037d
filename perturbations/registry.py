"""Conditions by name: the compact spec strings and dicts that scenarios and results use.

Grammar: ``clean`` | ``stage(+stage)*``; ``stage = name[:key=value(,key=value)*]``, e.g.
``reverb:rt60_s=0.3+awgn:snr_db=10``; a ``+`` between a mantissa's ``e`` and the exponent's
digits (``1e+06``) is part of the number. ``str()`` of the parsed object is the canonical form.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

# Importing the modules registers their classes.
from perturbations import (  # noqa: F401
    awgn, babble, clipping, codec, colored_noise, gain, measured_rir, mp3, pitch, recorded_noise,
    reverb, speed, telephone,
)
from perturbations.base import Chain, Clean, Perturbation, registered
from perturbations.errors import PerturbationError

__all__ = ["parse_condition", "condition_from_dict", "list_perturbations"]

_TRUE = {"true", "1", "yes", "on"}
# ``+`` joins stages, except as the sign of an exponent (``snr_db=1e+06``: a number, one stage).
_STAGE_SEP = re.compile(r"(?<![0-9.][eE])\+|(?<=[0-9.][eE])\+(?![0-9])")
_FALSE = {"false", "0", "no", "off"}
# Older spellings still accepted: ``power=`` named the speech-level definition of the additive
# noises before P.56 joined it as ``level=``.
_ALIASES = {"power": "level"}


def _alias(key: str, hints: dict[str, Any]) -> str:
    """The field a parameter name means: itself, or the field an old spelling stands for."""
    new = _ALIASES.get(key)
    return new if key not in hints and new in hints else key


def list_perturbations() -> list[str]:
    """Sorted names accepted by ``parse_condition`` (``chain`` is written with ``+``)."""
    return sorted(n for n in registered() if n != "chain")


def _known() -> str:
    return ", ".join(list_perturbations())


def _lookup(name: str, where: str) -> type[Perturbation]:
    cls = registered().get(name)
    if cls is None or cls is Chain:
        raise PerturbationError(f"unknown perturbation {name!r} in {where!r}; known: {_known()}")
    return cls


def _field_hints(cls: type[Perturbation]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name) for f in dataclasses.fields(cls) if f.init}


def _convert(text: str, hint: Any, token: str, where: str) -> Any:
    """Convert the text of one ``key=value`` token to the field's type."""
    try:
        if hint is float:
            return float(text)
        if hint is int:
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
    except ValueError:
        kind = "a number" if hint is float else "an integer"
        raise PerturbationError(f"bad value in token {token!r} of {where!r}: expected {kind}") from None
    if hint is bool:
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise PerturbationError(f"bad value in token {token!r} of {where!r}: expected true or false")
    return text


def _parse_stage(text: str, where: str) -> Perturbation:
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if not name:
        raise PerturbationError(f"empty perturbation name in {where!r}; known: {_known()}")
    cls = _lookup(name, where)
    hints = _field_hints(cls)
    kwargs: dict[str, Any] = {}
    for token in filter(None, (t.strip() for t in rest.split(","))):
        key, eq, value = token.partition("=")
        key, value = _alias(key.strip(), hints), value.strip()
        if not eq or not key or not value:
            raise PerturbationError(f"bad token {token!r} in {where!r}: expected key=value")
        if key not in hints:
            raise PerturbationError(f"unknown parameter {key!r} for {name} in {where!r}; "
                                    f"known: {', '.join(hints) or '(none)'}")
        if key in kwargs:
            raise PerturbationError(f"parameter {key!r} given twice in {where!r}")
        kwargs[key] = _convert(value, hints[key], token, where)
    missing = _missing(cls, kwargs)
    if missing:
        raise PerturbationError(f"{name} in {where!r} needs parameter(s) {', '.join(missing)} "
                                f"(e.g. {name}:{missing[0]}=...)")
    return cls(**kwargs)


def _missing(cls: type[Perturbation], given: dict) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)
            if f.init and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING and f.name not in given]


def parse_condition(text: str) -> Perturbation:
    """Parse a compact condition string.

    Parameters
    ----------
    text : str
        ``clean``, ``awgn:snr_db=10``, ``mp3:bitrate_kbps=128``, ``reverb:rt60_s=0.3``, or
        stages joined with ``+``.

    Returns
    -------
    Perturbation
        ``Clean`` for ``clean``, the single stage, or a ``Chain``.
    """
    if not isinstance(text, str) or not text.strip():
        raise PerturbationError(f"empty condition {text!r}; known perturbations: {_known()}")
    stages = [_parse_stage(part.strip(), text) for part in _STAGE_SEP.split(text.strip())]
    stages = [s for s in stages if not isinstance(s, Clean)]
    if not stages:
        return Clean()
    return stages[0] if len(stages) == 1 else Chain(tuple(stages))


def condition_from_dict(data: Any) -> Perturbation:
    """Build a perturbation from ``to_dict()`` output, a ``{"name", "params"}`` dict or a string.

    Parameters
    ----------
    data : dict or str
        ``{"name": "awgn", "snr_db": 10}``, ``{"name": "awgn", "params": {"snr_db": 10}}``,
        ``{"name": "chain", "stages": [...]}`` or a condition string.
    """
    if isinstance(data, str):
        return parse_condition(data)
    if isinstance(data, Perturbation):
        return data
    if not isinstance(data, dict) or "name" not in data:
        raise PerturbationError(f"a condition dict needs a 'name' key, got {data!r}")
    name = str(data["name"]).lower()
    if name == "chain":
        stages = data.get("stages")
        if not isinstance(stages, (list, tuple)) or not stages:
            raise PerturbationError(f"chain dict needs a non-empty 'stages' list, got {stages!r}")
        built = [condition_from_dict(s) for s in stages]
        built = [s for s in built if not isinstance(s, Clean)]
        if not built:
            return Clean()
        return built[0] if len(built) == 1 else Chain(tuple(built))
    cls = _lookup(name, str(data))
    params = dict(data.get("params", {})) if "params" in data else {
        k: v for k, v in data.items() if k != "name"}
    hints = _field_hints(cls)
    params = {_alias(k, hints): v for k, v in params.items()}
    unknown = sorted(set(params) - set(hints))
    if unknown:
        raise PerturbationError(f"unknown parameter(s) {', '.join(unknown)} for {name}; "
                                f"known: {', '.join(hints) or '(none)'}")
    missing = _missing(cls, params)
    if missing:
        raise PerturbationError(f"{name}: missing parameter(s) {', '.join(missing)} in {data!r}")
    return cls(**params)
