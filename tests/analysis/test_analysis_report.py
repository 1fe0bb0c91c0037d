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
    info = {"scenario": {"name": "noise", "groups": ["gender"], "bootstrap": {"n_boot": 30, "ci": 0.95},
                         "min_group_speakers": 7},
            "seed": 0, "data": {"n_utterances": 144}, "models": [{"name": "prop"}, {"name": "base"}],
            "analysis": {"reference_model": "prop", "p_adjust": "holm"},
            "gates": {"rules": ["ua_drop>1"], "violations": ["ua_drop>1: model base, condition x: ua_drop = 9.00"]},
            "warnings": m.attrs["warnings"]}
    (d / "run.json").write_text(json.dumps(info))
    from audit.analysis import compare_runs, write_comparison

    (d / "table19").mkdir()
    write_comparison(compare_runs(d, d, model_a="base", model_b="prop"), d / "table19")
    write_summary(d)
    write_report(d)
    return d


def test_plots_written(run_dir):
    names = sorted(p.name for p in (run_dir / "plots").iterdir())
    drift = [f"drift_{m}_awgn_snr_db_{s}.png" for m in ("base", "prop") for s in (0, 20)]
    assert names == sorted(["confusion_base.png", "confusion_prop.png", *drift, "flips_base.png",
                            "flips_prop.png", "headline_ua.png", "interaction_base.png",
                            "interaction_prop.png", "reliability_base.png", "reliability_prop.png",
                            "snr_base.png", "snr_prop.png"])
    import matplotlib.image as mpimg

    img = mpimg.imread(run_dir / "plots" / "snr_base.png")
    assert img.shape[0] > 200 and len(np.unique((img[..., :3] * 8).astype(int).reshape(-1, 3), axis=0)) > 8


def test_report_is_self_contained(run_dir):
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 15
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", page)  # nothing fetched
    assert "<style>" in page and "Table 15" in page and "Table 17" in page and "Table 16" not in page
    assert "FAILED" in page and "ua_drop = 9.00" in page  # gate violations
    assert "unreadable &lt;file&gt;" in page  # problems, escaped
    assert "gender=female has 6 speakers" in page  # warnings
    assert "&quot;seed&quot;: 0" in page  # run.json summary (escaped)


def test_report_layout_summary_first_then_figure_rows_then_tables(run_dir):
    page = (run_dir / "report.html").read_text()
    order = [page.index(s) for s in ("<section id='headline'>", "<section id='summary'>",
                                     "<section id='comparisons'>", "Figures by model", "Table 15")]
    assert order == sorted(order)
    assert re.findall(r"alt='([a-z_]+)'", page)[0] == "headline_ua"  # the first image of the page
    # the reference model (prop, run.json) first, then the others in the run's order
    assert page.index("<h3>prop</h3>") < page.index("<h3>base</h3>")
    # one row per model: WA/UA vs SNR and the interaction plot, then one drift matrix per
    # condition and the flip rates
    for model in ("base", "prop"):
        block = page[page.index(f"<h3>{model}</h3><div class='figrow'>"):]
        row = block[: block.index("</div>")]
        assert [a for a in re.findall(r"alt='([a-z]+)_", row)] == ["snr", "interaction"]
        grid = block[block.index("<div class='driftgrid'>"):]
        grid = grid[: grid.index("</div>")]
        assert re.findall(r"alt='([a-z0-9_]+)'", grid) == [
            f"drift_{model}_awgn_snr_db_0", f"drift_{model}_awgn_snr_db_20", f"flips_{model}"]
    assert "Robustness x fairness" in page and "Robustness score" in page


def test_comparison_verdicts_are_in_the_report(run_dir):
    import pandas as pd

    from audit.report.comparisons import verdict

    page = (run_dir / "report.html").read_text()
    section = page[page.index("<section id='comparisons'>"): page.index("</section>", page.index("<section id='comparisons'>"))]
    assert "prop against base, UA, paired over 12 speakers" in section
    rows = pd.read_csv(run_dir / "table19" / "compare.csv").query("metric == 'ua'")
    for r in rows.itertuples():
        # by hand: demonstrated = interval without 0 and Holm p < 0.05, the sign of the difference
        shown = r.p_t_holm < 0.05 and (r.ci_low > 0 or r.ci_high < 0)
        expected = ("higher" if r.diff > 0 else "lower") if shown else "not demonstrated"
        assert verdict(r.diff, r.ci_low, r.ci_high, r.p_t_holm) == expected
        assert f"<td>{r.condition}</td><td>{r.diff:+.2f}" in section
        assert f"<td>{expected}</td></tr>" in section.split(f"<td>{r.condition}</td>", 1)[1].split("</tr>", 1)[0] + "</tr>"


def test_small_sample_caveats_stand_beside_their_claims(run_dir):
    """6 speakers per gender, min_group_speakers 7: every gap sentence carries its caveat,
    in the report and in summary.md; drops (12 speakers) carry none."""
    page = (run_dir / "report.html").read_text()
    section = page[page.index("<section id='summary'>"): page.index("</section>", page.index("<section id='summary'>"))]
    gaps = section[section.index("Largest fairness gaps (UA"):]
    gaps = gaps[: gaps.index("</ul>")]
    items = re.findall(r"<li>(.*?)</li>", gaps)
    assert items and all("<span class='caveat'>Few speakers: 6 in the smaller group (fewer than 7)" in i
                         for i in items)
    drops = section[section.index("Largest robustness drops (UA)"):]
    assert "caveat" not in drops[: drops.index("</ul>")]
    md = (run_dir / "summary.md").read_text()
    assert md.count("*Few speakers: 6 in the smaller group (fewer than 7), so the interval is unreliable.*") >= len(items)
    assert "is not demonstrated" in md and "is not shown" not in md


def test_summary_sentences_in_report_and_markdown(run_dir):
    page = (run_dir / "report.html").read_text()
    md = (run_dir / "summary.md").read_text()
    section = page[page.index("<section id='summary'>"): page.index("</section>", page.index("<section id='summary'>"))]
    # noise lowers UA in the fixture: the largest drop is shown with interval and adjusted p
    drop = re.search(r"(base|prop): UA falls (\d+\.\d) points \[(\d+\.\d), (\d+\.\d)\] at 0 dB SNR "
                     r"\(adjusted p (&lt;|=) [0-9.]+\)", section)
    assert drop is not None, section
    assert float(drop.group(3)) <= float(drop.group(2)) <= float(drop.group(4))
    assert "Holm-adjusted over all" in section
    # 6 speakers per gender: gaps are not demonstrated and the power sentence says why
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
    section = dom[dom.index("<section id=\"summary\">"): dom.index("</section>", dom.index("<section id=\"summary\">"))]
    body = dom[dom.index("<body>"):]
    assert body.index("<section id=\"summary\">") < body.index("Figures by model") < body.index("Table 15")
    assert re.search(r"UA falls \d+\.\d points \[\d+\.\d, \d+\.\d\] at 0 dB SNR \(adjusted p", section)
    assert "one test detects gaps above" in section and "Holm-adjusted" in section


_MEASURE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const drift = imgs.filter(i => i.classList.contains('drift') && i.alt.startsWith('drift_'));
  const head = imgs[0];
  const out = {width: window.innerWidth, scroll: document.documentElement.scrollWidth,
               first: head ? head.alt : null, headTop: head ? head.getBoundingClientRect().top : null,
               headScale: head ? head.clientWidth / head.naturalWidth : null,
               drift: drift.map(i => i.clientWidth / i.naturalWidth), driftPx: drift.map(i => i.naturalWidth)};
  parent.postMessage(JSON.stringify(out), '*');
});
</script>"""
# The report in a frame of the width under test (headless Chromium's window is at least 500 px
# wide); the frame posts its measurement up, where --dump-dom sees it.
_FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="report.html" style="width:{width}px;height:900px;border:0"></iframe>
<script>window.addEventListener('message', e => {{
  const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = e.data;
  document.body.appendChild(pre); }});</script></body></html>"""


@pytest.mark.chromium
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed")
@pytest.mark.parametrize("width", [1400, 390])
def test_report_is_legible_on_a_wide_screen_and_a_phone(run_dir, tmp_path, width):
    """Rendered at 1400 px and at a phone's 390 px: the page never scrolls sideways, the
    headline figure opens it, and every confusion-drift matrix is shown at (nearly) its own size,
    so its cell numbers stay as large as they were drawn (9 pt at 100 dpi). A measuring script
    is added to a copy of the report (the report itself has no script)."""
    import json as _json

    page = (run_dir / "report.html").read_text()
    (tmp_path / "report.html").write_text(page.replace("</body>", _MEASURE + "</body>"))
    frame = tmp_path / "frame.html"
    frame.write_text(_FRAME.format(width=width))
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
           f"--window-size={max(width, 500) + 40},1000", "--virtual-time-budget=5000", "--dump-dom",
           frame.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout
    found = re.search(r"<pre id=\"measure\">(.*?)</pre>", dom, re.S)
    assert found, "chromium ran no measurement"
    m = _json.loads(found[1].replace("&quot;", '"'))
    assert m["width"] == width
    assert m["scroll"] <= m["width"], "the page scrolls sideways"
    assert m["first"] == "headline_ua" and m["headTop"] < 200
    assert len(m["drift"]) == 4 and min(m["drift"]) >= 0.95, m["drift"]  # 2 models x 2 conditions
    assert min(m["driftPx"]) <= width  # the matrices were drawn small enough to fit a phone
    if width >= 1000:
        assert m["headScale"] == 1.0


@pytest.mark.chromium
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed")
def test_report_screenshot_at_a_phone_width(run_dir, tmp_path):
    from PIL import Image

    shot = tmp_path / "phone.png"
    shutil.copyfile(run_dir / "report.html", tmp_path / "report.html")
    frame = tmp_path / "frame.html"
    frame.write_text(_FRAME.format(width=390).replace("height:900px", "height:1600px"))
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={shot}", "--window-size=500,1600", frame.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)[:, :390]  # the phone's frame
    assert px.shape[:2] == (1600, 390)
    assert (px.sum(axis=2) < 740).mean() > 0.05, "page looks blank"
    blue = (np.abs(px - np.array([0x2F, 0x6D, 0xB5])).sum(axis=2) < 30).sum()
    assert blue > 200  # the heading rule and the headline figure's first model


def test_headline_order_and_an_interval_beside_its_estimate(tmp_path):
    """Conditions from clean to the harshest of each kind; a bootstrap interval that lies beside
    its estimate (it can, for small samples) is drawn, not refused (it failed before)."""
    import pandas as pd

    from audit.report.headline_plot import condition_order, plot_headline

    conds = ["reverb:rt60_s=0.5", "awgn:snr_db=0", "clean", "mp3:bitrate_kbps=64", "awgn:snr_db=20",
             "reverb:rt60_s=0.3", "telephone"]
    assert condition_order(conds) == ["clean", "awgn:snr_db=20", "awgn:snr_db=0", "mp3:bitrate_kbps=64",
                                      "reverb:rt60_s=0.3", "reverb:rt60_s=0.5", "telephone"]
    rows = pd.DataFrame([dict(scenario="s", model=m, fold="mean", condition=c, group="all", metric="ua",
                              value=50.0, ci_low=52.0 if c == "clean" else 40.0, ci_high=60.0, n=10)
                         for m in ("a", "b") for c in ("clean", "awgn:snr_db=0")])
    path = plot_headline(rows, ["b", "a"], tmp_path, reference="b")
    assert path.name == "headline_ua.png" and path.stat().st_size > 1000
    assert plot_headline(rows.assign(metric="wa"), ["a"], tmp_path) is None
