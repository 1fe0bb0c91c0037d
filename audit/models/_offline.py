"""Local-only loading of Hugging Face / SpeechBrain folders: no network call, ever.

``local_folder`` refuses anything that is not an existing folder with one line telling the user
to download it first (a hub name such as ``facebook/wav2vec2-base`` is never fetched).
``hub_offline`` switches ``huggingface_hub`` to offline mode while a model loads, so a config
that points at the hub (a SpeechBrain YAML naming ``facebook/wav2vec2-base``) fails fast with an
error instead of downloading.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from audit.errors import AuditError

__all__ = ["local_folder", "hub_offline", "hash_files"]


def local_folder(text: str, scheme: str, needs: str) -> Path:
    """The existing folder named by ``<scheme>:text``; AuditError (download first) otherwise."""
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise AuditError(f"{scheme}:{text}: not a folder (expected a local {needs} folder)")
    looks_hub = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    hint = (f"; it looks like a hub name: download it first, e.g. `hf download {text} "
            f"--local-dir models/{text.split('/')[-1]}`, then pass {scheme}:models/"
            f"{text.split('/')[-1]}" if looks_hub else "")
    raise AuditError(f"{scheme}:{text}: no such folder (models are loaded from local folders "
                     f"only, never downloaded){hint}")


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Make every ``huggingface_hub`` request fail while the block runs (restored after)."""
    from huggingface_hub import constants

    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    saved_env = {k: os.environ.get(k) for k in keys}
    saved = constants.HF_HUB_OFFLINE
    os.environ.update({k: "1" for k in keys})
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def hash_files(root: Path, files: Iterable[Path]) -> str:
    """sha256 over ``(relative name, content)`` of ``files`` in name order."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()
