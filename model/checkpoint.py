"""Checkpoints: safetensors weights + a JSON sidecar describing how they were made.

A legacy ``.pt``/``.pth`` state dict is read only with ``torch.load(weights_only=True)``,
which refuses pickles that would import or call arbitrary code.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import subprocess
import tempfile
from importlib import metadata as importlib_metadata
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from torch import nn

from model._sidecar_check import sidecar_problem
from model.errors import ModelError
from model.registry import FAMILIES, family_of

__all__ = [
    "SIDECAR_FORMAT",
    "save_checkpoint",
    "read_sidecar",
    "resolve_paths",
    "load_model",
    "update_sidecar",
    "checkpoint_matches",
    "package_versions",
    "git_commit",
    "sha256_file",
]

SIDECAR_FORMAT = "ser-audit-model/1"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_WEIGHT_PACKAGES = ("ser-audit", "torch", "torchaudio", "numpy", "safetensors")


def package_versions(packages: tuple[str, ...] = _WEIGHT_PACKAGES) -> dict[str, str]:
    """Versions of Python and ``packages`` (default: those that shape the weights)."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_commit() -> str | None:
    """The source tree's commit (``-dirty`` when modified), or None outside a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _atomic_write_bytes(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        mask = os.umask(0)  # mkstemp makes 0600 files: give the usual 0666 less the umask
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(stem: Path, model: nn.Module, sidecar: dict) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` (atomically); return the weights path.

    ``sidecar`` is completed with the format tag, the network family (``macnn`` / ``ifn``),
    model config, weights file name and hash.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_name(stem.name + ".safetensors")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write_bytes(weights, lambda tmp: save_file(state, tmp))
    doc = {"format": SIDECAR_FORMAT, "family": family_of(model), "model_config": model.config.to_dict(), **sidecar,
           "weights_file": weights.name, "weights_sha256": sha256_file(weights)}
    text = json.dumps(doc, indent=2, sort_keys=False)
    _atomic_write_bytes(stem.with_name(stem.name + ".json"), lambda tmp: Path(tmp).write_text(text + "\n"))
    return weights


def resolve_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, sidecar)`` for a ``.safetensors``, ``.pt``/``.pth`` or ``.json`` path."""
    path = Path(path)
    if path.suffix == ".json":
        sidecar = path
        if not sidecar.is_file():
            raise ModelError(f"{sidecar}: checkpoint sidecar not found")
        weights = sidecar.with_name(read_sidecar(sidecar).get("weights_file") or path.stem + ".safetensors")
    elif path.suffix in (".safetensors", ".pt", ".pth"):
        weights, sidecar = path, path.with_suffix(".json")
    else:
        raise ModelError(f"{path}: expected a .safetensors, .pt, .pth or .json checkpoint")
    if not weights.is_file():
        raise ModelError(f"{weights}: checkpoint weights not found")
    if not sidecar.is_file():
        raise ModelError(f"{sidecar}: checkpoint sidecar not found (needed beside {weights.name})")
    return weights, sidecar


def read_sidecar(path: Path) -> dict:
    """The parsed sidecar; ModelError when unreadable or not a ser-audit sidecar."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable checkpoint sidecar ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
        raise ModelError(f"{path}: not a ser-audit checkpoint sidecar (format != {SIDECAR_FORMAT!r})")
    for key in ("model_config", "classes", "feature_config"):
        if key not in doc:
            raise ModelError(f"{path}: sidecar lacks key {key!r}")
    problem = sidecar_problem(doc)
    if problem:
        raise ModelError(f"{path}: {problem}")
    return doc


def _load_state(weights: Path) -> dict[str, torch.Tensor]:
    if weights.suffix == ".safetensors":
        try:
            return load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{weights}: unreadable safetensors file ({exc})") from None
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global outside torch's allow-list: nothing was executed.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{weights}: refused to load a pickle that would run code ({first[:160]})") from None
    except (OSError, RuntimeError, EOFError) as exc:
        raise ModelError(f"{weights}: unreadable torch checkpoint ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{weights}: expected a state dict of tensors")
    return state


def load_model(path: str | Path) -> tuple[nn.Module, dict, Path]:
    """Rebuild the network from a checkpoint: ``(model on CPU in eval mode, sidecar, weights path)``.

    The sidecar's ``family`` picks the network class (absent in older sidecars: ``macnn``).
    """
    weights, sidecar_path = resolve_paths(path)
    doc = read_sidecar(sidecar_path)
    family = doc.get("family", "macnn")
    if family not in FAMILIES:
        raise ModelError(f"{sidecar_path}: unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    network, config_cls = FAMILIES[family]
    try:
        config = config_cls.from_dict(doc["model_config"])
    except (TypeError, AttributeError, ModelError) as exc:
        raise ModelError(f"{sidecar_path}: bad model_config ({exc})") from None
    if len(doc["classes"]) != config.num_classes:
        raise ModelError(f"{sidecar_path}: {len(doc['classes'])} classes listed but the model has "
                         f"{config.num_classes} outputs")
    state = _load_state(weights)  # as large as the file, no larger
    # The shapes the sidecar's config implies, on the meta device (nothing allocated): a config
    # asking for a huge network is refused here unless the weights file really holds one.
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in network(config).state_dict().items()}
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        raise ModelError(f"{weights}: weights do not match {doc.get('name', 'the model')} "
                         f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    wrong = [k for k in expected if tuple(state[k].shape) != expected[k]]
    if wrong:
        k = wrong[0]
        raise ModelError(f"{weights}: weight shapes do not match the sidecar's model_config "
                         f"({k}: {tuple(state[k].shape)} in the file, {expected[k]} in the config)")
    model = network(config)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, doc, weights


def update_sidecar(path: Path, **updates) -> None:
    """Merge ``updates`` into an existing sidecar's top-level keys (atomic rewrite)."""
    path = Path(path)
    doc = read_sidecar(path)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key].update(value)
        else:
            doc[key] = value
    text = json.dumps(doc, indent=2)
    _atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def checkpoint_matches(stem: Path, train_config: dict, manifest_hash: str | None) -> bool | None:
    """None when ``<stem>`` has no complete checkpoint; else whether it was trained with the
    same ``train_config`` (ignoring device, progress display and time budget) and manifest hash."""
    stem = Path(stem)
    weights, sidecar = stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")
    if not (weights.is_file() and sidecar.is_file()):
        return None
    try:
        doc = read_sidecar(sidecar)
    except ModelError:
        return False
    ignore = {"device", "progress", "time_budget_s"}  # none of these changes the weights
    old = {k: v for k, v in (doc.get("train_config") or {}).items() if k not in ignore}
    new = {k: v for k, v in train_config.items() if k not in ignore}
    return old == json.loads(json.dumps(new)) and doc.get("manifest_hash") == manifest_hash


