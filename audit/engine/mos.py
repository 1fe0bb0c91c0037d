"""Perceived quality per condition: DNSMOS (P.835) on a seeded sample of rendered utterances.

``audit run --mos`` renders every condition for a sample of utterances exactly as the audit did
(same per-utterance generators, so the same audio the models heard, at 16 kHz) and scores it with
DNSMOS (Reddy et al., ICASSP 2022; the ONNX models the ``speechmos`` package ships, MIT, run on
one thread so scores are identical on every run). The sample goes round the speakers in turn
(sorted), each speaker's utterances in a seeded order, so every speaker is in it when ``n`` is at
least the number of speakers. Scores: OVRL, SIG, BAK (1-5) and P.808 MOS; a waveform outside
[-1, 1] (noise at 0 dB can reach it) is clipped for scoring only, and counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditError

__all__ = ["mos_sample", "DNSMOS", "score_conditions", "mos_record", "write_mos", "MOS_COLUMNS"]

MOS_COLUMNS = ("mos_ovrl", "mos_sig", "mos_bak", "mos_p808")


def mos_sample(manifest: pd.DataFrame, n: int, seed: int) -> list[str]:
    """``n`` utterance ids, round-robin over the sorted speakers, each in a seeded order."""
    from perturbations import derive_rng

    by_speaker = {}
    for spk, rows in manifest.groupby(manifest["speaker"].astype(str), sort=True):
        ids = sorted(rows["utt_id"].astype(str))
        order = derive_rng(seed, f"mos-sample|{spk}", "mos").permutation(len(ids))
        by_speaker[spk] = [ids[i] for i in order]
    picked, depth = [], 0
    while len(picked) < min(n, len(manifest)):
        for spk in by_speaker:
            if depth < len(by_speaker[spk]) and len(picked) < n:
                picked.append(by_speaker[spk][depth])
        depth += 1
    return picked


class DNSMOS:
    """DNSMOS P.835 + P.808 on 16 kHz audio: ``score(waveform (time,)) -> dict``."""

    def __init__(self) -> None:
        try:
            import onnxruntime as ort
            from speechmos import dnsmos
        except ImportError:
            raise AuditError("--mos needs speechmos (DNSMOS models), librosa and onnxruntime: "
                             "pip install 'ser-audit[mos]'") from None
        import speechmos

        folder = os.path.join(os.path.dirname(speechmos.__file__), "dnsmos_models")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # same floats on every run
        scorer = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)  # its scoring code, our sessions
        scorer.primary_model_path = os.path.join(folder, "sig_bak_ovr.onnx")
        scorer.onnx_sess = ort.InferenceSession(scorer.primary_model_path, opts,
                                                providers=["CPUExecutionProvider"])
        scorer.p808_onnx_sess = ort.InferenceSession(os.path.join(folder, "model_v8.onnx"), opts,
                                                     providers=["CPUExecutionProvider"])
        self._scorer = scorer
        self.version = getattr(speechmos, "__version__", None) or _version("speechmos")

    def score(self, waveform: np.ndarray) -> dict[str, float]:
        """Scores of one (time,) waveform at 16 kHz, plus ``clipped`` (samples outside +-1)."""
        x = np.asarray(waveform, dtype=np.float32)
        clipped = int(np.count_nonzero(np.abs(x) > 1.0))
        r = self._scorer(np.clip(x, -1.0, 1.0), 16000, False)
        return {"mos_ovrl": float(r["ovrl_mos"]), "mos_sig": float(r["sig_mos"]),
                "mos_bak": float(r["bak_mos"]), "mos_p808": float(r["p808_mos"]), "clipped": clipped}


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def score_conditions(manifest: pd.DataFrame, conditions: Sequence[str], *, seed: int, n: int,
                     workers: int = 1, device: str = "cpu", problems: Any = None) -> pd.DataFrame:
    """DNSMOS of every condition on ``mos_sample(manifest, n, seed)``: one row per (condition,
    utterance) with ``speaker, gender, emotion``, the MOS columns and ``clipped``."""
    from audit.data import load_audio
    from audit.engine.conditions import RenderItem, Renderer, parse_conditions

    scorer = DNSMOS()
    conds = parse_conditions(conditions)
    for _, pert in conds:
        pert.bind_corpus(manifest)
    ids = set(mos_sample(manifest, n, seed))
    rows = manifest[manifest["utt_id"].astype(str).isin(ids)].sort_values("utt_id", kind="stable")
    items = []
    for r in rows.itertuples(index=False):
        try:
            wav, sr = load_audio(r.path)
        except AuditError as exc:
            if problems is not None:
                problems.add("mos", str(exc), utt_id=str(r.utt_id), path=str(r.path))
            continue
        items.append((r, RenderItem(str(r.utt_id), wav, sr, {"utt_id": str(r.utt_id),
                                                             "speaker": str(r.speaker)})))
    out = []
    with Renderer(seed, workers=workers, device=device) as renderer:
        for cond, pert in conds:
            rendered = renderer.render(pert, cond, [it for _, it in items])
            for (r, _), done in zip(items, rendered, strict=True):
                if done.error:  # recorded by the evaluation already (problems.csv)
                    continue
                out.append({"condition": cond, "utt_id": str(r.utt_id), "speaker": str(r.speaker),
                            "gender": str(r.gender), "emotion": str(r.emotion),
                            **scorer.score(done.waveform)})
    return pd.DataFrame(out, columns=["condition", "utt_id", "speaker", "gender", "emotion",
                                      *MOS_COLUMNS, "clipped"])


def mos_record(scores: pd.DataFrame, n: int) -> dict[str, Any]:
    """What run.json says about the MOS pass: the scorer, the sample, clipping."""
    return {"scorer": f"DNSMOS P.835 + P.808 (speechmos {_version('speechmos')}, one thread)",
            "n_requested": int(n), "n_utterances": int(scores["utt_id"].nunique()),
            "n_speakers": int(scores["speaker"].nunique()),
            "clipped_items": int((scores["clipped"] > 0).sum())}


def write_mos(out: Any, manifest: pd.DataFrame, conditions: Sequence[str], metrics: pd.DataFrame, *,
              n: int, seed: int, workers: int = 1, device: str = "cpu",
              problems: Any = None) -> tuple[list[Any], dict[str, Any]]:
    """Score, then write mos.csv, table_mos.csv/.md and plots/accuracy_vs_mos.png into ``out``:
    ``(paths, run.json record)``."""
    from audit.report.quality import write_mos_outputs

    scores = score_conditions(manifest, conditions, seed=seed, n=n, workers=workers, device=device,
                              problems=problems)
    return write_mos_outputs(out, metrics, scores), mos_record(scores, n)
