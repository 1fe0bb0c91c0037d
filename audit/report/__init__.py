"""Run reports: PNG plots and a self-contained report.html from a run directory."""

from audit.report.html import write_report
from audit.report.plots import plot_confusions, plot_reliability, plot_snr_curves
from audit.report.rebuild import analysis_settings, rebuild_report

__all__ = ["write_report", "rebuild_report", "analysis_settings", "plot_snr_curves", "plot_confusions",
           "plot_reliability"]
