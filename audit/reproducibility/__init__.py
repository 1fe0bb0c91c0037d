"""Reproducibility across training seeds: agreement of k runs, spread of their WA/UA."""

from audit.reproducibility.agreement import (agreement_rate, correct_agreement, fleiss_kappa,
                                             fleiss_kappa_counts, pairwise_agreement)
from audit.reproducibility.compare import SUMMARY_COLUMNS, compare_predictions, load_runs, run_groups
from audit.reproducibility.output import wide_table, write_outputs

__all__ = [
    "SUMMARY_COLUMNS", "agreement_rate", "pairwise_agreement", "correct_agreement",
    "fleiss_kappa", "fleiss_kappa_counts", "compare_predictions", "load_runs", "run_groups",
    "wide_table", "write_outputs",
]
