"""``run.json``: what was run, on what, with what - everything needed to reproduce a run.

run.json holds times and the host, so it differs between runs; the CSVs never read it.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from typing import Any

# One implementation for checkpoints and runs (the dependency runs audit -> model).
from model.checkpoint import git_commit
from model.checkpoint import package_versions as _versions

__all__ = ["package_versions", "git_commit", "build_run_info", "utc_now"]

_PACKAGES = ("ser-audit", "torch", "torchaudio", "numpy", "pandas", "scipy", "soundfile",
             "fairlearn", "fast-mp3-augment", "pyroomacoustics", "onnxruntime", "pydantic",
             "opensmile", "scikit-learn", "speechmos")


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def package_versions() -> dict[str, str]:
    """Python and the versions of the packages that shape audit results."""
    return _versions(_PACKAGES)


def device_info(device: str) -> dict[str, Any]:
    """The device that ran the models, with its name when it is a GPU."""
    import torch

    from model.precision import cpu_capability, cpu_has_native_bf16, cpu_name, kernel_settings

    info: dict[str, Any] = {
        "device": device, "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "cpu": cpu_name(), "torch_threads": torch.get_num_threads(),
        "cpu_capability": cpu_capability(), "cpu_native_bf16": cpu_has_native_bf16(),
        "kernels": kernel_settings(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def build_run_info(*, scenario: Any, data_source: str, manifest_hash: str, n_utterances: int,
                   model_sets: list[Any], seed: int, device: str, workers: int,
                   batch_size: int, started: str, cache: dict[str, Any],
                   outputs: list[str], gates: dict[str, Any], argv: list[str] | None = None,
                   timings: dict[str, float] | None = None,
                   warnings: list[str] | None = None, precision: str = "fp32",
                   executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the run.json document."""
    return {
        "format": "ser-audit-run/1",
        "command": list(sys.argv if argv is None else argv),
        "scenario": scenario.model_dump(),
        "seed": seed,
        "data": {"source": data_source, "manifest_sha256": manifest_hash,
                 "n_utterances": n_utterances},
        "models": [ms.describe() for ms in model_sets],
        "device": device_info(device),
        "precision": precision,
        "workers": workers,
        "executor": executor or {"executor": "local"},
        "batch_size": batch_size,
        "cache": cache,
        "packages": package_versions(),
        "git_commit": git_commit(),
        "started_utc": started,
        "finished_utc": utc_now(),
        "timings_s": timings or {},
        "outputs": outputs,
        "gates": gates,
        "warnings": warnings or [],
    }
