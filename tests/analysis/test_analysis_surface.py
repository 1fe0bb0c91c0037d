"""The analysis package's one public surface: every name resolves, the trainer's import stays light."""

import subprocess
import sys

import pytest

import audit.analysis as analysis


@pytest.mark.parametrize("name", analysis.__all__)
def test_every_public_name_resolves(name):
    assert getattr(analysis, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        analysis.no_such_name  # noqa: B018


def test_metrics_import_does_not_load_fairlearn_or_scipy():
    # `audit train` imports the metric functions only; the bootstrap's fairlearn and the paired
    # tests' scipy must not come with them
    code = "import sys, audit.analysis.metrics; print(sorted(m for m in ('fairlearn', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
