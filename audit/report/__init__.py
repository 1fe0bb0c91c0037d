"""Run reports: the findings summary, paper-shaped tables, PNG plots and a self-contained
report.html from a run directory; the model card."""

from audit.report.card import model_card, write_card
from audit.report.drift_plot import plot_drift
from audit.report.foldmodels import fold_model_sentences, fold_model_table, write_fold_models
from audit.report.html import write_report
from audit.report.interaction_plot import plot_interaction
from audit.report.plots import plot_confusions, plot_reliability, plot_snr_curves
from audit.report.rebuild import analysis_settings, rebuild_report, refresh_report
from audit.report.summary import Summary, build_summary, summary_html, write_summary
from audit.report.tables import condition_kind, write_tables
from audit.report.training_plot import plot_training_curves, read_training_logs, training_sources
from audit.report.quality import mos_table, write_mos_outputs

__all__ = ["write_report", "rebuild_report", "refresh_report", "analysis_settings", "plot_snr_curves",
           "plot_confusions", "plot_reliability", "plot_drift", "plot_interaction", "write_tables", "condition_kind",
           "Summary", "build_summary", "summary_html", "write_summary", "model_card", "write_card",
           "plot_training_curves", "read_training_logs", "training_sources", "mos_table",
           "write_mos_outputs", "fold_model_table", "fold_model_sentences", "write_fold_models"]
