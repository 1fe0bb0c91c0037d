"""Multi-condition training: ``audit train --augment SPEC`` rendered on the fly.

SPEC is a comma-separated list of entries ``CONDITION@P``; CONDITION uses the condition
strings of ``audit run`` (``awgn:snr_db=10``), where a value may be a range ``a..b`` (floats:
uniform; integers: uniform over the integers in it that the perturbation accepts, e.g. MP3's
legal bitrates) or a choice ``a|b|c``; ``@P`` is the probability (default 1). Example::

    awgn:snr_db=0..30@0.5, reverb:rt60_s=0.2..0.9@0.3, mp3:bitrate_kbps=32..128@0.2

Each entry is applied independently with its probability, in the order written (so several
may stack, as in an audiomentations ``Compose``); an utterance none of them hits stays clean.
Every draw comes from ``derive_rng(seed, utt_id, "augment:<entry>@<epoch>")``, so an
utterance's audio in an epoch does not depend on order, batches or workers. Rendering is at
the native rate, then resampled to 16 kHz, exactly as the audit renders its conditions.
``hold_out`` names perturbations declared unseen in training: an entry using one is refused.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.errors import AuditError

__all__ = ["AugmentEntry", "parse_augment", "AugmentRenderer"]

_MAX_INTEGERS = 4096


@dataclass(frozen=True)
class AugmentEntry:
    """One entry: the perturbation ``name``, its ``fixed`` values (text), ``ranges`` (float
    bounds), ``integers`` / ``choices`` (the values to draw from) and ``probability``."""

    text: str
    name: str
    fixed: dict[str, str]
    ranges: dict[str, tuple[float, float]]
    choices: dict[str, tuple[Any, ...]]
    probability: float

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        """Concrete parameters ``{"name": ..., field: value}`` for one utterance."""
        params: dict[str, Any] = {"name": self.name, **self.fixed}
        for key in sorted(self.ranges):
            lo, hi = self.ranges[key]
            params[key] = float(rng.uniform(lo, hi))
        for key in sorted(self.choices):
            values = self.choices[key]
            params[key] = values[int(rng.integers(len(values)))]
        return params


def _split_entries(spec: str) -> list[str]:
    """Entries of SPEC: a comma-separated token opens a new entry when it names a perturbation
    (``name`` or ``name:...``), else it continues the previous one (``level=p56``)."""
    import perturbations

    known = set(perturbations.list_perturbations())
    entries: list[str] = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        head = token.split(":", 1)[0].split("@", 1)[0].strip().lower()
        if head in known or not entries:
            entries.append(token)
        else:
            entries[-1] += "," + token
    return entries


def _field_types(name: str) -> dict[str, Any]:
    from perturbations.base import registered

    cls = registered()[name]
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name) for f in dataclasses.fields(cls) if f.init}


def _typed(value: str, hint: Any, where: str, key: str) -> Any:
    """``value`` (text) as the field's type (numbers for float / int fields)."""
    try:
        if hint is float:
            return float(value)
        if hint is int:
            number = float(value)
            if number.is_integer():
                return int(number)
            raise ValueError
    except ValueError:
        raise AuditError(f"--augment {where!r}: {key}={value!r} is not {'a number' if hint is float else 'an integer'}"
                         ) from None
    return value


def _accepted_integers(name: str, key: str, lo: int, hi: int, fixed: dict, where: str) -> tuple[int, ...]:
    import perturbations

    if hi - lo + 1 > _MAX_INTEGERS:
        raise AuditError(f"--augment {where!r}: {key}={lo}..{hi} spans more than {_MAX_INTEGERS} integers")
    ok = []
    for v in range(lo, hi + 1):
        try:
            perturbations.condition_from_dict({"name": name, **fixed, key: v})
        except perturbations.PerturbationError:
            continue
        ok.append(v)
    if not ok:
        raise AuditError(f"--augment {where!r}: no value of {key} in {lo}..{hi} is accepted by {name}")
    return tuple(ok)


def _parse_entry(text: str) -> AugmentEntry:
    import perturbations

    body, at, prob = text.rpartition("@") if "@" in text else (text, "", "1")
    try:
        p = float(prob)
    except ValueError:
        raise AuditError(f"--augment {text!r}: probability {prob!r} is not a number") from None
    if not 0 < p <= 1:
        raise AuditError(f"--augment {text!r}: probability {p} must lie in (0, 1]")
    name, _, rest = body.strip().partition(":")
    name = name.strip().lower()
    if name not in perturbations.list_perturbations() or name == "clean":
        raise AuditError(f"--augment {text!r}: unknown perturbation {name!r}; known: "
                         f"{', '.join(n for n in perturbations.list_perturbations() if n != 'clean')}")
    types = _field_types(name)
    fixed, ranges, choices, pending = {}, {}, {}, {}
    for token in filter(None, (t.strip() for t in rest.split(","))):
        key, eq, value = (s.strip() for s in token.partition("="))
        # the older spelling the conditions of ``audit run`` still accept (``power=`` for ``level=``)
        key = "level" if key == "power" and "level" in types else key
        if not eq or key not in types:
            raise AuditError(f"--augment {text!r}: bad token {token!r} (fields of {name}: {', '.join(types)})")
        if ".." in value:
            try:
                lo, hi = (float(v) for v in value.split("..", 1))
            except ValueError:
                raise AuditError(f"--augment {text!r}: bad range {value!r} (expected a..b)") from None
            if not lo < hi:
                raise AuditError(f"--augment {text!r}: range {value!r} needs a < b")
            if types[key] is int:
                pending[key] = (lo, hi)
            else:
                ranges[key] = (lo, hi)
        elif "|" in value:
            choices[key] = tuple(_typed(v.strip(), types[key], text, key) for v in value.split("|"))
        else:
            fixed[key] = _typed(value, types[key], text, key)
    for key, (lo, hi) in pending.items():
        choices[key] = _accepted_integers(name, key, int(np.ceil(lo)), int(np.floor(hi)), fixed, text)
    entry = AugmentEntry(body.strip(), name, fixed, ranges, choices, p)
    for probe in (dict(entry.fixed, name=name, **{k: lo for k, (lo, _) in ranges.items()},
                       **{k: v[0] for k, v in choices.items()}),
                  dict(entry.fixed, name=name, **{k: hi for k, (_, hi) in ranges.items()},
                       **{k: v[-1] for k, v in choices.items()})):
        try:
            perturbations.condition_from_dict(probe)
        except perturbations.PerturbationError as exc:
            raise AuditError(f"--augment {text!r}: {exc}") from None
    return entry


def parse_augment(spec: str, hold_out: Sequence[str] = ()) -> list[AugmentEntry]:
    """The entries of SPEC (module docstring); ``hold_out``: perturbation names that no entry
    may use (declared unseen in training, to test generalisation to them)."""
    import perturbations

    known = set(perturbations.list_perturbations())
    bad = sorted(set(hold_out) - known)
    if bad:
        raise AuditError(f"--hold-out {bad[0]!r}: unknown perturbation; known: {', '.join(sorted(known))}")
    entries = [_parse_entry(e) for e in _split_entries(spec)]
    if not entries:
        raise AuditError(f"--augment {spec!r}: no condition given")
    for e in entries:
        if e.name in hold_out:
            raise AuditError(f"--augment {e.text!r}: {e.name} is declared held out (--hold-out {e.name}); "
                             f"a held-out condition cannot be trained on")
    return entries


class AugmentRenderer:
    """``render(i, epoch)`` for ``model.train_model``: utterance ``i``'s waveform with the entries
    that fire this epoch, at 16 kHz, and their names; None when none fires.

    ``natives[i] = (waveform (time,) float32, sample_rate)``; ``contexts[i]`` holds its
    ``utt_id`` and ``speaker``; ``pool`` is the manifest babble draws talkers from (pass the
    training speakers only, so no held-out voice is mixed into training audio)."""

    def __init__(self, entries: Sequence[AugmentEntry], natives: Sequence[tuple[np.ndarray, int]],
                 contexts: Sequence[dict], seed: int, pool: Any = None) -> None:
        self.entries, self.natives, self.contexts, self.seed, self.pool = list(entries), natives, contexts, seed, pool
        self._built: dict[str, Any] = {}

    def _perturbation(self, params: dict) -> Any:
        import perturbations

        key = repr(sorted(params.items()))
        if key not in self._built:
            pert = perturbations.condition_from_dict(params)
            if self.pool is not None:
                pert.bind_corpus(self.pool)
            self._built[key] = pert
            if len(self._built) > 4096:  # ranges make most keys unique: keep the cache small
                self._built.pop(next(iter(self._built)))
        return self._built[key]

    def __call__(self, i: int, epoch: int) -> tuple[np.ndarray, list[str]] | None:
        import perturbations
        from audit.data import TARGET_SR, resample

        wav, sr = self.natives[i]
        ctx = self.contexts[i]
        applied = []
        for j, entry in enumerate(self.entries):
            rng = perturbations.derive_rng(self.seed, str(ctx["utt_id"]), f"augment:{j}:{entry.text}@{epoch}")
            if rng.uniform() >= entry.probability:
                continue
            pert = self._perturbation(entry.draw(rng))
            try:
                wav, _ = perturbations.render(pert, wav, sr, rng, context=ctx)
            except perturbations.PerturbationError as exc:
                raise AuditError(f"--augment {entry.text!r} on {ctx['utt_id']}: {exc}") from None
            applied.append(entry.name)
        if not applied:
            return None
        return resample(wav, sr, TARGET_SR), applied
