"""Hostile files: zip bombs and archives with links or devices (refused before anything is
written), checkpoint sidecars with absurd or hostile values (one clear error, no allocation
blow-up), HTML/JS in manifest values (inert in report.html, checked in Chromium) and
spreadsheet-formula prefixes in CSV text fields (kept verbatim, documented)."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _reliability_helpers import FAST, cli, save_untrained

from audit.data._extract import MAX_RATIO, safe_extract
from audit.errors import AuditError


# --- archives ------------------------------------------------------------------------------

def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def test_zip_bomb_is_refused_before_extraction(tmp_path):
    # 64 MiB of zeros deflate to ~64 KiB: a 1000-fold expansion
    bomb = _zip(tmp_path / "bomb.zip", [("Actor_01/ok.txt", b"fine"),
                                        ("Actor_01/zeros.wav", bytes(64 * 2**20))])
    assert bomb.stat().st_size < 2**20
    dest = tmp_path / "out"
    with pytest.raises(AuditError, match=rf"zeros.wav' would expand \d+-fold \(limit {MAX_RATIO}"):
        safe_extract(bomb, dest)
    assert not dest.exists()


def test_archive_past_the_total_limit_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    members = [(f"Actor_01/{i}.bin", rng.bytes(4096)) for i in range(8)]  # incompressible
    archive = _zip(tmp_path / "big.zip", members)
    with pytest.raises(AuditError, match=r"would expand to 32768 bytes \(limit 30000\)"):
        safe_extract(archive, tmp_path / "out", max_bytes=30_000)
    assert not (tmp_path / "out").exists()
    assert len(safe_extract(archive, tmp_path / "out", max_bytes=40_000)) == 8


@pytest.mark.parametrize("kind, mode, why", [
    ("symlink", stat.S_IFLNK | 0o777, "symbolic link"),
    ("char device", stat.S_IFCHR | 0o666, "special file"),
    ("block device", stat.S_IFBLK | 0o666, "special file"),
    ("fifo", stat.S_IFIFO | 0o666, "special file"),
])
def test_links_and_devices_are_refused_before_extraction(tmp_path, kind, mode, why):
    info = zipfile.ZipInfo("Actor_01/entry")
    info.external_attr = mode << 16
    archive = _zip(tmp_path / "a.zip", [("Actor_01/first.txt", b"written first?"),
                                        (info, b"/dev/sda" if kind != "symlink" else b"/etc/passwd")])
    with pytest.raises(AuditError, match=f"refusing to extract member 'Actor_01/entry' \\({why}\\)"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # not even the harmless member before it


# --- checkpoint sidecars -------------------------------------------------------------------

def _hostile(doc: dict, case: str) -> dict:
    doc = json.loads(json.dumps(doc))
    if case == "huge hidden":
        doc["model_config"]["hidden"] = 2**28
    elif case == "huge heads":
        doc["model_config"]["n_heads"] = 10**6
    elif case == "huge n_fft":
        doc["feature_config"]["n_fft"] = 2**30
        doc["feature_config"]["win_length"] = 2**30
    elif case == "huge segment":
        doc["feature_config"]["segment_frames"] = 10**12
    elif case == "string n_mfcc":
        doc["feature_config"]["n_mfcc"] = "13"
    elif case == "classes string":
        doc["classes"] = "angry,happy,neutral,sad"
    elif case == "classes numbers":
        doc["classes"] = [1, 2, 3, 4]
    elif case == "duplicate classes":
        doc["classes"] = ["angry", "angry", "sad", "sad"]
    elif case == "weights path up":
        doc["weights_file"] = "../../../etc/passwd.safetensors"
    elif case == "weights absolute":
        doc["weights_file"] = "/etc/passwd"
    elif case == "weights nul":
        doc["weights_file"] = "a\x00.safetensors"
    elif case == "fold string":
        doc["fold"] = "0; rm -rf /"
    elif case == "speakers dict":
        doc["train_speakers"] = {"a": 1}
    elif case == "stats wrong length":
        doc["feature_stats"] = {"mean": [0.0] * 5, "std": [1.0] * 5}
    elif case == "stats nan":
        doc["feature_stats"] = {"mean": [float("nan")] * 39, "std": [1.0] * 39}
    elif case == "model_config list":
        doc["model_config"] = [1, 2, 3]
    elif case == "unknown model key":
        doc["model_config"]["exec"] = "import os"
    return doc


HOSTILE = ["huge hidden", "huge heads", "huge n_fft", "huge segment", "string n_mfcc",
           "classes string", "classes numbers", "duplicate classes", "weights path up",
           "weights absolute", "weights nul", "fold string", "speakers dict",
           "stats wrong length", "stats nan", "model_config list", "unknown model key"]


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    return save_untrained(tmp_path_factory.mktemp("good") / "fold0", fold=0, seed=1)


def _load_under_memory_cap(sidecar: str, queue) -> None:
    """Child: cap the address space at 1.5 GiB above now, then load; report the outcome."""
    import resource

    from model import ModelError
    from model.predict import load_checkpoint

    vm = int(re.search(r"VmSize:\s+(\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 3 * 2**29, resource.RLIM_INFINITY))
    try:
        load_checkpoint(sidecar)
        queue.put(("loaded", ""))
    except ModelError as exc:
        queue.put(("ModelError", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - the outcome is what the test checks
        queue.put((type(exc).__name__, str(exc)[:300]))


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_sidecar_is_one_clear_error_without_blow_up(tmp_path, good_checkpoint, case):
    for ext in (".safetensors", ".json"):
        shutil.copy(good_checkpoint.with_suffix(ext), tmp_path / f"fold0{ext}")
    sidecar = tmp_path / "fold0.json"
    sidecar.write_text(json.dumps(_hostile(json.loads(sidecar.read_text()), case)))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_load_under_memory_cap, args=(str(sidecar), queue))
    child.start()
    child.join(timeout=120)
    kind, message = queue.get(timeout=5)
    assert kind == "ModelError", (kind, message)
    assert str(sidecar) in message or "fold0.safetensors" in message, message
    assert "\n" not in message and len(message) < 400


def test_hostile_sidecar_through_the_cli_is_one_line(tmp_path, capsys, good_checkpoint, corpus):
    for ext in (".safetensors", ".json"):
        shutil.copy(good_checkpoint.with_suffix(ext), tmp_path / f"fold0{ext}")
    sidecar = tmp_path / "fold0.json"
    sidecar.write_text(json.dumps(_hostile(json.loads(sidecar.read_text()), "weights path up")))
    code, _, err = cli(capsys, "run", "noise", "--snr", "0", "--data", str(corpus), "--models",
                       str(sidecar), "--out", str(tmp_path / "r"), *FAST)
    assert code == 2 and "weights_file" in err and len(err.strip().splitlines()) == 1, err


# --- HTML/JS in manifest values ----------------------------------------------------------

PAYLOADS = {
    "script": "<script>document.title='PWNED'</script>",
    "img": "\"><img src=x onerror=\"document.body.insertAdjacentHTML('beforeend','<p id=pwned>')\">",
    "svg": "<svg/onload=document.title='PWNED2'>",
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, manifest, fold_models):
    """An audit whose speaker ids, utterance ids, group values, file names and model name all
    carry HTML/JS payloads; the run folder."""
    root = tmp_path_factory.mktemp("hostile")
    rows = []
    payloads = list(PAYLOADS.values())
    for i, r in enumerate(manifest.to_dict("records")):
        p = payloads[i % len(payloads)]
        wav = root / f"{i}{p.replace('/', '_')[:40]}.wav"
        shutil.copy(r["path"], wav)
        rows.append({**r, "path": str(wav), "utt_id": f"{p}{i}", "accent": p + r["gender"],
                     "speaker": f"{r['speaker']}{p}"})
    bad = root / "<script>document.title='PWNED4'<_script><img src=x onerror=document.title='PWNED5'>.wav"
    bad.write_bytes(b"not audio")  # becomes a problems.csv row naming the file
    rows.append({**rows[0], "utt_id": "<b>bad</b>", "path": str(bad)})
    csv = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    spec = root / "spec.toml"
    spec.write_text('name = "hostile"\nconditions = ["awgn:snr_db=0"]\ngroups = ["gender", "accent"]\n'
                    'min_group_speakers = 3\n')
    # training speakers carry the payload too, so the leak check sees consistent ids
    models = root / "models" / "m<img src=x onerror=document.title='PWNED3'>"
    for k in (0, 1):
        doc = json.loads((fold_models / f"fold{k}.json").read_text())
        doc["train_speakers"] = [s + p for s in doc["train_speakers"] for p in payloads]
        models.mkdir(parents=True, exist_ok=True)
        shutil.copy(fold_models / f"fold{k}.safetensors", models / f"fold{k}.safetensors")
        (models / f"fold{k}.json").write_text(json.dumps(doc))
    from audit.cli import main

    out = root / "run"
    with pytest.raises(SystemExit) as done:
        main(["run", str(spec), "--data", str(csv), "--models", str(models), "--out", str(out), *FAST])
    assert done.value.code == 0
    return out


def _tags(page: str) -> list[tuple[str, dict]]:
    from html.parser import HTMLParser

    found: list[tuple[str, dict]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collect().feed(page)
    return found


def test_payloads_are_escaped_in_report_html(hostile_run):
    page = (hostile_run / "report.html").read_text()
    for text in ("&lt;script&gt;document.title", "&lt;svg/onload", "onerror=&quot;document.body",
                 "m&lt;img src=x onerror=document.title=&#x27;PWNED3&#x27;&gt;"):
        assert text in page, text  # each payload is on the page, as text
    tags = _tags(page)
    # (the report's own layout may grow; these tags and attributes would be the payloads')
    active = {"script", "svg", "iframe", "object", "embed", "link", "base", "form", "math", "frame"}
    assert not [t for t, _ in tags if t in active]
    assert not [a for _, attrs in tags for a in attrs if a.lower().startswith("on")]
    assert not [v for _, attrs in tags for v in attrs.values() if "javascript:" in (v or "").lower()]
    assert all(attrs["src"].startswith("data:image/png;base64,") for t, attrs in tags if t == "img")
    problems = pd.read_csv(hostile_run / "problems.csv", keep_default_na=False)
    assert problems["path"].str.contains("<script>document.title='PWNED4'", regex=False).any()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.chromium
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed")
def test_payloads_do_not_execute_in_chromium(hostile_run, tmp_path):
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
           (hostile_run / "report.html").as_uri()]
    try:
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False).stdout
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish rendering report.html (a payload blocking the page?)")
    assert "<h1>SER audit report: hostile</h1>" in dom, dom[:500]  # the page did render
    title = re.search(r"<title>(.*?)</title>", dom, re.S)[1]
    assert title == "SER audit report: hostile"  # no payload rewrote it
    assert 'id="pwned"' not in dom and "PWNED" not in title
    assert "&lt;script&gt;document.title" in dom  # the payload is on the page, inert text


# --- spreadsheet formulas in CSV text fields -----------------------------------------------

def test_formula_prefixes_are_kept_verbatim_in_csvs(tmp_path, capsys, manifest, fold_models):
    """Documented behaviour (docs/reliability.md): CSV cells are data, never rewritten; text
    starting with = + - @ reaches predictions.csv unchanged, for tools that read CSV as data."""
    formulas = ["=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
    df = manifest.copy()
    df["speaker"] = [formulas[i % 4] + s for i, s in enumerate(df["speaker"])]
    csv = tmp_path / "m.csv"
    df.to_csv(csv, index=False)
    models = tmp_path / "models"
    models.mkdir()
    for k in (0, 1):
        doc = json.loads((fold_models / f"fold{k}.json").read_text())
        doc["train_speakers"] = sorted(df.loc[df["fold"] != k, "speaker"].unique())
        shutil.copy(fold_models / f"fold{k}.safetensors", models / f"fold{k}.safetensors")
        (models / f"fold{k}.json").write_text(json.dumps(doc))
    code, _, err = cli(capsys, "run", "noise", "--snr", "0", "--data", str(csv), "--models",
                       str(models), "--out", str(tmp_path / "r"), *FAST, "--no-report", "--no-cache")
    assert code == 0, err
    preds = pd.read_csv(tmp_path / "r" / "predictions.csv", keep_default_na=False, dtype=str)
    assert set(preds["speaker"]) == set(df["speaker"])


# --- code-running model sources are named as such ------------------------------------------

@pytest.mark.parametrize("command", ["run", "fairness"])
def test_help_says_which_model_sources_run_code(capsys, command):
    code, out, _ = cli(capsys, command, "--help")
    text = " ".join(out.split())
    assert code == 0 and ("pkg.module:fn entry point, a TorchScript file and a speechbrain:DIR "
                          "hyperparams.yaml RUN THEIR CODE") in text
    assert "safetensors (data only, the default format)" in text
