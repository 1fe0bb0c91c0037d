"""How far two prediction tables (``predictions.csv`` of two audits) are apart: used by
``gpu_agreement.py`` (GPU against CPU) and ``precision.py`` (bf16 against fp32)."""

from __future__ import annotations

KEYS = ("model", "fold", "condition", "utt_id")


def agreement(a, b, names: tuple[str, str] = ("a", "b")) -> dict:
    """Agreement over the (model, fold, condition, utterance) rows both tables hold.

    ``same_prediction``: share of rows with the same predicted class; ``max_abs_prob_diff`` /
    ``mean_abs_prob_diff``: over every class probability of those rows (None without rows), per
    model and overall; ``only_<name>``: rows one table lacks (a run that skipped a file shows
    here, not as agreement). Tables with other class columns are refused (ValueError)."""
    probs = sorted(c for c in a.columns if c.startswith("p_"))
    if probs != sorted(c for c in b.columns if c.startswith("p_")):
        raise ValueError("the two prediction tables have different class columns")
    sa, sb = (f"_{n}" for n in names)
    both = a.merge(b, on=list(KEYS), suffixes=(sa, sb))

    def figures(d) -> dict:
        if not len(d):
            return {"rows": 0, "same_prediction": None, "max_abs_prob_diff": None, "mean_abs_prob_diff": None}
        diff = abs(d[[p + sa for p in probs]].to_numpy() - d[[p + sb for p in probs]].to_numpy())
        return {"rows": int(len(d)),
                "same_prediction": round(float((d["prediction" + sa] == d["prediction" + sb]).mean()), 6),
                "max_abs_prob_diff": float(diff.max()), "mean_abs_prob_diff": float(diff.mean())}

    return {"overall": figures(both), f"only_{names[0]}": int(len(a) - len(both)),
            f"only_{names[1]}": int(len(b) - len(both)),
            "per_model": {str(m): figures(d) for m, d in both.groupby("model", sort=True)}}

