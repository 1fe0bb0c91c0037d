"""Peak memory of ``audit run`` against corpus size, file length and sample rate.

Usage::

    nice python benchmarks/memory.py                      # all three experiments
    nice python benchmarks/memory.py --only scale         # 1x, 4x, 16x a synthetic corpus
    nice python benchmarks/memory.py --only long          # + one 4-minute / 2-hour recording
    nice python benchmarks/memory.py --only odd           # 2,000 files at 24,414 Hz

Every audit runs in a fresh process under ``/usr/bin/time -v`` (its "Maximum resident set
size" is the figure) with ``--workers 1``, so the one process holds all the work (pool
workers would be other processes with their own torch). The model is one untrained, seeded
``macnn`` checkpoint (inference cost and memory do not depend on the weights); ``--no-cache``.
``--model w2v2-base`` audits a seeded, randomly initialised wav2vec 2.0 base classifier
instead (an ``hf:`` folder written with transformers, 94.6 M parameters: the size of the SSL
encoders users bring; its utterances are scored one at a time in 10-second windows, two
windows a forward pass); ``--model w2v2-large`` one of the large layout (24 layers of 1,024,
the layer-norm-first encoder of the LV-60 checkpoints, 315.7 M parameters).

- **scale**: the synthetic corpus of ``audit data synth --per-emotion 3`` (8 speakers, 96
  utterances of 2.5-4.5 s at 16 kHz) and the same generator at 4x and 16x the utterances per
  emotion; clean + ``--conditions`` (default AWGN 10 dB).
- **long**: the 1x corpus plus one recording of ``--long-minutes`` (default 4 and 120) made of
  the corpus's own utterances end to end (16 kHz, 16-bit WAV); clean + ``--long-conditions``
  (default AWGN 10 dB; give the option with no value for clean only).
- **odd**: ``--odd-files`` (default 2,000) synthetic files at 24,414 Hz; clean +
  ``--odd-conditions`` (default AWGN 10 dB and MP3 128 kbps, which runs the codec at 32 kHz:
  24,414 -> 32,000 -> 24,414 -> 16,000 Hz).

Prints one JSON line per run and a Markdown table at the end; ``--rss-every S`` adds the
resident memory sampled every S seconds to each JSON line (how memory moves through a run).

``--jobs N`` runs each audit with ``audit run --jobs N`` (default 1). With N > 1, N forked
processes evaluate batches beside the driver, and ``/usr/bin/time`` reports only the largest
single process, so the whole process tree is sampled every ``--tree-every`` seconds (default 2;
give it with ``--jobs 1`` too, to compare like with like): the peak of its summed proportional
set size (``Pss`` of ``/proc/PID/smaps_rollup``: pages shared between the driver and its forked
jobs counted once in all) and of its summed resident sizes (shared pages counted in every
process, an upper bound).

Say the machine and its load (``uptime``) with the figures: memory does not depend on load,
times do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_REPO))


def _model(dest: Path, classes: list[str], kind: str = "macnn") -> str:
    """One untrained, seeded model that evaluates every utterance: the ``macnn`` checkpoint, or
    (``kind="w2v2-base"`` / ``"w2v2-large"``) a ``save_pretrained`` folder of a wav2vec 2.0
    classifier as ``hf:`` (:data:`_W2V2`)."""
    import torch

    if kind in _W2V2:
        return "hf:" + str(_w2v2(dest / kind.replace("-", "_"), classes, kind))

    from model import FeatureConfig, create_model
    from model.checkpoint import save_checkpoint

    stem = dest / "macnn"
    if not stem.with_suffix(".json").exists():
        torch.manual_seed(1000)
        save_checkpoint(stem, create_model("macnn", len(classes)).eval(),
                        {"name": "macnn", "classes": classes, "fold": None,
                         "feature_config": FeatureConfig().to_dict(), "train_speakers": [],
                         "note": "untrained, seeded: for memory and timing only"})
    return str(stem.with_suffix(".json"))


# Wav2Vec2Config settings per size beside transformers' defaults (the base layout: 12 layers of
# 768, group-norm feature encoder, 94.6 M parameters); large: the LV-60 checkpoints' layout.
_W2V2 = {
    "w2v2-base": {},
    "w2v2-large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                   "intermediate_size": 4096, "feat_extract_norm": "layer", "do_stable_layer_norm": True,
                   "conv_bias": True},
}


def _w2v2(folder: Path, classes: list[str], kind: str = "w2v2-base") -> Path:
    """A randomly initialised (seeded) wav2vec 2.0 audio classifier of the size ``kind`` names,
    written once: the size of the SSL encoders users audit (its memory and cost do not depend
    on the weights; nothing is downloaded)."""
    if (folder / "model.safetensors").is_file() or any(folder.glob("model*.safetensors.index.json")):
        return folder
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(1000)
    config = Wav2Vec2Config(num_labels=len(classes), id2label=dict(enumerate(classes)),
                            label2id={c: i for i, c in enumerate(classes)}, **_W2V2[kind])
    Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)
    return folder


def _synth(dest: Path, per_emotion: int, sample_rate: int = 16000, n_speakers: int = 8) -> Path:
    from audit.data import write_synthetic_corpus

    if (dest / "manifest.csv").exists():
        return dest / "manifest.csv"
    return write_synthetic_corpus(dest, seed=0, n_speakers=n_speakers,
                                  utterances_per_emotion=per_emotion, sample_rate=sample_rate)


def _with_long(base: Path, dest: Path, minutes: float) -> Path:
    """``base``'s manifest plus one ``minutes``-long recording of its utterances end to end,
    written block by block (this script never holds the recording)."""
    import numpy as np
    import pandas as pd
    import soundfile as sf

    manifest = pd.read_csv(base)
    dest.mkdir(parents=True, exist_ok=True)
    wav = dest / f"long_{minutes:g}min.wav"
    if not wav.exists():
        pieces = [sf.read(str(base.parent / p) if not Path(p).is_absolute() else p,
                          dtype="int16")[0] for p in manifest["path"]]
        need = int(minutes * 60 * 16000)
        with sf.SoundFile(str(wav), "w", samplerate=16000, channels=1, subtype="PCM_16") as fh:
            i = 0
            while need > 0:
                block = pieces[i % len(pieces)][:need]
                fh.write(block)
                need -= block.size
                i += 1
    row = manifest.iloc[0].to_dict()
    row.update(utt_id="zz_long", path=str(wav.resolve()), duration_s=minutes * 60.0)
    manifest["path"] = [str((base.parent / p).resolve()) for p in manifest["path"]]
    out = dest / f"manifest_long_{minutes:g}min.csv"
    pd.concat([manifest, pd.DataFrame([row])], ignore_index=True).to_csv(out, index=False)
    return out


def _run(tag: str, manifest: Path, model: str, work: Path, conditions: list[str],
         every_s: float = 0.0, jobs: int = 1, tree_every_s: float = 0.0) -> dict:
    out = work / "runs" / tag
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "audit", "run", "--data", str(manifest),
           "--models", model, "--out", str(out), "--no-cache", "--workers", "1",
           "--device", "cpu", "--n-boot", "10", "--no-report", "--seed", "1", "--jobs", str(jobs)]
    for c in conditions:
        cmd += ["--condition", c]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a full pipe would stall the audit
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, cwd=_REPO)
        if tree_every_s:
            series, tree = [], _sample_tree(proc, tree_every_s)
        else:
            series, tree = (_sample_rss(proc, every_s) if every_s else []), []
        proc.wait()
        err.seek(0)
        stderr = err.read()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{tag}: audit failed\n{stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    info = json.loads((out / "run.json").read_text())
    row = {"run": tag, "model": Path(model.removeprefix("hf:")).stem, "utterances": info["data"]["n_utterances"], "conditions": ["clean", *conditions],
           "jobs": jobs, "peak_rss_mib": round(peak_kb / 1024, 1), "wall_s": round(wall, 1),
           "evaluate_s": info["timings_s"]["evaluate"], "load_avg_1min": os.getloadavg()[0]}
    if tree:
        row.update(tree_every_s=tree_every_s, samples=len(tree),
                   peak_pss_sum_mib=round(max(t[0] for t in tree) / 1024, 1),
                   peak_rss_sum_mib=round(max(t[1] for t in tree) / 1024, 1),
                   max_processes=max(t[2] for t in tree))
    if series:
        row["rss_mib_every_s"] = every_s
        row["rss_mib"] = series
    print(json.dumps(row), flush=True)
    return row


def _sample_rss(proc: subprocess.Popen, every_s: float) -> list[int]:
    """The audit's resident memory (MiB; ``/proc``'s VmRSS of the Python process that
    ``/usr/bin/time`` runs) every ``every_s`` seconds until it exits."""
    series = []
    while proc.poll() is None:
        try:
            child = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            status = Path(f"/proc/{child[0]}/status").read_text() if child else ""
            rss = re.search(r"VmRSS:\s+(\d+) kB", status)
            if rss:
                series.append(int(rss.group(1)) // 1024)
        except OSError:
            pass
        _wait(proc, every_s)
    return series


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (parents read from ``/proc/PID/stat``)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat[stat.rindex(")") + 2:].split()[1])  # field 4, after "comm"
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += [c for c, p in parent.items() if p == pid]
    return found


def _tree_memory(root: int) -> tuple[int, int, int] | None:
    """``(summed Pss kB, summed Rss kB, processes)`` of ``root``'s process tree, or None when
    none of it could be read (it has exited)."""
    pss = rss = n = 0
    for pid in _descendants(root):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        p = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        r = re.search(r"^Rss:\s+(\d+) kB", text, re.M)
        if p and r:
            pss, rss, n = pss + int(p.group(1)), rss + int(r.group(1)), n + 1
    return (pss, rss, n) if n else None


def _sample_tree(proc: subprocess.Popen, every_s: float) -> list[tuple[int, int, int]]:
    """:func:`_tree_memory` of ``proc``'s tree every ``every_s`` seconds until it exits."""
    series = []
    while proc.poll() is None:
        sample = _tree_memory(proc.pid)
        if sample:
            series.append(sample)
        _wait(proc, every_s)
    return series


def _wait(proc: subprocess.Popen, seconds: float) -> None:
    """Sleep ``seconds`` or until ``proc`` exits, whichever comes first (so that a run's wall
    time is not rounded up to the sampling interval)."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["scale", "long", "odd"], action="append")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--long-minutes", type=float, nargs="+", default=[4, 120])
    ap.add_argument("--odd-files", type=int, default=2000)
    # conditions beside clean, per experiment ("--long-conditions" alone: clean only)
    ap.add_argument("--conditions", nargs="*", default=["awgn:snr_db=10"], help="scale")
    ap.add_argument("--long-conditions", nargs="*", default=["awgn:snr_db=10"])
    ap.add_argument("--odd-conditions", nargs="*", default=["awgn:snr_db=10", "mp3:bitrate_kbps=128"])
    ap.add_argument("--rss-every", type=float, default=0.0, metavar="S",
                    help="also sample the audit's resident memory every S seconds (the JSON lines)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="audit run --jobs N; N > 1 also samples the process tree's summed memory")
    ap.add_argument("--tree-every", type=float, default=None, metavar="S",
                    help="seconds between samples of the process tree (default: 2 with --jobs N > 1, "
                         "else none)")
    ap.add_argument("--model", choices=["macnn", *_W2V2], default="macnn",
                    help="the audited model: the small untrained macnn (default), or a randomly "
                         "initialised wav2vec 2.0 classifier as an hf: folder (base 94.6 M parameters, "
                         "large 315.7 M)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder); kept")
    args = ap.parse_args()
    if args.tree_every is None:
        args.tree_every = 2.0 if args.jobs > 1 else 0.0
    if args.tree_every and args.rss_every:
        ap.error("--rss-every samples one process and --tree-every the process tree: give one")
    only = set(args.only or ["scale", "long", "odd"])
    work = Path(args.work or tempfile.mkdtemp(prefix="audit-mem-")).resolve()  # the audits run in the repo
    work.mkdir(parents=True, exist_ok=True)
    classes = ["angry", "happy", "neutral", "sad"]
    model = _model(work, classes, args.model)
    rows = []
    if "scale" in only or "long" in only:
        base = _synth(work / "synth_x1", 3)
    if "scale" in only:
        for k in args.scales:
            m = base if k == 1 else _synth(work / f"synth_x{k}", 3 * k)
            rows.append(_run(f"scale_x{k}", m, model, work, args.conditions, args.rss_every,
                             args.jobs, args.tree_every))
    if "long" in only:
        for minutes in args.long_minutes:
            rows.append(_run(f"long_{minutes:g}min", _with_long(base, work / "long", minutes),
                             model, work, args.long_conditions, args.rss_every, args.jobs,
                             args.tree_every))
    if "odd" in only:
        per_emotion = -(-args.odd_files // (8 * 4))
        m = _synth(work / "synth_24414", per_emotion, sample_rate=24414)
        rows.append(_run(f"odd_24414Hz_{per_emotion * 32}files", m, model, work, args.odd_conditions,
                         args.rss_every, args.jobs, args.tree_every))
    print(f"\n(work folder: {work}; {os.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.1f})")
    print("| run | utterances | conditions | jobs | peak RSS (MiB) | tree Pss / Rss (MiB) | evaluate (s) "
          "| load (1 min) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        tree = f"{r['peak_pss_sum_mib']:,.0f} / {r['peak_rss_sum_mib']:,.0f}" if "samples" in r else "-"
        print(f"| {r['run']} | {r['utterances']} | {len(r['conditions'])} | {r['jobs']} | "
              f"{r['peak_rss_mib']:,.0f} | {tree} | {r['evaluate_s']:.0f} | {r['load_avg_1min']:.1f} |")


if __name__ == "__main__":
    main()
