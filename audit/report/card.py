"""A model card (Mitchell et al. 2019, "Model Cards for Model Reporting") from a run directory.

Sections as in the paper: Model Details (from run.json and each checkpoint's JSON sidecar),
Intended Use (the model owner's to write: the card says so rather than guess), Factors (the
run's group columns), Metrics (what was measured, with the interval method), Evaluation Data
(source, utterances, manifest hash, conditions), Training Data (from the sidecars), Quantitative
Analyses (the findings summary, the run's tables and plots), Ethical Considerations and Caveats
and Recommendations (the run's warnings, problems and what its speakers cannot show).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from audit._atomic import atomic_write_text
from audit.errors import AuditError
from audit.runfiles import metrics_file
from audit.report.summary import build_summary
from audit.report.tables import _TITLES

__all__ = ["write_card", "model_card"]

_NAMES = {"wa": "WA", "ua": "UA", "macro_f1": "macro-F1", "micro_f1": "micro-F1"}
_OWNER = "_To be written by the model owner: {what}. This audit cannot know it._"


def _sidecars(model: dict) -> list[dict]:
    """The JSON sidecars of a checkpoint model set (``fold*.json`` in its source folder)."""
    source = Path(str(model.get("source", "")))
    out = []
    for ck in (model.get("checkpoints") or {}).values():
        fold = ck.get("fold")
        path = source / f"fold{fold}.json" if source.is_dir() else source.with_suffix(".json")
        if path.is_file():
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except json.JSONDecodeError:
                continue
    return out


def _model_details(info: dict) -> list[str]:
    lines = []
    for m in info.get("models") or []:
        lines.append(f"### {m.get('name', '?')}")
        lines.append("")
        lines.append(f"- Kind: {m.get('kind', '?')} ({m.get('scope', '')}); source `{m.get('source', '?')}`")
        lines.append(f"- Classes: {', '.join(map(str, m.get('classes') or []))}")
        for fold, ck in sorted((m.get("checkpoints") or {}).items()):
            lines.append(f"- Fold {fold}: weights sha256 `{ck.get('sha256', '?')}`")
        cars = _sidecars(m)
        if cars:
            c = cars[0]
            tc = c.get("train_config") or {}
            cfg = c.get("model_config") or {}
            lines.append(f"- Architecture: {c.get('name', '?')} ({', '.join(f'{k}={v}' for k, v in cfg.items())})")
            lines.append(f"- Training: {tc.get('epochs', '?')} epochs, augmentation {tc.get('aug', '?')}, "
                         f"batch {tc.get('batch_size', '?')}, lr {tc.get('lr', '?')}, seed {tc.get('seed', '?')}")
            recal = c.get("bn_recalibrated")
            if isinstance(recal, dict):
                lines.append(f"- BatchNorm statistics recomputed after training over "
                             f"{recal.get('n_segments', '?')} training segments (`audit model recalibrate`), "
                             f"weights of `{str(recal.get('source_weights_sha256', '?'))[:12]}…` unchanged; "
                             f"fold {c.get('fold', '?')} held-out WA before "
                             f"{(recal.get('source_final_metrics') or {}).get('test_wa', '?')}, after "
                             f"{(c.get('final_metrics') or {}).get('test_wa', '?')}")
            versions = c.get("versions") or {}
            lines.append("- Software: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
            if c.get("git_commit"):
                lines.append(f"- Code: git {c['git_commit']}")
        else:
            lines.append("- No checkpoint sidecars found at the source: architecture and training unknown.")
        lines.append("")
    return lines


def _training_data(info: dict) -> list[str]:
    lines = []
    for m in info.get("models") or []:
        cars = _sidecars(m)
        if not cars:
            continue
        hashes = sorted({c.get("manifest_hash", "?") for c in cars})
        n = [c.get("n_train_utterances") for c in cars]
        lines.append(f"- {m.get('name')}: {len(cars)} fold model(s) trained on `{cars[0].get('data_source', '?')}` "
                     f"(manifest sha256 {', '.join(f'`{h}`' for h in hashes)}); training utterances per fold "
                     f"{', '.join(str(x) for x in n)}; speaker-independent folds (each fold's test speakers "
                     "were not trained on).")
    return lines or ["- Not recorded (no checkpoint sidecars)."]


def _metrics_section(info: dict) -> list[str]:
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    boot = scen.get("bootstrap") or {}
    return [
        f"- Scores: {', '.join(_NAMES.get(str(m), str(m)) for m in scen.get('metrics', ['wa', 'ua']))} "
        "(WA = accuracy, UA = mean per-class recall), fold mean of the speaker-independent folds.",
        "- Robustness: drop from clean (points), flip rate, robustness score against the reference model, "
        "area under the UA-SNR curve.",
        "- Fairness: between-group gap (max - min, points), its change under each condition, the minimum "
        "detectable gap at 80 % power.",
        f"- Uncertainty: {int(boot.get('ci', 0.95) * 100)} % t intervals with speaker-bootstrap standard "
        f"errors ({info.get('n_boot', boot.get('n_boot', '?'))} Rao-Wu resamples of speakers within folds, "
        "and within fold x group for groups such as gender) and the design degrees of freedom "
        f"(speakers - strata); t-tests, p-values adjusted over the whole grid "
        f"({(info.get('analysis') or {}).get('p_adjust', 'holm')}).",
    ]


def _evaluation_data(info: dict) -> list[str]:
    data = info.get("data") or {}
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    conds = list(dict.fromkeys(["clean"] + [c if isinstance(c, str) else json.dumps(c, sort_keys=True)
                                            for c in scen.get("conditions", [])]))
    return [f"- Source: `{data.get('source', '?')}`, {data.get('n_utterances', '?')} utterances",
            f"- Manifest sha256: `{data.get('manifest_sha256', '?')}`",
            f"- Conditions: {', '.join(conds)}; seed {info.get('seed', '?')}"]


def _quantitative(run_dir: Path, summary, base: Path) -> list[str]:
    lines = []
    for name, items in summary.sections():
        if items:
            lines += [f"**{name}**", ""] + [f"- {t}" for t in items] + [""]
    if summary.family:
        lines += [summary.family, ""]
    for name in _TITLES:
        md = run_dir / f"{name}.md"
        if md.is_file():
            lines += [md.read_text(encoding="utf-8").rstrip(), ""]
    plots = sorted((run_dir / "plots").glob("*.png")) if (run_dir / "plots").is_dir() else []
    lines += [f"![{p.stem}]({Path(os.path.relpath(p, base)).as_posix()})" for p in plots]
    return lines


def _caveats(run_dir: Path, info: dict, summary) -> list[str]:
    lines = [f"- {w}" for w in info.get("warnings") or []]
    problems = run_dir / "problems.csv"
    if problems.is_file():
        n = len(pd.read_csv(problems, keep_default_na=False))
        lines.append(f"- {n} problem(s) recorded in problems.csv" + (" (utterances skipped or outputs missing)." if n else "."))
    not_shown = sum("not demonstrated" in t for t in summary.gaps + summary.changes)
    if not_shown:
        lines.append(f"- {not_shown} of the largest fairness gaps or gap changes listed are not demonstrated at this "
                     "number of speakers: that is not evidence of fairness (see the minimum detectable gaps).")
    lines.append("- Results hold for this corpus, its speakers and these conditions only.")
    return lines


def model_card(run_dir, *, base=None) -> str:
    """The card of ``run_dir`` as Markdown; plot links relative to ``base`` (default run_dir)."""
    run_dir = Path(run_dir)
    base = Path(base) if base is not None else run_dir
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise AuditError(f"{run_dir}: no run.json (is this a run directory? run `audit run` first)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AuditError(f"{info_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if metrics_file(run_dir) is None:
        raise AuditError(f"{run_dir}: no metrics.csv (run `audit report {run_dir}` to recompute it)")
    summary = build_summary(run_dir)
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    names = ", ".join(str(m.get("name")) for m in info.get("models") or [])
    groups = list(scen.get("groups", [])) + ["&".join(i) for i in scen.get("intersections", [])]
    sections = [
        (f"# Model card: {names}", [f"Audit run `{scen.get('name', run_dir.name)}` of {info.get('finished_utc', '?')}, "
                                    f"git {info.get('git_commit', '?')}."]),
        ("## Model Details", _model_details(info)),
        ("## Intended Use", [_OWNER.format(what="primary intended uses and users, and out-of-scope uses")]),
        ("## Factors", [f"- Groups evaluated: {', '.join(groups) or 'none'} (columns of the manifest).",
                        "- Instrumentation / environment: the perturbed conditions under Evaluation Data."]),
        ("## Metrics", _metrics_section(info)),
        ("## Evaluation Data", _evaluation_data(info)),
        ("## Training Data", _training_data(info)),
        ("## Quantitative Analyses", _quantitative(run_dir, summary, base)),
        ("## Ethical Considerations", [_OWNER.format(what="sensitive uses, risks and mitigations")]),
        ("## Caveats and Recommendations", _caveats(run_dir, info, summary)),
    ]
    out = []
    for title, lines in sections:
        out += [title, "", *lines, ""]
    return "\n".join(out).rstrip() + "\n"


def write_card(run_dir, out=None) -> Path:
    """Write the card to ``out`` (default ``RUN_DIR/MODEL_CARD.md``), atomically."""
    run_dir = Path(run_dir)
    path = Path(out) if out else run_dir / "MODEL_CARD.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = model_card(run_dir.resolve(), base=path.resolve().parent)
    return atomic_write_text(path, text)
