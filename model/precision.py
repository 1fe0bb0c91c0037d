"""Numeric precision of training and prediction: fp32, bf16 autocast (native CPUs), AMP on CUDA.

``precision`` names what the user asks for; ``resolve_precision`` turns it into what runs:

- ``fp32``: plain float32 everywhere.
- ``bf16``: ``torch.autocast(dtype=bfloat16)``. On a CPU only where bf16 is native (AVX512-BF16
  or AMX): elsewhere it is emulated and several times slower, so it is refused with an error.
  On CUDA it is bf16 autocast too.
- ``auto``: bf16 where it is native on the CPU, fp16 AMP (with loss scaling) on CUDA, else fp32.
- ``onnx`` (prediction only, CPU only): float32 in ONNX Runtime's kernels (``model.onnx_forward``).

Autocast lowers convolutions and matrix products only; losses, softmax, the AAM similarity and
BatchNorm statistics stay in float32 (the callers cast where autocast would not).
"""

from __future__ import annotations

import contextlib
import functools
import platform
from pathlib import Path

import torch

from model.errors import ModelError

__all__ = ["PRECISIONS", "INFERENCE_PRECISIONS", "cpu_has_native_bf16", "resolve_precision", "autocast_context",
           "cpu_capability", "cpu_name", "KERNEL_ENV", "kernel_settings"]

PRECISIONS = ("fp32", "bf16", "auto")  # training and prediction
INFERENCE_PRECISIONS = (*PRECISIONS, "onnx")  # prediction only


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX tiles)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(torch.cpu, name)()) for name in probes if hasattr(torch.cpu, name))
    except RuntimeError:
        return False


@functools.cache
def cpu_name() -> str:
    """The CPU's model name as the OS reports it (``/proc/cpuinfo``; else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_capability() -> str:
    """ATen's CPU kernel level (``DEFAULT``, ``AVX2``, ``AVX512``...): the kernels that ran."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


# The variables that pick the SIMD kernels of torch (ATen, oneDNN, MKL) and numpy. Set at process
# start, they let a CPU run the kernels of a lesser one: with all four at the AVX2 values
# (README, "What reproduces where") an AVX512 CPU reproduced an AVX2 CPU's audit byte for byte.
KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
              "NPY_DISABLE_CPU_FEATURES")


def kernel_settings() -> dict:
    """What chose this process's SIMD kernels: the ``KERNEL_ENV`` variables that are set and the
    numpy dispatch targets enabled on this CPU (``numpy_simd``, e.g. ``['X86_V3', 'X86_V4']``)."""
    import os

    info: dict = {"env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ}}
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        info["numpy_simd"] = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
    except ImportError:  # another numpy layout: record that it is unknown
        info["numpy_simd"] = None
    return info


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The precision that runs: ``fp32``, ``bf16``, ``fp16`` (CUDA AMP) or ``onnx`` for
    ``precision`` on ``device``; ModelError for an unknown name, for bf16 on a CPU without native
    bf16, and for onnx off the CPU or without onnxruntime (callers that train refuse onnx first)."""
    if precision not in INFERENCE_PRECISIONS:
        raise ModelError(f"precision={precision!r}: choose one of {', '.join(INFERENCE_PRECISIONS)}")
    kind = torch.device(device).type
    if precision == "fp32":
        return "fp32"
    if precision == "onnx":
        if kind != "cpu":
            raise ModelError(f"precision=onnx runs on the CPU (ONNX Runtime's CPU kernels), not on {device}")
        from model.onnx_forward import check_onnxruntime

        check_onnxruntime()
        return "onnx"
    if kind == "cuda":
        return "bf16" if precision == "bf16" else "fp16"
    if kind != "cpu":
        if precision == "bf16":
            raise ModelError(f"precision=bf16: not supported on device {device}; use fp32")
        return "fp32"
    if cpu_has_native_bf16():
        return "bf16"
    if precision == "bf16":
        raise ModelError("precision=bf16: this CPU has no native bfloat16 (AVX512-BF16/AMX), where it "
                         "would be emulated and slow; use --precision fp32 or auto")
    return "fp32"


def autocast_context(precision: str, device: torch.device | str):
    """The autocast block for a *resolved* precision (``fp32`` -> a no-op context)."""
    kind = torch.device(device).type
    if precision in ("fp32", "onnx"):
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        raise ModelError(f"precision={precision!r}: expected a resolved precision fp32, bf16, fp16 or onnx")
    return torch.autocast(device_type=kind, dtype=dtype)
