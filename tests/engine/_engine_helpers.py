"""Helpers shared by the engine tests (a unique module name: tests are not packages)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

CLASSES = ["angry", "happy", "neutral", "sad"]


def save_untrained(stem: Path, *, fold: int | None, seed: int, train_speakers=(),
                   name: str = "macnn", classes=CLASSES) -> Path:
    """A seeded, untrained checkpoint ``stem.safetensors`` + ``stem.json``."""
    from model import FeatureConfig, create_model
    from model.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    net = create_model(name, len(classes)).eval()
    save_checkpoint(stem, net, {"name": name, "classes": list(classes),
                                "feature_config": FeatureConfig().to_dict(), "fold": fold,
                                "train_speakers": sorted(train_speakers)})
    return stem.with_name(stem.name + ".json")


def toy_model_source(prelude: str = "", first: str = "") -> str:
    """Source of a module whose ``predict(waveforms)`` entry point is waveform-sensitive (the
    probabilities of ``CLASSES`` follow each waveform's RMS and zero-crossing rate), so a change
    in the rendered audio shows in the ``p_<class>`` columns. ``prelude``: module-level lines
    after the imports; ``first``: lines each call runs first (both without indentation)."""
    body = "\n".join([
        "import os",
        "import numpy as np",
        prelude,
        "def predict(waveforms):",
        textwrap.indent(first, "    "),
        "    out = []",
        "    for w in waveforms:",
        "        rms = float(np.sqrt(np.mean(np.square(w))))",
        "        zc = float(np.mean(np.abs(np.diff(np.sign(w)))) / 2)",
        "        z = np.array([rms * 40, zc * 20, 1.0 - rms * 10, zc * 5 + rms])",
        "        e = np.exp(z - z.max())",
        "        out.append(e / e.sum())",
        "    return np.array(out)",
        f"predict.classes = {CLASSES!r}",
    ])
    return body + "\n"


def write_wav(path: Path, wave: np.ndarray, sr: int = 16000) -> Path:
    sf.write(str(path), wave.astype(np.float32), sr, subtype="PCM_16")
    return path


def with_extra_utterance(manifest: pd.DataFrame, tmp: Path, utt_id: str, wave: np.ndarray,
                         **fields) -> pd.DataFrame:
    """The manifest plus one utterance written to ``tmp`` (fold/speaker copied from row 0)."""
    row = manifest.iloc[0].to_dict()
    row.update(utt_id=utt_id, path=str(write_wav(tmp / f"{utt_id}.wav", wave)),
               duration_s=len(wave) / 16000, **fields)
    return pd.concat([manifest, pd.DataFrame([row])], ignore_index=True)


def export_onnx(net, path: Path) -> Path:
    """``net`` as an ONNX graph taking ``(batch, 1, 39, 200)`` segments (batch dimension dynamic)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 1, 39, 200),), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    return path


def export_torchscript(net, path: Path) -> Path:
    """``net`` traced to TorchScript on ``(2, 1, 39, 200)`` segments."""
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python code
        torch.jit.trace(net, torch.zeros(2, 1, 39, 200)).save(str(path))
    return path
