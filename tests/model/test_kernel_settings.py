"""run.json records what chose the SIMD kernels (the variables of KERNEL_ENV and numpy's targets)."""

import json
import os
import subprocess
import sys

from model.precision import KERNEL_ENV


def _settings_dispatch() -> list[str]:
    """The targets this numpy build can dispatch to (whether or not the CPU has them)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__

    return list(__cpu_dispatch__)


def _settings_in_child(env: dict) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV}
    code = "import json; from model.precision import kernel_settings; print(json.dumps(kernel_settings()))"
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


# numpy's x86 dispatch targets and the CPU flags (as /proc/cpuinfo names them) each one needs on
# top of the one before (numpy's CPU build options)
_TARGET_FLAGS = {
    "X86_V3": {"avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"},
    "X86_V4": {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"},
    "AVX512_ICL": {"avx512vbmi", "avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq",
                   "avx512ifma", "gfni", "vaes", "vpclmulqdq"},
    "AVX512_SPR": {"avx512_fp16"},
}


def _cpu_flags() -> set[str] | None:
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return None
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def test_unset_variables_are_not_recorded():
    """With no kernel variable set nothing is recorded under ``env``, and the numpy targets
    recorded are the ones this CPU's flags (read from /proc/cpuinfo, not through numpy) allow."""
    info = _settings_in_child({})
    assert info["env"] == {}
    flags = _cpu_flags()
    if flags is None or not ({"sse2"} <= flags):
        return  # not an x86 Linux machine: the flag names below do not apply
    expected, ok = [], True
    for target, needs in _TARGET_FLAGS.items():
        ok = ok and needs <= flags
        if ok:
            expected.append(target)
    recorded = [t for t in info["numpy_simd"] if t in _TARGET_FLAGS]
    dispatchable = set(_settings_dispatch())
    assert recorded == [t for t in expected if t in dispatchable]


def test_set_variables_and_numpy_targets_are_recorded():
    full = _settings_in_child({})["numpy_simd"]
    assert isinstance(full, list)
    info = _settings_in_child({"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "AVX2"})
    assert info["env"] == {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    if full:  # numpy's highest enabled target, disabled at start, is gone from the record
        top = full[-1]
        info = _settings_in_child({"NPY_DISABLE_CPU_FEATURES": top})
        assert top not in info["numpy_simd"]
        assert info["env"] == {"NPY_DISABLE_CPU_FEATURES": top}
