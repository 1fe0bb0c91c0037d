"""``audit model recalibrate``: BatchNorm statistics recomputed for a folder of fold checkpoints.

For each ``fold{k}`` checkpoint: find the utterances that trained it (the data's utterances of
the speakers its sidecar names, as many as trained it), recompute every
BatchNorm's statistics over their segments (``model.recalibrate``), write the new checkpoint
under ``out`` with the source's training log, and score the held-out speakers in fp32 as
``audit train`` does. The source folder is never written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from audit._atomic import atomic_write_bytes
from audit.errors import AuditError

__all__ = ["recalibrate_folder", "fold_checkpoints"]


def fold_checkpoints(models: Path) -> list[tuple[int, Path, dict]]:
    """``[(fold, sidecar path, sidecar)]`` of a checkpoint folder (``fold*.json``) or one checkpoint."""
    models = Path(models)
    if models.is_dir():
        sidecars = sorted(models.glob("fold*.json"), key=lambda p: (len(p.stem), p.stem))
        if not sidecars:
            raise AuditError(f"{models}: no fold*.json checkpoint sidecars in this folder")
    else:
        sidecar = models.with_suffix(".json")
        if not sidecar.is_file():
            raise AuditError(f"{models}: no sidecar {sidecar.name} beside it")
        sidecars = [sidecar]
    out = []
    for s in sidecars:
        try:
            doc = json.loads(s.read_text())
        except (OSError, ValueError) as exc:
            raise AuditError(f"{s}: unreadable sidecar ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("classes"), list):
            raise AuditError(f"{s}: not a checkpoint sidecar (expected a JSON object with a class list)")
        if (doc.get("metadata") or {}).get("split") == "utterance":
            raise AuditError(f"{s}: trained on a speaker-dependent split (--split utterance); recalibrating "
                             f"by speaker would take in its held-out utterances")
        if doc.get("fold") is None or not _trained_on(doc):
            raise AuditError(f"{s}: the sidecar names no fold or training speakers, so the utterances "
                             f"that trained it cannot be found")
        try:
            fold = int(doc["fold"])
        except (TypeError, ValueError):
            raise AuditError(f"{s}: fold {doc['fold']!r} is not a fold number") from None
        out.append((fold, s, doc))
    return out


def _trained_on(doc: dict) -> list[str]:
    return sorted(map(str, doc.get("training_speakers") or doc.get("train_speakers") or []))


def _sides(df, k: int, sidecar: Path, doc: dict, data):
    """The rows that trained the checkpoint (its sidecar's speakers, in manifest order, as the
    trainer read them) and its held-out rows (the sidecar's test speakers, else fold k's)."""
    speakers = df["speaker"].astype(str)
    trained = _trained_on(doc)
    absent = sorted(set(trained) - set(speakers))
    if absent:
        raise AuditError(f"{sidecar}: {data} lacks {len(absent)} of the speakers that trained it "
                         f"({', '.join(absent[:3])}); recalibrate with the data that trained it")
    train_df = df[speakers.isin(trained)].reset_index(drop=True)
    tested = (doc.get("metadata") or {}).get("test_speakers")
    test_df = (df[speakers.isin(list(map(str, tested)))] if tested
               else df[(df["fold"].astype("int64") == k) & ~speakers.isin(trained)]).reset_index(drop=True)
    if not len(test_df):
        raise AuditError(f"{sidecar}: {data} has no held-out utterances of fold {k} to score")
    expected = doc.get("n_train_utterances")
    if expected is not None and len(train_df) < int(expected):
        raise AuditError(f"{sidecar}: trained on {expected} utterances, {data} has {len(train_df)} of its "
                         f"speakers; recalibrate with the data that trained it")
    return train_df, test_df


def recalibrate_folder(data: str | Path, models: str | Path, out: str | Path, *, folds: list[int] | None = None,
                       corpus: str | None = None, skip_bad: bool = False, batch_size: int | None = None,
                       threads: int | None = None, force: bool = False) -> list[dict]:
    """Recalibrate every (or the chosen) fold checkpoint of ``models`` into ``out``; returns one
    ``{"fold", "weights", "before", "after"}`` per fold (held-out WA/UA before and after).

    The training rows are the data's utterances of the sidecar's training speakers, in manifest
    order; after loading, their number and segment count must equal the sidecar's
    (``n_train_utterances``, ``n_train_segments``), so other files or skipped ones are refused.
    ``threads``: default the sidecar's training threads (the statistics depend on it)."""
    from audit.data import ProblemLog, load_data, manifest_hash
    from audit.engine.training import _load_waveforms, held_out_scores
    from model.checkpoint import update_sidecar
    from model.errors import ModelError
    from model.recalibrate import recalibrate_checkpoint

    out = Path(out)
    source_dir = Path(models) if Path(models).is_dir() else Path(models).parent
    if out.exists() and not out.is_dir():
        raise AuditError(f"--out {out}: is a file, not a folder")
    if out.resolve() == source_dir.resolve():
        raise AuditError(f"--out {out}: is the source folder; write the recalibrated checkpoints elsewhere")
    todo = fold_checkpoints(Path(models))
    if folds:
        have = {k for k, _, _ in todo}
        missing = sorted(set(folds) - have)
        if missing:
            raise AuditError(f"{models}: no checkpoint for fold(s) {missing} (has {sorted(have)})")
        todo = [item for item in todo if item[0] in set(folds)]
    existing = [out / f"{s.stem}.json" for _, s, _ in todo if (out / f"{s.stem}.json").exists()]
    if existing and not force:  # refused before anything is written
        raise AuditError(f"{existing[0]} exists; use --force to overwrite or choose another --out")
    problems = ProblemLog()
    df = load_data(data, corpus=corpus, skip_bad=skip_bad, problems=problems)
    mhash = manifest_hash(df)
    sides = {k: _sides(df, k, s, doc, data) for k, s, doc in todo}  # every fold checked first
    results = []
    for k, sidecar, doc in todo:
        train_df, test_df = sides[k]
        stem = out / sidecar.stem
        waves, loaded = _load_waveforms(train_df, problems, skip_bad)
        expected = doc.get("n_train_utterances")
        if expected is not None and len(loaded) != int(expected):
            raise AuditError(f"{sidecar}: trained on {expected} utterances, {len(loaded)} of {data} loaded "
                             f"(see problems with --skip-bad); recalibrate with the data that trained it")
        if str(doc.get("device", "cpu")).startswith("cuda"):
            print(f"fold {k}: trained on {doc['device']}; statistics recomputed on the CPU differ in the last "
                  f"bits from --bn-recalibrate there", file=sys.stderr, flush=True)
        if doc.get("manifest_hash") and doc["manifest_hash"] != mhash:
            print(f"fold {k}: {data} is not the manifest that trained it (other hash), though its training "
                  f"utterances match in speakers and number", file=sys.stderr, flush=True)
        provenance = {"data_source": str(Path(data).resolve()), "manifest_hash": mhash,
                      "manifest_hash_matches": mhash == doc.get("manifest_hash")}
        try:
            weights = recalibrate_checkpoint(
                sidecar, waves, stem, batch_size=batch_size, provenance=provenance,
                threads=threads if threads is not None else int(doc.get("threads") or 1),
                expect_segments=doc.get("n_train_segments"))
        except ModelError as exc:
            raise AuditError(str(exc)) from None
        del waves
        log = sidecar.with_suffix(".log.csv")
        if log.is_file():
            atomic_write_bytes(stem.with_suffix(".log.csv"), log.read_bytes())
        wa, ua, n = held_out_scores(weights, test_df, problems, skip_bad, list(doc["classes"]))
        after = {"test_wa": round(wa, 6), "test_ua": round(ua, 6), "n_test": n}
        update_sidecar(stem.with_suffix(".json"), final_metrics=after)
        before = {key: (doc.get("final_metrics") or {}).get(key) for key in ("test_wa", "test_ua")}
        print(f"fold {k}: held-out WA {_pct(before['test_wa'])} -> {_pct(after['test_wa'])}  "
              f"UA {_pct(before['test_ua'])} -> {_pct(after['test_ua'])}  -> {weights}", file=sys.stderr, flush=True)
        results.append({"fold": k, "weights": str(weights), "before": before, "after": after})
    out.mkdir(parents=True, exist_ok=True)
    problems.write(out / "problems.csv")  # header only when every file loaded
    return results


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * float(v):.2f} %"
