"""Make the tree builders importable as ``_data_trees`` from the data tests."""

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory) -> Path:
    """4 speakers x 4 emotions x 2 utterances of the synthetic corpus; its manifest path."""
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("synth"), seed=0, n_speakers=4,
                                  utterances_per_emotion=2)
