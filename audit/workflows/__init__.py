"""Workflows that drive the evaluation core (:mod:`audit.engine`): an audit run end to end
(plan -> evaluate -> analyse -> write, into a staging folder), fairness by group, one perturbed
file, cross-corpus planning, BatchNorm recalibration of fold checkpoints, training seeds."""

from audit.workflows.crosscorpus import EvaluationPlan, MappedPredictor, corpus_relation, plan_evaluation
from audit.workflows.fairness import FairnessResult, fairness_audit, gap_lines
from audit.workflows.perturb import perturb_file
from audit.workflows.pipeline import RunOptions, RunResult, resolve_device, run_audit
from audit.workflows.recalibrate import fold_checkpoints, recalibrate_folder
from audit.workflows.runinfo import build_run_info
from audit.workflows.seeds import audit_seeds, seed_list, train_seeds

__all__ = [
    "EvaluationPlan",
    "FairnessResult",
    "MappedPredictor",
    "RunOptions",
    "RunResult",
    "audit_seeds",
    "build_run_info",
    "corpus_relation",
    "fairness_audit",
    "fold_checkpoints",
    "gap_lines",
    "perturb_file",
    "plan_evaluation",
    "recalibrate_folder",
    "resolve_device",
    "run_audit",
    "seed_list",
    "train_seeds",
]
