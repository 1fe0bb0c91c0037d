"""Run reports: paper-shaped tables, PNG plots and a self-contained report.html from a run directory."""

from audit.report.html import write_report
from audit.report.plots import plot_confusions, plot_reliability, plot_snr_curves
from audit.report.rebuild import analysis_settings, rebuild_report
from audit.report.tables import condition_kind, write_tables

__all__ = ["write_report", "rebuild_report", "analysis_settings", "plot_snr_curves", "plot_confusions",
           "plot_reliability", "write_tables", "condition_kind"]
