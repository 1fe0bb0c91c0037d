"""Plots and the self-contained report.html; rendered in headless Chromium when available."""

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from _summary_check import contradictions

from audit.analysis import run_analysis, write_analysis
from audit.report import write_report, write_summary, write_tables


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, preds, classes):
    d = tmp_path_factory.mktemp("run")
    preds.to_csv(d / "predictions.csv", index=False)
    a = run_analysis(preds, classes=classes, scenario="noise", groups=["gender"], n_boot=30, seed=0,
                     min_group_speakers=7)
    m = a.metrics
    write_analysis(d, a)
    write_tables(d, m, preds)
    (d / "problems.csv").write_text("stage,utt_id,path,condition,model,problem\n"
                                    "audio,a99_u01,x.wav,,,unreadable <file>\n")
    info = {"scenario": {"name": "noise", "groups": ["gender"], "bootstrap": {"n_boot": 30, "ci": 0.95}},
            "seed": 0, "data": {"n_utterances": 144},
            "gates": {"rules": ["ua_drop>1"], "violations": ["ua_drop>1: model base, condition x: ua_drop = 9.00"]},
            "warnings": m.attrs["warnings"]}
    (d / "run.json").write_text(json.dumps(info))
    write_summary(d)
    write_report(d)
    return d


def test_plots_written(run_dir):
    names = sorted(p.name for p in (run_dir / "plots").iterdir())
    assert names == ["confusion_base.png", "confusion_prop.png", "drift_base.png", "drift_prop.png",
                     "interaction_base.png", "interaction_prop.png", "reliability_base.png",
                     "reliability_prop.png", "snr_base.png", "snr_prop.png"]
    import matplotlib.image as mpimg

    img = mpimg.imread(run_dir / "plots" / "snr_base.png")
    assert img.shape[0] > 200 and len(np.unique((img[..., :3] * 8).astype(int).reshape(-1, 3), axis=0)) > 8


def test_report_is_self_contained(run_dir):
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 10
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", page)  # nothing fetched
    assert "<style>" in page and "Table 15" in page and "Table 17" in page and "Table 16" not in page
    assert "FAILED" in page and "ua_drop = 9.00" in page  # gate violations
    assert "unreadable &lt;file&gt;" in page  # problems, escaped
    assert "gender=female has 6 speakers" in page  # warnings
    assert "&quot;seed&quot;: 0" in page  # run.json summary (escaped)


def test_report_layout_summary_first_then_figure_rows_then_tables(run_dir):
    page = (run_dir / "report.html").read_text()
    summary, figures, tables = (page.index(s) for s in ("<section id='summary'>", "Figures by model", "Table 15"))
    assert summary < figures < tables
    # one row per model: WA/UA vs SNR, the interaction plot, confusion drift, in that order
    for model in ("base", "prop"):
        row = page[page.index(f"<h3>{model}</h3><div class='figrow'>"):]
        row = row[: row.index("</div>")]
        assert [a for a in re.findall(r"alt='([a-z]+)_", row)] == ["snr", "interaction", "drift"]
    assert "Robustness x fairness" in page and "Robustness score" in page


def test_summary_sentences_in_report_and_markdown(run_dir):
    page = (run_dir / "report.html").read_text()
    md = (run_dir / "summary.md").read_text()
    section = page[page.index("<section id='summary'>"): page.index("</section>")]
    # noise lowers UA in the fixture: the largest drop is shown with interval and adjusted p
    drop = re.search(r"(base|prop): UA falls (\d+\.\d) points \[(\d+\.\d), (\d+\.\d)\] at 0 dB SNR "
                     r"\(adjusted p (&lt;|=) [0-9.]+\)", section)
    assert drop is not None, section
    assert float(drop.group(3)) <= float(drop.group(2)) <= float(drop.group(4))
    assert "Holm-adjusted over all" in section
    # 6 speakers per gender: gaps are not shown and the power sentence says why
    assert "one test detects gaps above" in section and "too few speakers" in section
    assert "FAILED" in section  # gate verdicts lead the summary
    for text in ("## Gates", "## Largest robustness drops (UA)", "## Largest fairness gaps (UA",
                 "## Robustness scores", "Holm-adjusted"):
        assert text in md
    # every sentence agrees with findings.csv: the estimate against the detectable sizes it states
    f = pd.read_csv(run_dir / "findings.csv")
    gaps = f[(f.kind == "gap") & (f.metric == "ua") & ~f.shown]
    for r in gaps.itertuples():
        if f"({r.estimate:.1f} points" not in md:
            continue
        line = next(x for x in md.splitlines() if f"({r.estimate:.1f} points" in x)
        contains0 = r.ci_low <= 0 <= r.ci_high
        assert abs(r.estimate) < (r.mdg if contains0 else r.mdg_family)
        assert (f"above {r.mdg:.1f} points" in line) == contains0, line
        assert (f"{r.mdg_family:.1f}" if r.mdg_family < 100 else "none of any size") in line, line
    assert contradictions(md) == []


def test_summary_checker_catches_a_contradiction():
    line = ("- m on clean speech: a UA gap between female and male is not shown (12.2 points [5.5, 19.6], "
            "adjusted p = 0.227; not significant after adjustment); with 12 speakers in the smaller group "
            "only gaps above 10.1 points were detectable at 80 % power")
    assert contradictions(line) == [line]
    assert contradictions(line.replace("10.1", "18.4")) == []


def test_committed_summaries_do_not_contradict_themselves():
    """No summary.md under results/ calls a gap undetectable that exceeds its stated size."""
    from pathlib import Path

    summaries = sorted((Path(__file__).resolve().parents[2] / "results").rglob("summary.md"))
    assert summaries
    for path in summaries:
        assert contradictions(path.read_text()) == [], path


def test_report_needs_metrics(tmp_path):
    from audit.errors import AuditError

    with pytest.raises(AuditError, match="no metrics.csv"):
        write_report(tmp_path)


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.chromium
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed")
def test_report_renders_in_chromium(run_dir, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
           (run_dir / "report.html").as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert px.shape[:2] == (1600, 1200)
    non_white = (px.sum(axis=2) < 740).mean()
    assert non_white > 0.05, f"page looks blank ({non_white:.1%} non-white)"
    colours = np.unique((px // 16).reshape(-1, 3), axis=0)
    assert len(colours) > 40, "too few colours for tables and plots"
    # the report's heading blue (#2f6db5) is on screen: our page, not an error page
    blue = (np.abs(px - np.array([0x2F, 0x6D, 0xB5])).sum(axis=2) < 30).sum()
    assert blue > 500


@pytest.mark.chromium
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed")
def test_summary_renders_first_in_chromium(run_dir, tmp_path):
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", (run_dir / "report.html").as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout
    assert "<section id=\"summary\">" in dom, "chromium rendered no summary section"
    section = dom[dom.index("<section id=\"summary\">"): dom.index("</section>")]
    body = dom[dom.index("<body>"):]
    assert body.index("<section id=\"summary\">") < body.index("Figures by model") < body.index("Table 15")
    assert re.search(r"UA falls \d+\.\d points \[\d+\.\d, \d+\.\d\] at 0 dB SNR \(adjusted p", section)
    assert "one test detects gaps above" in section and "Holm-adjusted" in section
