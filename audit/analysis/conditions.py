"""What a condition string is: clean, one AWGN / MP3 / reverb setting, or anything else."""

from __future__ import annotations

__all__ = ["condition_kind"]

_KINDS = {"awgn": "snr_db", "mp3": "bitrate_kbps", "reverb": "rt60_s"}


def condition_kind(condition: str) -> tuple[str, float | None]:
    """``("clean", None)``, ``("awgn", snr_db)``, ``("mp3", kbps)``, ``("reverb", rt60_s)`` or
    ``("other", None)`` for chains and other perturbations.

    Reads the canonical condition string (``name:key=value,key=value``, see
    ``perturbations``) rather than importing the perturbation classes: a table needs only
    the name and one parameter.
    """
    if condition == "clean":
        return "clean", None
    name, _, rest = condition.partition(":")
    key = _KINDS.get(name)
    if key is None or "+" in condition:
        return "other", None
    params = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
    try:
        return name, float(params[key])
    except (KeyError, ValueError):
        return "other", None
