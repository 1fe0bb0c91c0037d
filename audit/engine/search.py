"""Recipe search on validation speakers only: every candidate of a grid is trained on the
training side of some folds, its epoch chosen and its score taken on validation speakers held
out of those training speakers; the test speakers of the folds are never loaded.

A grid is a TOML file (``scenarios/search/*.toml``)::

    name = "ravdess_recipes"
    folds = [0, 1]
    [[candidate]]
    name = "base"
    recipe = "tuned"
    [[candidate]]
    name = "no_specaug"
    recipe = "tuned"
    specaug_freq_width = 0

Candidate keys other than ``name``, ``recipe`` and ``description`` are ``build_config``
keywords (``model.recipes``). ``search.csv`` gets one row per candidate and fold,
``search_summary.csv`` one per candidate (mean and range of validation UA over the folds,
cost), ranked; ``chosen`` marks the best mean validation UA of the final epoch.

Why the final epoch: the epoch a training keeps with ``--select best`` is the one whose
validation UA is highest, so that UA (``val_ua``) is a maximum over noisy epochs scored on the
speakers that chose it, biased upward the more a candidate's validation UA moves between epochs.
The final epoch's (``val_ua_last``, from the epoch log) involves no choice; it ranks. Both are in
the tables, with the epoch-to-epoch spread of the second half of training (``val_ua_sd_late``).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from audit.errors import AuditError

__all__ = ["SearchGrid", "load_grid", "plan_search", "search_table", "write_search_tables"]


class Candidate(BaseModel):
    """One recipe to try: ``recipe`` plus ``overrides`` (``build_config`` keywords)."""

    model_config = ConfigDict(extra="allow")
    name: str
    recipe: str = "tuned"
    description: str = ""

    @field_validator("name")
    @classmethod
    def _plain(cls, v: str) -> str:
        if not v or not all(ch.isalnum() or ch in "_-." for ch in v):
            raise ValueError(f"candidate name {v!r}: letters, digits, _ - . only (it names a folder)")
        return v

    @property
    def overrides(self) -> dict[str, Any]:
        extra = dict(self.model_extra or {})
        for key in ("speed_factors", "augment_hold_out"):
            if isinstance(extra.get(key), list):
                extra[key] = tuple(extra[key])
        return extra


class SearchGrid(BaseModel):
    """A recipe grid: the folds whose training sides host the search, and the candidates."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    folds: list[int]
    candidate: list[Candidate]


def load_grid(path: str | Path) -> SearchGrid:
    """The grid of a TOML file; AuditError naming the file and key on any problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AuditError(f"{path}: cannot read the search grid ({exc})") from None
    try:
        grid = SearchGrid(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise AuditError(f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    names = [c.name for c in grid.candidate]
    if len(set(names)) != len(names):
        raise AuditError(f"{path}: candidate names repeat")
    return grid


def candidate_config(cand: Candidate, seed: int, device: str, path: str = "grid") -> Any:
    """The ``TrainConfig`` of a candidate (one thread: weights do not depend on the machine)."""
    from model import ModelError
    from model.recipes import build_config

    try:
        return build_config(cand.recipe, **cand.overrides, seed=seed, device=device, threads=1, progress=False)
    except (ModelError, TypeError) as exc:
        raise AuditError(f"{path}: candidate {cand.name!r}: {exc}") from None


def plan_search(grid: SearchGrid, df: Any, *, data: str, out: Path, seed: int, device: str,
                corpus: str | None = None, n_folds: int | None = None, path: str = "grid") -> list:
    """``FoldJob``s of every candidate and fold (finished ones skipped), test scoring off."""
    from audit.engine.training import plan_folds

    jobs = []
    for cand in grid.candidate:
        config = candidate_config(cand, seed, device, path)
        if not config.val_speakers:
            raise AuditError(f"{path}: candidate {cand.name!r} has no validation speakers (val_speakers = 0); "
                             f"a search scores candidates on validation speakers only")
        for job in plan_folds(df, data=data, folds=grid.folds, train_config=config.to_dict(),
                              out=Path(out) / cand.name, corpus=corpus, n_folds=n_folds, label=cand.name):
            jobs.append(replace(job, evaluate=False))
    return jobs


def _validation_curve(log: Path) -> list[float]:
    """Validation UA per epoch from a training's epoch log (empty when it has none)."""
    import csv

    if not log.is_file():
        return []
    with log.open(newline="") as fh:
        return [float(r["val_ua"]) for r in csv.DictReader(fh) if r.get("val_ua") not in (None, "")]


def search_table(grid: SearchGrid, out: Path) -> list[dict]:
    """Rows (candidate, fold, validation figures, cost) of the finished trainings under ``out``."""
    rows = []
    for cand in grid.candidate:
        for k in grid.folds:
            sidecar = Path(out) / cand.name / f"fold{k}.json"
            if not sidecar.is_file():
                continue
            doc = json.loads(sidecar.read_text())
            val = doc.get("validation") or {}
            epochs = int(doc["epochs"])
            curve = _validation_curve(sidecar.with_name(f"fold{k}.log.csv"))
            rows.append({
                "candidate": cand.name, "recipe": cand.recipe, "fold": k,
                "overrides": json.dumps(cand.overrides, sort_keys=True, default=list),
                "model": doc["name"], "val_speakers": " ".join(val.get("speakers") or []),
                "val_ua": val.get("val_ua"), "val_wa": val.get("val_wa"), "selected_epoch": val.get("selected_epoch"),
                "val_ua_last": curve[-1] if curve else None,
                "val_ua_sd_late": float(np.std(curve[len(curve) // 2:], ddof=1)) if len(curve) > 3 else None,
                "epochs": epochs, "finished": not doc.get("stopped_early"),
                "train_seconds": doc.get("train_seconds"),
                "s_per_epoch": round(float(doc.get("train_seconds", 0)) / max(1, epochs), 2),
                "cpu": (doc.get("pieces") or [{}])[-1].get("cpu"), "precision": doc.get("precision"),
                "description": cand.description})
    return rows


def write_search_tables(grid: SearchGrid, out: Path) -> tuple[Path, Path]:
    """``search.csv`` (per candidate and fold) and ``search_summary.csv`` (per candidate, ranked
    by mean final-epoch validation UA over the folds it has finished) under ``out``."""
    import pandas as pd

    from audit._atomic import atomic_write_text

    rows = pd.DataFrame(search_table(grid, out))
    out = Path(out)
    per_fold, summary_path = out / "search.csv", out / "search_summary.csv"
    if rows.empty:
        raise AuditError(f"{out}: no finished candidate to tabulate yet")
    atomic_write_text(per_fold, rows.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    done = rows[rows["finished"]]
    summary = (done.groupby("candidate", sort=False)
               .agg(recipe=("recipe", "first"), folds=("fold", "count"),
                    val_ua_last_mean=("val_ua_last", "mean"), val_ua_last_min=("val_ua_last", "min"),
                    val_ua_last_max=("val_ua_last", "max"), val_ua_sd_late=("val_ua_sd_late", "mean"),
                    val_ua_mean=("val_ua", "mean"), val_wa_mean=("val_wa", "mean"),
                    s_per_epoch=("s_per_epoch", "mean"), train_hours=("train_seconds", lambda s: s.sum() / 3600),
                    overrides=("overrides", "first"), description=("description", "first"))
               .reset_index())
    complete = summary["folds"] == len(grid.folds)
    summary["rank"] = summary["val_ua_last_mean"].where(complete).rank(ascending=False, method="min")
    summary["chosen"] = summary["rank"] == 1
    summary = summary.sort_values(["rank", "candidate"], na_position="last")
    atomic_write_text(summary_path, summary.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    return per_fold, summary_path
