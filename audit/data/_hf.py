"""``--data hf:PATH``: a Hugging Face dataset on disk as manifest rows.

Two layouts:

* a ``save_to_disk`` folder (``state.json`` + ``*.arrow``; a ``DatasetDict`` has
  ``dataset_dict.json`` and one folder per split), read with ``datasets.load_from_disk``;
  audio is read undecoded (``Audio(decode=False)``): embedded bytes are written once to
  ``$SER_AUDIT_CACHE/hf-audio/<dataset key>/`` (default ``~/.cache/ser-audit``) so the engine
  can stat and decode them like any file; an external path is used where it lies;
* an ``audiofolder``: audio files plus ``metadata.csv`` (or ``<split>/metadata.csv``) whose
  ``file_name`` column holds each file's path relative to the CSV.

Columns are found by their usual names (``speaker_id``, ``client_id``, ``label``, ``sex`` ...) or
mapped explicitly, in ``PATH/ser-audit.toml`` (``split = "test"`` and a ``[columns]`` table) or
in the source itself: ``hf:PATH?speaker=client_id&emotion=label&split=test``. ``ClassLabel``
integers become their names. Every other scalar column is kept as a manifest extra (a group
column for ``--by``), a ``fold`` column as the folds. The rows then pass the same
``validate_manifest`` checks as any corpus (bad rows -> problems.csv with ``skip_bad``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pandas as pd

from audit._atomic import atomic_write_bytes
from audit.errors import AuditError

__all__ = ["scan_hf", "hf_audio_cache", "COLUMN_KEYS"]

COLUMN_KEYS = ("utt_id", "speaker", "gender", "emotion", "audio")
_OPTION_KEYS = {"split", "corpus", *COLUMN_KEYS}
_CANDIDATES = {
    "utt_id": ("utt_id", "id", "utterance_id", "file_id", "segment_id"),
    "speaker": ("speaker", "speaker_id", "client_id", "spk", "spk_id", "actor"),
    "gender": ("gender", "sex"),
    "emotion": ("emotion", "label", "emotion_label", "emo", "labels", "category"),
    "audio": ("audio", "file_name", "file", "path", "wav"),
}
_RESERVED = {"path", "corpus", "duration_s", "sample_rate", "channels"}
_NAME = "__source_name"  # the audio file's own name, for default utterance ids
_MAGIC = ((b"RIFF", ".wav"), (b"fLaC", ".flac"), (b"OggS", ".ogg"), (b"ID3", ".mp3"),
          (b"\xff\xfb", ".mp3"), (b"\xff\xf3", ".mp3"))


def hf_audio_cache() -> Path:
    """Where embedded audio is written: ``$SER_AUDIT_CACHE/hf-audio`` (``~/.cache/ser-audit``)."""
    root = os.environ.get("SER_AUDIT_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ser-audit"
    return Path(root) / "hf-audio"


def _options(text: str, extra: dict | None) -> tuple[Path, dict[str, str], str]:
    path_text, _, query = text.partition("?")
    folder = Path(path_text).expanduser()
    label = f"hf:{path_text}"
    if not folder.is_dir():
        raise AuditError(f"{label}: no such folder (expected a datasets save_to_disk folder or an "
                         "audiofolder with metadata.csv; data is never downloaded)")
    opts: dict[str, Any] = {}
    toml = folder / "ser-audit.toml"
    if toml.is_file():
        try:
            doc = tomllib.loads(toml.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise AuditError(f"{toml}: invalid TOML ({exc})") from None
        cols = doc.pop("columns", {})
        if not isinstance(cols, dict):
            raise AuditError(f"{toml}: [columns] must be a table of key = \"column name\"")
        _check_keys(doc, {"split", "corpus"}, str(toml))
        _check_keys(cols, set(COLUMN_KEYS), f"{toml} [columns]")
        opts.update(doc)
        opts.update(cols)
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False) if query else []
    query_opts = dict(pairs)
    _check_keys(query_opts, _OPTION_KEYS, label)
    opts.update(query_opts)
    opts.update(extra or {})
    _check_keys(opts, _OPTION_KEYS, label)
    return folder, {k: str(v) for k, v in opts.items()}, label


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise AuditError(f"{where}: unknown option {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


def _pick(columns: list[str], key: str, opts: dict[str, str], label: str, required: bool) -> str | None:
    if key in opts:
        if opts[key] not in columns:
            raise AuditError(f"{label}: {key}={opts[key]!r} is not a column (columns: {', '.join(columns)})")
        return opts[key]
    lower = {c.lower(): c for c in columns}
    for cand in _CANDIDATES[key]:
        if cand in lower:
            return lower[cand]
    if required:
        raise AuditError(f"{label}: no {key} column (looked for {', '.join(_CANDIDATES[key])}; "
                         f"columns: {', '.join(columns)}); map one with {key}=COLUMN in "
                         f"ser-audit.toml [columns] or hf:PATH?{key}=COLUMN")
    return None


def _choose_split(splits: list[str], opts: dict[str, str], label: str) -> str | None:
    if not splits:
        return None
    if "split" in opts:
        if opts["split"] not in splits:
            raise AuditError(f"{label}: no split {opts['split']!r} (splits: {', '.join(splits)})")
        return opts["split"]
    if len(splits) == 1:
        return splits[0]
    raise AuditError(f"{label}: holds splits {', '.join(splits)}; choose one with split=NAME "
                     "(ser-audit.toml or hf:PATH?split=NAME)")


def _ext(blob: bytes, name: str) -> str:
    suffix = Path(name or "").suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        return suffix
    return next((ext for magic, ext in _MAGIC if blob.startswith(magic)), ".wav")


def _write_once(dest: Path, blob: bytes) -> None:
    """Write ``blob`` unless ``dest`` already holds that many bytes (keeps mtime, so cache keys)."""
    if dest.is_file() and dest.stat().st_size == len(blob):
        return
    atomic_write_bytes(dest, blob)  # a unique temporary name: concurrent loaders do not collide


def _from_disk(folder: Path, opts: dict[str, str], label: str) -> tuple[pd.DataFrame, str]:
    try:
        import datasets
    except ImportError:
        raise AuditError(f"{label}: datasets folders need the datasets package: "
                         "pip install 'ser-audit[hf]'") from None
    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise AuditError(f"{label}: cannot read the dataset ({str(exc).splitlines()[0]})") from None
    split = None
    if isinstance(loaded, datasets.DatasetDict):
        split = _choose_split(sorted(loaded), opts, label)
        loaded = loaded[split]
    ds = loaded
    columns = list(ds.column_names)
    audio_col = opts.get("audio") or next(
        (c for c, f in ds.features.items() if isinstance(f, datasets.Audio)), None)
    audio_col = _pick(columns, "audio", {**opts, **({"audio": audio_col} if audio_col else {})},
                      label, True)
    if isinstance(ds.features[audio_col], datasets.Audio):
        ds = ds.cast_column(audio_col, datasets.Audio(decode=False))
    names = {c: f.names for c, f in ds.features.items() if isinstance(f, datasets.ClassLabel)}
    key_src = json.dumps([str(folder.resolve()), split, ds._fingerprint])
    cache = hf_audio_cache() / hashlib.sha256(key_src.encode()).hexdigest()[:16]
    rows: list[dict[str, Any]] = []
    scalar = [c for c in columns if c != audio_col and _is_scalar(ds.features[c])]
    for start in range(0, len(ds), 256):
        batch = ds[start:start + 256]
        for j, audio in enumerate(batch[audio_col]):
            i = start + j
            row = {c: (names[c][batch[c][j]] if c in names and batch[c][j] is not None
                       else batch[c][j]) for c in scalar}
            row["path"] = _audio_path(audio, i, folder, cache)
            row[_NAME] = _audio_name(audio)
            rows.append(row)
    return pd.DataFrame(rows, columns=[*scalar, "path", _NAME]), split or ""


def _is_scalar(feature: Any) -> bool:
    import datasets

    return isinstance(feature, datasets.ClassLabel) or (
        isinstance(feature, datasets.Value) and feature.dtype not in ("binary", "large_binary"))


def _audio_name(audio: Any) -> str:
    """The file name an audio cell was made from (for default utterance ids)."""
    name = audio if isinstance(audio, str) else (audio or {}).get("path") or ""
    return Path(name).stem


def _audio_path(audio: Any, index: int, folder: Path, cache: Path) -> str:
    """A readable file for one audio cell (``{"bytes", "path"}`` or a path string)."""
    if isinstance(audio, str):
        audio = {"path": audio, "bytes": None}
    blob, name = (audio or {}).get("bytes"), (audio or {}).get("path") or ""
    if blob:
        cache.mkdir(parents=True, exist_ok=True)
        dest = cache / f"{index:07d}{_ext(blob, name)}"
        _write_once(dest, blob)
        return str(dest)
    if not name:
        return ""
    p = Path(name)
    return str(p if p.is_absolute() else folder / p)


def _from_audiofolder(folder: Path, opts: dict[str, str], label: str) -> tuple[pd.DataFrame, str]:
    splits = sorted(p.parent.name for p in folder.glob("*/metadata.csv"))
    if (folder / "metadata.csv").is_file():
        csv, split = folder / "metadata.csv", ""
    else:
        split = _choose_split(splits, opts, label) or ""
        csv = folder / split / "metadata.csv"
    try:
        meta = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AuditError(f"{csv}: cannot read metadata CSV ({str(exc).splitlines()[0]})") from None
    audio_col = _pick(list(meta.columns), "audio", opts, str(csv), True)
    meta["path"] = [str(csv.parent / v) if v else "" for v in meta[audio_col]]
    meta[_NAME] = [Path(v).stem for v in meta[audio_col]]
    return meta.drop(columns=[audio_col]), split


def scan_hf(text: str, *, options: dict | None = None) -> tuple[pd.DataFrame, str]:
    """Manifest rows (not yet validated) for ``hf:`` source ``text``, and its label for messages.

    ``options``: ``split``, ``corpus`` and column names (``utt_id``, ``speaker``, ``gender``,
    ``emotion``, ``audio``), overriding ``ser-audit.toml`` and the query string.
    """
    folder, opts, label = _options(text, options)
    if (folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file():
        raw, split = _from_disk(folder, opts, label)
    elif (folder / "metadata.csv").is_file() or any(folder.glob("*/metadata.csv")):
        raw, split = _from_audiofolder(folder, opts, label)
    else:
        raise AuditError(f"{label}: neither a datasets save_to_disk folder (state.json or "
                         "dataset_dict.json) nor an audiofolder (metadata.csv)")
    where = label + (f" split {split}" if split else "")
    columns = [c for c in raw.columns if c not in ("path", _NAME)]
    picked = {k: _pick(columns, k, opts, where, k != "utt_id") for k in ("utt_id", "speaker",
                                                                            "gender", "emotion")}
    corpus = opts.get("corpus") or folder.resolve().name
    if picked["utt_id"]:
        ids = raw[picked["utt_id"]].astype(str).tolist()
    else:  # the audio files' names when they are unique, else row numbers
        stems = raw[_NAME].astype(str).tolist()
        unique = all(stems) and len(set(stems)) == len(stems)
        ids = stems if unique else [f"{corpus}-{i + 1:06d}" for i in range(len(raw))]
    out = pd.DataFrame({
        "utt_id": ids,
        "path": raw["path"],
        "corpus": corpus,
        **{k: raw[picked[k]].astype(str).where(raw[picked[k]].notna(), "")
           for k in ("speaker", "gender", "emotion")},
    })
    used = set(picked.values()) | {"path", _NAME}
    for col in raw.columns:
        if col not in used and col not in _RESERVED and col not in out.columns:
            out[col] = raw[col].to_numpy()
    return out, where
