"""Fixtures of the analysis tests: synthetic predictions (see _analysis_data.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from _analysis_data import CLASSES, make_predictions


@pytest.fixture(scope="session")
def preds() -> pd.DataFrame:
    return make_predictions()


@pytest.fixture(scope="session")
def classes() -> list[str]:
    return list(CLASSES)
