"""One audit, end to end: data + models + scenario -> a run directory.

Order: predictions.csv -> metrics.csv -> tables -> problems.csv -> run.json -> report; gates are
evaluated on the metrics and raised (exit 3) only after every output is written.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit._atomic import atomic_write_csv, atomic_write_json
from audit._text import plural
from audit.engine.cache import MemoryCache, PredictionCache
from audit.engine.chunks import CHUNK_S
from audit.workflows.runinfo import build_run_info, utc_now
from audit.engine.runner import evaluate
from audit.errors import AuditError, GateFailed
from audit.scenario import Scenario

__all__ = ["RunOptions", "RunResult", "run_audit", "resolve_device", "check_group_columns",
           "make_executor", "OUTPUT_FILES"]

log = logging.getLogger(__name__)

# Files a run writes; a rerun into the same folder first removes them so no stale table from
# an earlier scenario survives (the cache lives elsewhere and is kept).
OUTPUT_FILES = ("predictions.csv", "predictions.csv.gz", "metrics.csv", "metrics.csv.gz", "problems.csv",
                "run.json", "report.html", "fairness.csv")


@dataclass
class RunOptions:
    """Settings of one ``audit run`` (CLI defaults are the paper's)."""

    data: str
    models: list[str]
    out: Path
    seed: int | None = None
    device: str = "auto"
    workers: int = 1
    batch_size: int = 64
    max_audio_s: float = 600.0  # seconds of audio decoded at once (audit.engine.chunks)
    cache_dir: Path | None = None  # None: <out>/../.cache, shared by runs under results/
    use_cache: bool = True
    classes: list[str] | None = None
    fail_if: list[str] = field(default_factory=list)
    n_boot: int | None = None
    folds: list[int] | None = None  # evaluate only these folds (None: all)
    label_map: str | None = None  # built-in map name or TOML path (None: the scenario's)
    precision: str = "fp32"  # fp32 | bf16 | auto for our checkpoints (model.precision)
    report: bool = True
    progress: bool = True
    argv: list[str] | None = None
    executor: str | None = None  # local | ray; None: the scenario's [execution]
    address: str | None = None  # Ray cluster; None: the scenario's (or a new local cluster)
    gpus_per_task: float | None = None
    reference_model: str | None = None  # robustness score reference (None: the first model)
    p_adjust: str = "holm"  # multiplicity adjustment of the findings: holm | bh
    compress_predictions: bool = False  # predictions.csv.gz and metrics.csv.gz instead of the CSVs
    ensemble_folds: bool = False  # a fold folder on another corpus: one model, its folds' mean probabilities


@dataclass
class RunResult:
    """What a run produced."""

    out: Path
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    violations: list[str]
    outputs: list[Path]


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is available, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_group_columns(manifest: pd.DataFrame, columns: list[str], source: str) -> None:
    """Every grouping column must exist and hold at least one value."""
    for col in columns:
        if col not in manifest.columns:
            raise AuditError(f"group column {col!r} is not in the manifest of {source} "
                             f"(columns: {', '.join(map(str, manifest.columns))})")
        values = manifest[col].dropna().astype(str)
        if values.empty or (values == "").all():
            raise AuditError(f"group column {col!r} is empty in the manifest of {source}")


def _clear_outputs(out: Path) -> None:
    # table*: this scenario writes its own; *.tmp: the temporaries of a run that was killed
    for base in (*OUTPUT_FILES, "table*.csv", "table*.md"):
        for pattern in (base, f"{base}.tmp", f".{base}.*.tmp"):
            for p in out.glob(pattern):
                p.unlink()
    if (out / "plots").is_dir():
        shutil.rmtree(out / "plots")


def _empty_groups(manifest: pd.DataFrame, preds: pd.DataFrame, columns: list[str],
                  problems: Any) -> None:
    """A group value of the data with no evaluated utterance gets a problems.csv row."""
    for col in columns:
        have = set(preds[col].astype(str)) if col in preds.columns else set()
        for value in sorted(set(manifest[col].dropna().astype(str)) - have):
            problems.add("analysis", f"group {col}={value} has no evaluated utterance "
                         "(every one was skipped: see the rows above)")


def _validate_rules(rules: list[str], scenario: Scenario, classes=None) -> None:
    """Fail on a malformed or misspelt gate rule before the expensive evaluation, not after it."""
    from audit.analysis import gates

    gates.validate_rules(rules, groups=scenario.groups, intersections=scenario.intersections,
                         classes=classes)


def make_executor(scenario: Scenario, opts: RunOptions) -> Any:
    """``None`` for the local executor, else an unconnected :class:`RayExecutor`.

    The options win over the scenario's ``[execution]`` table; a new local Ray cluster gets
    ``opts.workers`` CPUs.
    """
    from audit.engine.ray_executor import RayExecutor

    spec = scenario.execution
    kind = opts.executor or spec.executor
    if kind == "local":
        return None
    if kind != "ray":
        raise AuditError(f"--executor {kind!r}: expected local or ray")
    return RayExecutor(opts.address or spec.address, num_cpus=opts.workers,
                       gpus_per_task=opts.gpus_per_task or spec.gpus_per_task)


def run_audit(scenario: Scenario, opts: RunOptions, *, after_batch=None) -> RunResult:
    """Evaluate ``opts.models`` on ``opts.data`` under ``scenario`` and write the run folder.

    Raises :class:`GateFailed` (exit 3) after writing everything when a threshold is violated.
    """
    executor = make_executor(scenario, opts)
    if executor is None:
        return _run_audit(scenario, opts, None, after_batch)
    # connect first: an unreachable cluster is reported before any work is done
    with executor:
        return _run_audit(scenario, opts, executor, after_batch)


def _run_audit(scenario: Scenario, opts: RunOptions, executor: Any, after_batch) -> RunResult:
    from audit.analysis import adjust_p, check_gates, run_analysis, write_analysis
    from audit.data import ProblemLog, load_data, load_label_map, manifest_hash
    from audit.workflows.crosscorpus import plan_evaluation
    from audit.models import load_models
    from audit.report import write_tables

    t0, started = time.perf_counter(), utc_now()
    seed = scenario.seed if opts.seed is None else int(opts.seed)
    rules = [*scenario.thresholds, *opts.fail_if]
    _validate_rules(rules, scenario, opts.classes)
    adjust_p([], opts.p_adjust)  # an unknown method is an AuditError before the evaluation
    device = resolve_device(opts.device) if executor is None else executor.resolve_device(opts.device)
    out = Path(opts.out)
    problems = ProblemLog()

    manifest = load_data(opts.data, skip_bad=True, problems=problems)
    data_hash = manifest_hash(manifest)  # of the whole data, as the training sidecars record it
    if opts.folds:
        manifest = select_folds(manifest, opts.folds, str(opts.data))
    group_cols = list(dict.fromkeys([*scenario.groups, *(c for i in scenario.intersections for c in i)]))
    check_group_columns(manifest, group_cols, str(opts.data))
    # with Ray the driver only needs hashes and classes: its copy stays on the CPU
    model_sets = load_models(opts.models, classes=opts.classes,
                             device=device if executor is None else "cpu", precision=opts.precision)
    label_spec = opts.label_map or scenario.label_map
    plan = plan_evaluation(manifest, model_sets, data_hash=data_hash, source=str(opts.data),
                           label_map=load_label_map(label_spec) if label_spec else None,
                           ensemble=opts.ensemble_folds,
                           problems=problems)
    if executor is not None and (plan.mapping is not None or len(plan.model_sets) != len(model_sets)):
        # Ray workers rebuild models from their sources, without the label map or fold split
        raise AuditError("--executor ray does not run cross-corpus or label-mapped audits yet; "
                         "run this one with the local executor")
    names = [m.name for m in plan.model_sets]
    if opts.reference_model is not None and opts.reference_model not in names:
        raise AuditError(f"--reference-model '{opts.reference_model}' is not one of the models "
                         f"({', '.join(names)})")
    _validate_rules(rules, scenario, plan.model_sets[0].classes)  # class-wise rules, still before audio
    t_load = time.perf_counter()

    out.mkdir(parents=True, exist_ok=True)
    cache_dir = opts.cache_dir or (out.resolve().parent / ".cache")
    # opened before the old outputs go: a damaged or locked cache stops the run with them intact
    cache = PredictionCache(cache_dir) if opts.use_cache else MemoryCache()
    _clear_outputs(out)
    try:
        preds = evaluate(plan.manifest, plan.model_sets, scenario.conditions, seed=seed,
                         batch_size=opts.batch_size, workers=opts.workers, device=device,
                         max_audio_s=opts.max_audio_s,
                         cache=cache, problems=problems, progress=opts.progress,
                         after_batch=after_batch, executor=executor)
    finally:
        cache.close()
    t_eval = time.perf_counter()
    if preds.empty:
        problems.write(out / "problems.csv")
        raise AuditError(f"no utterance could be evaluated; see {out / 'problems.csv'}")

    outputs = [atomic_write_csv(out / "predictions.csv", preds)]
    # Analyse what was written, so a fresh run and a cached rerun feed identical inputs.
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False, na_values=[""])
    kwargs: dict[str, Any] = {}
    if scenario.min_group_speakers is not None:
        kwargs["min_group_speakers"] = scenario.min_group_speakers
    n_boot = scenario.bootstrap.n_boot if opts.n_boot is None else int(opts.n_boot)
    reference = opts.reference_model or plan.model_sets[0].name
    analysis = run_analysis(table, scenario=scenario.name, classes=plan.model_sets[0].classes,
                            groups=scenario.groups, intersections=scenario.intersections,
                            n_boot=n_boot, seed=seed, ci=scenario.bootstrap.ci,
                            reference_model=reference, p_adjust=opts.p_adjust, **kwargs)
    metrics = analysis.metrics
    outputs += write_analysis(out, analysis)
    outputs += [Path(p) for p in write_tables(out, metrics, table)]
    missing = [t for t in scenario.tables if not (out / f"{t}.csv").exists()]
    for name in missing:
        log.warning("table %s was not produced: its conditions or groups are not in this run", name)
        problems.add("tables", f"table {name} requested by the scenario was not produced "
                     "(its conditions or groups are not in this run)")
    _empty_groups(plan.manifest, table, group_cols, problems)
    outputs.append(problems.write(out / "problems.csv"))
    violations = check_gates(metrics, rules) if rules else []
    if opts.compress_predictions:
        from audit.runfiles import compress_predictions

        gz = {p.name[:-len(".gz")]: p for p in compress_predictions(out)}
        outputs = [gz.get(Path(p).name, p) for p in outputs]
    t_an = time.perf_counter()

    info = build_run_info(
        # record the effective settings, so `audit report` recomputes the same intervals
        scenario=scenario.model_copy(update={
            "seed": seed, "bootstrap": scenario.bootstrap.model_copy(update={"n_boot": n_boot})}),
        data_source=str(opts.data) + (f" (folds {', '.join(map(str, opts.folds))} only)"
                                      if opts.folds else ""),
        manifest_hash=manifest_hash(manifest), n_utterances=len(manifest),
        model_sets=model_sets, seed=seed, device=device, workers=opts.workers,
        batch_size=opts.batch_size, started=started,
        cache={"enabled": opts.use_cache, "dir": str(cache_dir) if opts.use_cache else None,
               "hits": cache.hits, "misses": cache.misses},
        outputs=sorted([p.name for p in outputs] + ["summary.md"]) + ["report.html"] * opts.report,
        gates={"rules": rules, "violations": violations}, argv=opts.argv,
        warnings=list(metrics.attrs.get("warnings", [])), precision=opts.precision,
        executor=executor.describe() if executor is not None else {"executor": "local"},
        timings={"load": round(t_load - t0, 3), "evaluate": round(t_eval - t_load, 3),
                 "analyse": round(t_an - t_eval, 3)})
    info["evaluation"] = plan.record  # routing per model; label map, dropped classes, removals
    info["audio_window"] = {"max_audio_s": opts.max_audio_s, "chunk_s": CHUNK_S}
    info["analysis"] = {"reference_model": reference, "p_adjust": opts.p_adjust}
    atomic_write_json(out / "run.json", info)
    outputs.append(out / "run.json")
    from audit.report import write_summary

    outputs.append(write_summary(out))
    if opts.report:
        from audit.report import write_report

        outputs.append(Path(write_report(out)))
    if violations:
        raise GateFailed(f"{plural(len(violations), 'gate')} failed: " + "; ".join(violations))
    return RunResult(out, table, metrics, violations, outputs)


def select_folds(manifest, folds: list[int], source: str):
    """The rows of ``manifest`` whose fold is in ``folds``; an unknown fold is an AuditError."""
    known = sorted(int(f) for f in manifest["fold"].unique())
    unknown = sorted(set(folds) - set(known))
    if unknown:
        raise AuditError(f"{source}: no fold {unknown[0]} (folds are {', '.join(map(str, known))})")
    return manifest[manifest["fold"].astype(int).isin(folds)].reset_index(drop=True)
