"""How many of the segments an audit forwards are zero padding, before and after issue 32.

Every forward of one of our checkpoints sees exactly 32 segments (the last of a run of
segments is zero-padded, so a segment's output does not depend on its neighbours). Which runs
end in a padded forward depends on how the engine groups utterances: one call per (batch of
``--batch-size`` utterances, condition, model, fold) in ``utt_id`` order before; batches taken
fold by fold, and one stream per (batch, model, fold) shared by all conditions, after. This
counts, from each utterance's duration and the test stride (as ``benchmarks/audit.py`` counts
segments), the padded rows under both plans, for a paper audit (six conditions)::

    python benchmarks/padding.py --data ../shared/data/ravdess

Segment counts from durations ignore trimming (``trim_db``; none for the shipped models).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def padding(data: str, batch_size: int, conditions: int, segment_batch: int = 32) -> dict[str, float]:
    from audit.data import load_data
    from model.features import segment_starts

    manifest = load_data(data)
    frames = 1 + (manifest["duration_s"] * 16000).round().astype(int) // 160
    manifest = manifest.assign(segments=[len(segment_starts(int(n), 40)) for n in frames])

    def pad(n: int) -> int:
        return -n % segment_batch

    real = int(manifest["segments"].sum()) * conditions
    out = {"segments": real}
    plans = {"before": manifest.sort_values("utt_id", kind="stable"),
             "after": manifest.sort_values(["fold", "utt_id"], kind="stable")}
    for name, rows in plans.items():
        padded = 0
        for b in range(0, len(rows), batch_size):
            for _, group in rows.iloc[b:b + batch_size].groupby("fold"):
                n = int(group["segments"].sum())
                padded += conditions * pad(n) if name == "before" else pad(conditions * n)
        out[f"padded_{name}"] = padded
        out[f"padded_share_{name}"] = round(padded / (real + padded), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"))
    ap.add_argument("--batch-size", type=int, nargs="*", default=[64], help="audit run --batch-size")
    ap.add_argument("--conditions", type=int, default=6, help="conditions per utterance (paper: 6)")
    args = ap.parse_args()
    for bs in args.batch_size:
        print({"batch_size": bs, **padding(args.data, bs, args.conditions)})


if __name__ == "__main__":
    main()
