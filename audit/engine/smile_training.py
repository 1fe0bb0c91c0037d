"""``audit train --model egemaps_svm`` (and the other openSMILE variants): features once, folds in
seconds.

Every utterance is decoded, resampled to 16 kHz (as the audit does before any model) and turned
into openSMILE functionals once; then each fold fits a standardised linear classifier on its
training speakers (C chosen by speaker-grouped inner cross-validation) and is scored on its
held-out speakers. Output per fold: ``fold{k}.safetensors`` + ``fold{k}.json`` (kind ``smile``),
audited like any checkpoint folder. A fold whose checkpoint exists with the same config and
data is skipped (``force`` retrains); one made otherwise is refused.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import AuditError

__all__ = ["train_smile", "smile_features", "default_smile_jobs"]

_WORKER: dict[str, Any] = {}


def _init(feature_set: str) -> None:
    from model.smile import SmileFeatures

    _WORKER["features"] = SmileFeatures(feature_set)


def _features_of(paths: list[str]) -> list[tuple[np.ndarray | None, str]]:
    """(features (d,) or None, error) per path: decode, resample to 16 kHz, functionals."""
    from audit.data import TARGET_SR, load_audio, resample

    out = []
    for path in paths:
        try:
            wav, sr = load_audio(path)
        except AuditError as exc:
            out.append((None, str(exc)))
            continue
        out.append((_WORKER["features"]([resample(wav, sr, TARGET_SR)])[0], ""))
    return out


def smile_features(paths: list[str], feature_set: str, jobs: int = 1) -> list[tuple[np.ndarray | None, str]]:
    """openSMILE functionals of the audio files, in order, with ``jobs`` processes."""
    chunks = [paths[i:i + 16] for i in range(0, len(paths), 16)]
    if jobs <= 1:
        _init(feature_set)
        return [r for chunk in chunks for r in _features_of(chunk)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init, initargs=(feature_set,)) as pool:
        return [r for part in pool.map(_features_of, chunks) for r in part]


def _cached_features(paths: list[str], feature_set: str, version: str, cache_dir: Path | None,
                     jobs: int) -> list[tuple[np.ndarray | None, str]]:
    """``smile_features`` through an on-disk cache keyed by each file's path, size and mtime
    (``cache_dir/smile-<set>-<opensmile version>.npz``; None: no cache)."""
    from audit.engine.cache import audio_key

    if cache_dir is None:
        return smile_features(paths, feature_set, jobs)
    path = Path(cache_dir) / f"smile-{feature_set}-{version}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path) as z:
                known = dict(zip(z["keys"].tolist(), z["values"]))
        except (OSError, ValueError, KeyError):
            known = {}  # a damaged cache is rebuilt
    keys = []
    for p in paths:
        try:
            keys.append(audio_key(p))
        except OSError:
            keys.append("")
    todo = [i for i, k in enumerate(keys) if k not in known]
    fresh = smile_features([paths[i] for i in todo], feature_set, jobs) if todo else []
    for i, (feats, _) in zip(todo, fresh):
        if feats is not None and keys[i]:
            known[keys[i]] = feats
    if fresh:
        from audit._atomic import atomic_write_bytes

        buf = io.BytesIO()
        order = sorted(known)
        np.savez(buf, keys=np.array(order), values=np.stack([known[k] for k in order]))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    done = dict(zip(todo, fresh))
    return [done[i] if i in done else (known[keys[i]], "") for i in range(len(paths))]


def _state(stem: Path, train_config: dict, mhash: str, force: bool) -> str:
    sidecar = stem.with_name(stem.name + ".json")
    if force or not sidecar.is_file():
        return "train"
    try:
        doc = json.loads(sidecar.read_text())
    except ValueError:
        doc = {}
    if doc.get("train_config") == train_config and doc.get("manifest_hash") == mhash:
        return "skip"
    raise AuditError(f"{sidecar} exists with another config or manifest; use --force to overwrite "
                     "or choose another --out")


def _versions() -> dict[str, str]:
    from model.checkpoint import package_versions

    return package_versions(("ser-audit", "opensmile", "scikit-learn", "numpy", "safetensors"))


def train_smile(data: str, model_name: str, out: Path, *, folds: list[int] | None = None,
                seed: int = 987654, protocol: str | None = None, corpus: str | None = None,
                n_folds: int | None = None, skip_bad: bool = False, force: bool = False,
                jobs: int = 1, problems: Any = None, echo=print,
                cache_dir: Path | None | str = "auto") -> list[dict]:
    """Train ``model_name`` on every fold of ``data`` into ``out``; per fold a result dict
    (``fold``, ``action``, ``weights``, ``test_wa``, ``test_ua``, ``n_test``, ``C``).

    ``cache_dir``: where the utterances' features are kept between trainings (``auto``:
    ``<out>/../.cache``, shared by the model folders beside ``out``; None: no cache)."""
    from audit.analysis.metrics import unweighted_accuracy, weighted_accuracy
    from audit.data import ProblemLog, load_data, manifest_hash, protocol_record
    from model.checkpoint import git_commit
    from model.smile import SmileFeatureConfig, fit_linear, opensmile_version, save_smile, smile_config

    problems = problems if problems is not None else ProblemLog()
    config = smile_config(model_name, seed=seed)
    df = load_data(data, corpus=corpus, skip_bad=skip_bad, problems=problems, n_folds=n_folds,
                   protocol=protocol).sort_values("utt_id", kind="stable").reset_index(drop=True)
    classes = sorted(df["emotion"].astype(str).unique())
    mhash = manifest_hash(df)
    known = sorted(int(f) for f in df["fold"].unique())
    todo = sorted(set(folds)) if folds else known
    if set(todo) - set(known):
        raise AuditError(f"--fold {sorted(set(todo) - set(known))[0]}: the data has folds {known}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_config = {"model": model_name, **config.to_dict()}
    states = {k: _state(out / f"fold{k}", train_config, mhash, force) for k in todo}
    results = [{"fold": k, "action": "skip", "weights": str(out / f"fold{k}.safetensors")}
               for k in todo if states[k] == "skip"]
    if all(s == "skip" for s in states.values()):
        return results
    t0 = time.perf_counter()
    echo(f"{model_name}: {config.feature_set} functionals of {len(df)} utterances ({jobs} process(es))")
    cache = Path(out).resolve().parent / ".cache" if cache_dir == "auto" else cache_dir
    found = _cached_features(list(df["path"].astype(str)), config.feature_set, opensmile_version(),
                             cache, jobs)
    keep = []
    for i, (feats, error) in enumerate(found):
        if feats is None:
            if not skip_bad:
                raise AuditError(error)
            problems.add("train", error, utt_id=str(df.at[i, "utt_id"]), path=str(df.at[i, "path"]))
        else:
            keep.append(i)
    df = df.iloc[keep].reset_index(drop=True)
    x = np.stack([found[i][0] for i in keep])
    t_feat = time.perf_counter() - t0
    y, speakers = df["emotion"].astype(str).to_numpy(), df["speaker"].astype(str).to_numpy()
    for k in (k for k in todo if states[k] == "train"):
        t1 = time.perf_counter()
        test = (df["fold"].astype(int) == k).to_numpy()
        model, choice = fit_linear(x[~test], y[~test], speakers[~test], classes,
                                   kind=config.classifier, c_grid=config.c_grid,
                                   inner_folds=config.inner_folds, seed=config.seed)
        pred = np.asarray(classes)[model.predict_proba(x[test]).argmax(axis=1)]
        wa, ua = weighted_accuracy(y[test], pred), unweighted_accuracy(y[test], pred)
        fit_s = time.perf_counter() - t1
        weights = save_smile(out / f"fold{k}", model, {
            "name": model_name, "family": "smile", "fold": k,
            "feature_config": SmileFeatureConfig(config.feature_set, opensmile=opensmile_version()).to_dict(),
            "classifier": choice, "train_config": train_config,
            "training_speakers": sorted(set(speakers[~test])), "test_speakers": sorted(set(speakers[test])),
            "manifest_hash": mhash, "data_source": str(Path(data).resolve()) if Path(data).exists() else str(data),
            "protocol": protocol_record(protocol),
            "final_metrics": {"test_wa": round(wa, 6), "test_ua": round(ua, 6), "n_test": int(test.sum())},
            "timings_s": {"features_all_utterances": round(t_feat, 3), "fit": round(fit_s, 3)},
            "licence": "openSMILE features: audEERING research licence (non-commercial); the model "
                       "inherits the training corpus's licence",
            "packages": _versions(), "git_commit": git_commit()})
        results.append({"fold": k, "action": "train", "weights": str(weights), "test_wa": wa,
                        "test_ua": ua, "n_test": int(test.sum()), "C": choice["C"], "fit_s": fit_s})
    return sorted(results, key=lambda r: r["fold"])


def default_smile_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
