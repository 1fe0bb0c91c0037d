"""``speechbrain:PATH``: a local SpeechBrain classifier folder as a predictor.

Two layouts, both loaded with ``from_hparams(source=PATH, savedir=None)`` and network fetching
disabled (``FetchConfig(allow_network=False)`` + hub offline mode), so nothing is written into
the folder nor downloaded:

* an ``EncoderClassifier`` folder: ``hyperparams.yaml`` with the modules ``compute_features``,
  ``mean_var_norm``, ``embedding_model``, ``classifier``, a ``label_encoder`` and a
  ``pretrainer`` whose files (``*.ckpt``, ``label_encoder.txt``) lie in the folder;
* the ``speechbrain/emotion-recognition-wav2vec2-IEMOCAP`` layout: the same plus a
  ``custom_interface.py`` defining one ``Pretrained`` subclass with ``classify_batch``.

A YAML key ``pretrained_path`` (the hub name in published folders) is pointed at ``PATH``.
Per window the adapter calls ``classify_batch(wavs)`` exactly as ``classify_file`` does and
turns its first output into probabilities with a softmax (the identity on the log-posteriors
SpeechBrain's emotion models return). SpeechBrain's ``StatisticsPooling`` (x-vectors, the
IEMOCAP wav2vec2 model) adds ``torch.randn`` noise of 1e-5..9e-5 to its mean at inference, so
each forward runs with torch's generator forked and seeded with 0: reproducible, and the
caller's random state is left alone. Classes: the label encoder's ``ind2lab``, mapped onto
emotion names. The cache identity hashes ``hyperparams.yaml``, every ``*.ckpt``, ``*.txt`` and
``*.py`` file of the folder.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.models._classmap import map_model_classes
from audit.models._offline import hash_files, hub_offline, local_folder
from audit.models._windows import WindowConfig, WindowedPredictor, resolve_adapter_precision

__all__ = ["load_speechbrain"]

_HPARAMS = "hyperparams.yaml"
_INTERFACE = "custom_interface.py"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _interface_class(folder: Path, label: str) -> Any:
    """The ``Pretrained`` subclass of ``custom_interface.py``, or ``EncoderClassifier``."""
    from speechbrain.inference.classifiers import EncoderClassifier
    from speechbrain.inference.interfaces import Pretrained

    path = folder / _INTERFACE
    if not path.is_file():
        return EncoderClassifier
    name = f"_ser_audit_sb_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: any error is theirs to fix
        sys.modules.pop(name, None)
        raise AuditError(f"{label}: {_INTERFACE} fails to import ({_first_line(exc)})") from None
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, Pretrained)
             and obj.__module__ == name and hasattr(obj, "classify_batch")]
    if len(found) != 1:
        raise AuditError(f"{label}: {_INTERFACE} defines {len(found)} Pretrained classes with "
                         "classify_batch; expected exactly one")
    return found[0]


def load_speechbrain(text: str, *, device: str = "cpu", classes: Sequence[str] | None = None,
                     window_s: float = 10.0, hop_s: float = 5.0, pass_s: float = 20.0,
                     precision: str = "fp32") -> WindowedPredictor:
    """A predictor for the local SpeechBrain folder ``text`` (``speechbrain:`` already stripped)."""
    import torch

    from model.precision import autocast_context
    from speechbrain.utils.fetching import FetchConfig

    label = f"speechbrain:{text}"
    folder = local_folder(text, "speechbrain", "SpeechBrain hyperparams")
    hp = folder / _HPARAMS
    if not hp.is_file():
        raise AuditError(f"{label}: no {_HPARAMS} in this folder (expected a SpeechBrain model folder)")
    ckpts = sorted(folder.glob("*.ckpt"))
    if not ckpts:
        raise AuditError(f"{label}: no weights (*.ckpt files) in this folder")
    cls = _interface_class(folder, label)
    yaml_text = hp.read_text(encoding="utf-8")
    overrides = ({"pretrained_path": str(folder.resolve())}
                 if re.search(r"^pretrained_path\s*:", yaml_text, re.M) else {})
    try:
        with hub_offline():
            sb = cls.from_hparams(source=str(folder.resolve()), hparams_file=_HPARAMS, savedir=None,
                                  overrides=overrides, run_opts={"device": str(device)},
                                  fetch_config=FetchConfig(allow_network=False))
    except Exception as exc:  # HyperPyYAML / SpeechBrain raise many types; show the first line
        raise AuditError(f"{label}: cannot load the model ({type(exc).__name__}: "
                         f"{_first_line(exc)}); every file it names must be in the folder") from None
    encoder = getattr(sb.hparams, "label_encoder", None)
    ind2lab = dict(getattr(encoder, "ind2lab", None) or {})
    if not ind2lab:
        raise AuditError(f"{label}: no label_encoder (label_encoder.txt) in {_HPARAMS}: the "
                         "outputs have no names")
    if sorted(ind2lab) != list(range(len(ind2lab))):
        raise AuditError(f"{label}: label encoder indices {sorted(ind2lab)} are not 0..{len(ind2lab) - 1}")
    labels = [str(ind2lab[j]) for j in range(len(ind2lab))]
    if hasattr(encoder, "ignore_len"):
        encoder.ignore_len()  # its length check only warns; forward() checks the output width
    names = map_model_classes(labels, source=f"{label} label encoder", classes=classes)
    sr = int(getattr(sb.hparams, "sample_rate", None) or 16000)
    dev = torch.device(str(device))
    mode = resolve_adapter_precision(precision, dev, label)
    sb.eval()

    cuda = [dev.index or 0] if dev.type == "cuda" else []

    def forward(batch: np.ndarray) -> np.ndarray:
        wavs = torch.from_numpy(np.ascontiguousarray(batch)).to(dev)
        # StatisticsPooling adds torch.randn noise (1e-5..9e-5) to its mean even in eval mode:
        # a fixed seed in a forked generator makes every call reproducible, the global RNG intact.
        with torch.no_grad(), torch.random.fork_rng(devices=cuda), autocast_context(mode, dev):
            torch.manual_seed(0)
            out = sb.classify_batch(wavs, torch.ones(len(batch), device=dev))[0]
        out = out.float().reshape(len(batch), -1)  # (B, 1, K) or (B, K) -> (B, K)
        return torch.softmax(out, dim=-1).cpu().numpy()

    files = [hp, *ckpts, *folder.glob("*.txt"), *folder.glob("*.py")]
    meta = {"adapter": "speechbrain", "folder": str(folder.resolve()), "labels": labels,
            "interface": cls.__name__}
    return WindowedPredictor(forward, names, WindowConfig("speechbrain", sr, window_s, hop_s, pass_s),
                             name=folder.name, sha256=hash_files(folder, files), meta=meta,
                             precision=mode)
