"""run.json records what chose the SIMD kernels (the variables of KERNEL_ENV and numpy's targets)."""

import json
import os
import subprocess
import sys

from model.precision import KERNEL_ENV, kernel_settings


def _settings_in_child(env: dict) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV}
    code = "import json; from model.precision import kernel_settings; print(json.dumps(kernel_settings()))"
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def test_unset_variables_are_not_recorded():
    info = _settings_in_child({})
    assert info["env"] == {}
    assert info["numpy_simd"] == kernel_settings()["numpy_simd"] or any(k in os.environ for k in KERNEL_ENV)


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
