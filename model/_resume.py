"""The resume state of an unfinished training: written atomically after every epoch.

``<stem>.resume.pt`` holds the weights, optimiser, scheduler and scaler states, the number of
finished epochs, every random generator's state, the log rows so far and the identity of the
run (training config and data). It is a plain ``torch.save`` of tensors and builtins, read back
with ``weights_only=True`` (no pickle that could run code is accepted).
"""

from __future__ import annotations

import io
import json
import pickle
import random
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import _atomic_write_bytes
from model.errors import ModelError

__all__ = ["RESUME_FORMAT", "resume_path", "run_identity", "save_resume", "load_resume", "rng_state",
           "set_rng_state", "remove_stale_temps"]

RESUME_FORMAT = "ser-audit-resume/1"

# Settings that do not change the weights: a run may resume under other values of these.
_FREE_KEYS = ("device", "progress", "time_budget_s")


def resume_path(out_stem: Path) -> Path:
    """``<stem>.resume.pt`` beside the fold's outputs."""
    out_stem = Path(out_stem)
    return out_stem.with_name(out_stem.name + ".resume.pt")


def remove_stale_temps(out_stem: Path) -> list[Path]:
    """Delete the temporary files a killed writer of this fold left (``.<stem>.<ext>.*.tmp``).

    Every output of a fold is written to such a file and renamed into place; a SIGKILL between
    the two leaves the temporary file (the previous complete file stays). Only the files of
    ``out_stem`` (e.g. ``fold1``) are touched: another fold training beside it keeps its own."""
    out_stem = Path(out_stem)
    prefixes = tuple(f".{out_stem.name}{ext}." for ext in (".safetensors", ".json", ".log.csv", ".resume.pt"))
    stale = [p for p in out_stem.parent.glob(f".{out_stem.name}.*.tmp") if p.name.startswith(prefixes)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def run_identity(train_config: dict, metadata: dict, precision: str | None = None) -> str:
    """A canonical JSON of everything that must match for a resume: the training config (less
    device, progress and time budget) and the data (manifest hash, fold, training speakers).
    ``precision`` is the resolved one: ``auto`` means bf16 on one CPU and fp32 on another, so a
    fold must not change precision half-way because it resumed on another machine."""
    cfg = {k: v for k, v in train_config.items() if k not in _FREE_KEYS}
    if precision is not None:
        cfg["precision"] = precision
    data = {k: metadata.get(k) for k in ("manifest_hash", "fold", "training_speakers")}
    return json.dumps({"train_config": cfg, "data": data}, sort_keys=True, default=str)


def rng_state() -> dict:
    """Every global generator's state (the trainer derives its own per epoch and step; these
    are saved so nothing else that draws from them can differ after a resume)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` saved."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_resume(path: Path, state: dict) -> None:
    """Write ``state`` (tensors and builtins) atomically: a kill leaves the previous state."""
    buf = io.BytesIO()
    torch.save({"format": RESUME_FORMAT, **state}, buf)
    _atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_bytes(buf.getvalue()))


def load_resume(path: Path, identity: str) -> dict:
    """The saved state; ModelError when unreadable or made by another config or data."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, OSError, RuntimeError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path}: unreadable resume state ({first[:160]}); delete it or use --force") from None
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise ModelError(f"{path}: not a ser-audit resume state; delete it or use --force")
    if state.get("identity") != identity:
        _explain_precision_change(path, str(state.get("identity")), identity)
        raise ModelError(f"{path}: resume state of another training config or data; "
                         f"use --force to start over, or the original settings to continue")
    return state


def _explain_precision_change(path: Path, saved: str, now: str) -> None:
    """ModelError naming the flag that continues a run which differs only in precision."""
    try:
        a, b = json.loads(saved), json.loads(now)
        pa, pb = a["train_config"].pop("precision"), b["train_config"].pop("precision")
    except (ValueError, KeyError, TypeError, AttributeError):
        return
    if pa != pb and a == b and pa == "auto":
        raise ModelError(f"{path}: resume state from before states recorded the precision that ran; "
                         f"use --force to start over")
    if pa != pb and a == b:
        raise ModelError(f"{path}: trained so far in {pa}, but this run would train in {pb}; "
                         f"pass --precision {pa} to continue, or --force to start over")
