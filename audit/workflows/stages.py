"""The four stages of ``audit run``: plan -> evaluate -> analyse -> write.

* :func:`plan_run` loads and checks everything before any audio is read: gate rules, the data
  (and ``--folds``), group columns, the models, cross-corpus routing and label map.
* :func:`evaluate_run` streams the planned manifest through the conditions and models
  (:func:`audit.engine.evaluate`, cache first).
* :func:`analyse_run` turns the predictions into metrics, findings, drift and gate verdicts;
  it reads the predictions back from the exact CSV text that will be written, so a fresh run
  and a cached rerun analyse identical inputs.
* :func:`write_run` writes every output into a folder (the run's staging folder): the CSVs,
  tables, ``problems.csv``, ``run.json``, ``summary.md`` and the report.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit._atomic import FLOAT_FORMAT, atomic_write_json, atomic_write_text
from audit.engine.chunks import CHUNK_S
from audit.errors import AuditError
from audit.models import ModelSet
from audit.scenario import Scenario
from audit.workflows.crosscorpus import EvaluationPlan
from audit.workflows.runinfo import build_run_info, utc_now

__all__ = ["RunPlan", "RunAnalysis", "plan_run", "evaluate_run", "analyse_run", "write_run",
           "check_group_columns", "select_folds"]

log = logging.getLogger(__name__)


@dataclass
class RunPlan:
    """What the plan stage decided; the later stages read nothing else.

    ``manifest`` is the data after ``--folds`` (what run.json describes), ``model_sets`` the
    models as loaded (run.json's ``models``), ``evaluation`` the rows and models the engine
    gets (cross-corpus routing, label map). ``problems`` collects every skipped item of the run.
    """

    scenario: Scenario
    options: Any  # audit.workflows.RunOptions
    seed: int
    rules: list[str]
    device: str
    manifest: pd.DataFrame
    model_sets: list[ModelSet]
    evaluation: EvaluationPlan
    group_columns: list[str]
    reference: str
    n_boot: int
    problems: Any  # audit.data.ProblemLog
    started: str
    timings: dict[str, float] = field(default_factory=dict)
    jobs: int | None = None  # the evaluation's job processes (--jobs auto resolved), once it ran

    @property
    def classes(self) -> list[str]:
        """The class order of the outputs (the first model's)."""
        return self.evaluation.model_sets[0].classes


@dataclass
class RunAnalysis:
    """What the analyse stage computed: ``predictions_csv`` is the exact text of
    predictions.csv, ``table`` that text read back, ``analysis`` an
    :class:`audit.analysis.Analysis`, ``violations`` the failed gate rules."""

    predictions_csv: str
    table: pd.DataFrame
    analysis: Any
    violations: list[str]

    @property
    def metrics(self) -> pd.DataFrame:
        """The tidy rows of metrics.csv."""
        return self.analysis.metrics


def check_group_columns(manifest: pd.DataFrame, columns: list[str], source: str) -> None:
    """Every grouping column must exist and hold at least one value."""
    for col in columns:
        if col not in manifest.columns:
            raise AuditError(f"group column {col!r} is not in the manifest of {source} "
                             f"(columns: {', '.join(map(str, manifest.columns))})")
        values = manifest[col].dropna().astype(str)
        if values.empty or (values == "").all():
            raise AuditError(f"group column {col!r} is empty in the manifest of {source}")


def select_folds(manifest: pd.DataFrame, folds: list[int], source: str) -> pd.DataFrame:
    """The rows of ``manifest`` whose fold is in ``folds``; an unknown fold is an AuditError."""
    known = sorted(int(f) for f in manifest["fold"].unique())
    unknown = sorted(set(folds) - set(known))
    if unknown:
        raise AuditError(f"{source}: no fold {unknown[0]} (folds are {', '.join(map(str, known))})")
    return manifest[manifest["fold"].astype(int).isin(folds)].reset_index(drop=True)


def _validate_rules(rules: list[str], scenario: Scenario, classes: list[str] | None = None) -> None:
    """Fail on a malformed or misspelt gate rule before the expensive evaluation, not after it."""
    from audit.analysis import gates

    gates.validate_rules(rules, groups=scenario.groups, intersections=scenario.intersections,
                         classes=classes)


def plan_run(scenario: Scenario, opts: Any, *, device: str, executor: Any = None) -> RunPlan:
    """Load and check the data, the models and the rules; nothing is evaluated or written.

    ``device`` is already resolved (by the caller, or by the executor's cluster).
    """
    from audit.analysis import adjust_p
    from audit.data import ProblemLog, load_data, load_label_map, manifest_hash
    from audit.models import load_models
    from audit.workflows.crosscorpus import plan_evaluation

    t0, started = time.perf_counter(), utc_now()
    seed = scenario.seed if opts.seed is None else int(opts.seed)
    rules = [*scenario.thresholds, *opts.fail_if]
    _validate_rules(rules, scenario, opts.classes)
    adjust_p([], opts.p_adjust)  # an unknown method is an AuditError before the evaluation
    problems = ProblemLog()

    manifest = load_data(opts.data, skip_bad=True, problems=problems, protocol=opts.protocol)
    data_hash = manifest_hash(manifest)  # of the whole data, as the training sidecars record it
    if opts.folds:
        manifest = select_folds(manifest, opts.folds, str(opts.data))
    group_cols = list(dict.fromkeys([*scenario.groups, *(c for i in scenario.intersections for c in i)]))
    check_group_columns(manifest, group_cols, str(opts.data))
    # with Ray the driver only needs hashes and classes: its copy stays on the CPU
    model_sets = load_models(opts.models, classes=opts.classes,
                             device=device if executor is None else "cpu", precision=opts.precision)
    label_spec = opts.label_map or scenario.label_map
    evaluation = plan_evaluation(manifest, model_sets, data_hash=data_hash, source=str(opts.data),
                                 ensemble=opts.ensemble_folds,
                                 label_map=load_label_map(label_spec) if label_spec else None,
                                 problems=problems)
    if executor is not None and (evaluation.mapping is not None
                                 or len(evaluation.model_sets) != len(model_sets)):
        # Ray workers rebuild models from their sources, without the label map or fold split
        raise AuditError("--executor ray does not run cross-corpus or label-mapped audits yet; "
                         "run this one with the local executor")
    names = [m.name for m in evaluation.model_sets]
    if opts.reference_model is not None and opts.reference_model not in names:
        raise AuditError(f"--reference-model '{opts.reference_model}' is not one of the models "
                         f"({', '.join(names)})")
    _validate_rules(rules, scenario, evaluation.model_sets[0].classes)  # class-wise rules, still before audio
    n_boot = scenario.bootstrap.n_boot if opts.n_boot is None else int(opts.n_boot)
    return RunPlan(scenario=scenario, options=opts, seed=seed, rules=rules, device=device,
                   manifest=manifest, model_sets=model_sets, evaluation=evaluation,
                   group_columns=group_cols, reference=opts.reference_model or names[0],
                   n_boot=n_boot, problems=problems, started=started,
                   timings={"load": round(time.perf_counter() - t0, 3)})


def evaluate_run(plan: RunPlan, cache: Any, *, executor: Any = None, after_batch=None) -> pd.DataFrame:
    """Every planned prediction (cache first): the rows of predictions.csv."""
    from audit.engine import evaluate

    opts, t0 = plan.options, time.perf_counter()
    preds = evaluate(plan.evaluation.manifest, plan.evaluation.model_sets, plan.scenario.conditions,
                     seed=plan.seed, batch_size=opts.batch_size, workers=opts.workers,
                     device=plan.device, max_audio_s=opts.max_audio_s, cache=cache,
                     problems=plan.problems, progress=opts.progress, after_batch=after_batch,
                     executor=executor, jobs=opts.jobs)
    plan.timings["evaluate"] = round(time.perf_counter() - t0, 3)
    plan.jobs = int(preds.attrs.get("jobs", 1))
    return preds


def predictions_text(preds: pd.DataFrame) -> str:
    """The exact text of predictions.csv (what :func:`audit._atomic.atomic_write_csv` writes)."""
    return preds.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def analyse_run(plan: RunPlan, preds: pd.DataFrame) -> RunAnalysis:
    """Metrics, findings, drift and gate verdicts of the predictions (nothing is written)."""
    from audit.analysis import check_gates, run_analysis

    t0 = time.perf_counter()
    text = predictions_text(preds)
    table = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    kwargs: dict[str, Any] = {}
    if plan.scenario.min_group_speakers is not None:
        kwargs["min_group_speakers"] = plan.scenario.min_group_speakers
    analysis = run_analysis(table, scenario=plan.scenario.name, classes=plan.classes,
                            groups=plan.scenario.groups, intersections=plan.scenario.intersections,
                            n_boot=plan.n_boot, seed=plan.seed, ci=plan.scenario.bootstrap.ci,
                            reference_model=plan.reference, p_adjust=plan.options.p_adjust, **kwargs)
    violations = check_gates(analysis.metrics, plan.rules) if plan.rules else []
    plan.timings["analyse"] = round(time.perf_counter() - t0, 3)
    return RunAnalysis(text, table, analysis, violations)


def _empty_groups(manifest: pd.DataFrame, preds: pd.DataFrame, columns: list[str],
                  problems: Any) -> None:
    """A group value of the data with no evaluated utterance gets a problems.csv row."""
    for col in columns:
        have = set(preds[col].astype(str)) if col in preds.columns else set()
        for value in sorted(set(manifest[col].dropna().astype(str)) - have):
            problems.add("analysis", f"group {col}={value} has no evaluated utterance "
                         "(every one was skipped: see the rows above)")


def write_run(plan: RunPlan, result: RunAnalysis, folder: Path, *, cache: Any,
              executor: Any = None) -> list[Path]:
    """Write the run's outputs into ``folder``; the paths written (``run.json`` and the
    summary and report after the CSVs that they read). ``cache`` gives run.json its hit
    counts, a connected ``executor`` its cluster description."""
    from audit.analysis import write_analysis
    from audit.data import manifest_hash, protocol_record
    from audit.engine.conditions import sources_record
    from audit.report import write_fold_models, write_summary, write_tables

    opts, scenario, problems = plan.options, plan.scenario, plan.problems
    t0 = time.perf_counter()
    outputs = [atomic_write_text(folder / "predictions.csv", result.predictions_csv)]
    outputs += write_analysis(folder, result.analysis)
    outputs += [Path(p) for p in write_tables(folder, result.metrics, result.table)]
    folds_csv = write_fold_models(folder, result.metrics, plan.evaluation.record)  # cross-corpus folders
    outputs += [folds_csv] if folds_csv else []
    mos_info = None
    if opts.mos:  # DNSMOS per condition on a seeded sample (mos.csv, table_mos, a plot)
        from audit.engine.mos import write_mos

        mos_paths, mos_info = write_mos(folder, plan.evaluation.manifest, scenario.conditions, result.metrics,
                                        n=opts.mos, seed=plan.seed, workers=opts.workers, device=plan.device,
                                        problems=problems)
        outputs += mos_paths
    for name in [t for t in scenario.tables if not (folder / f"{t}.csv").exists()]:
        log.warning("table %s was not produced: its conditions or groups are not in this run", name)
        problems.add("tables", f"table {name} requested by the scenario was not produced "
                     "(its conditions or groups are not in this run)")
    _empty_groups(plan.evaluation.manifest, result.table, plan.group_columns, problems)
    outputs.append(problems.write(folder / "problems.csv"))
    if opts.compress_predictions:
        from audit.runfiles import compress_predictions

        gz = {p.name[:-len(".gz")]: p for p in compress_predictions(folder)}
        outputs = [gz.get(Path(p).name, p) for p in outputs]
    plan.timings["analyse"] = round(plan.timings.get("analyse", 0.0) + time.perf_counter() - t0, 3)

    info = build_run_info(
        # record the effective settings, so `audit report` recomputes the same intervals
        scenario=scenario.model_copy(update={
            "seed": plan.seed, "bootstrap": scenario.bootstrap.model_copy(update={"n_boot": plan.n_boot})}),
        data_source=str(opts.data) + (f" (folds {', '.join(map(str, opts.folds))} only)"
                                      if opts.folds else ""),
        manifest_hash=manifest_hash(plan.manifest), n_utterances=len(plan.manifest),
        model_sets=plan.model_sets, seed=plan.seed, device=plan.device, workers=opts.workers,
        batch_size=opts.batch_size, started=plan.started,
        cache={"enabled": opts.use_cache, "dir": str(cache_dir(opts)) if opts.use_cache else None,
               "hits": cache.hits, "misses": cache.misses},
        outputs=sorted([p.name for p in outputs] + ["summary.md"]) + ["report.html"] * opts.report,
        gates={"rules": plan.rules, "violations": result.violations}, argv=opts.argv,
        warnings=list(result.metrics.attrs.get("warnings", [])), precision=opts.precision,
        executor=executor.describe() if executor is not None else {"executor": "local"},
        timings=dict(plan.timings))
    info["evaluation"] = plan.evaluation.record  # routing per model; label map, dropped classes, removals
    info["condition_sources"] = sources_record(scenario.conditions)  # noise / rir folders
    info["audio_window"] = {"max_audio_s": opts.max_audio_s, "chunk_s": CHUNK_S}
    info["jobs"] = plan.jobs if plan.jobs is not None else opts.jobs
    if mos_info:
        info["mos"] = mos_info
    info["data"]["protocol"] = protocol_record(opts.protocol)
    info["analysis"] = {"reference_model": plan.reference, "p_adjust": opts.p_adjust}
    outputs.append(atomic_write_json(folder / "run.json", info))
    outputs.append(write_summary(folder))
    if opts.report:
        from audit.report import write_report

        outputs.append(Path(write_report(folder)))
    return outputs


def cache_dir(opts: Any) -> Path:
    """The prediction cache folder: ``--cache-dir``, else ``.cache`` beside the run folder
    (shared by every run under ``results/``)."""
    return Path(opts.cache_dir) if opts.cache_dir else Path(opts.out).resolve().parent / ".cache"
