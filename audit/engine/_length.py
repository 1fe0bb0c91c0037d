"""Utterances too short for a model of the run, found from the file headers before any decoding.

A network has a shortest input (``min_samples`` of each predictor, at 16 kHz: 257 for the MFCC
front end, the receptive field of a wav2vec2 conv stack ...). Such an utterance gets one
``problems.csv`` row (stage ``predict``) naming the models that refuse it and is left out for
every model and condition of the run: the models are compared on the same utterances, and what
is evaluated does not depend on what the cache holds. Lengths are kept by every perturbation,
so the header's length, resampled, is exactly what the predictor would receive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from audit.errors import AuditError

__all__ = ["drop_too_short"]


def drop_too_short(rows: Sequence[Any], model_sets: Sequence[Any],
                   predictor: Callable[[Any, Any], tuple[Any, Any]], problems: Any) -> list[Any]:
    """``rows`` (manifest tuples with ``utt_id, path``) less those too short for a model.

    ``predictor(model_set, row) -> (predictor, fold)`` picks the model that scores ``row``;
    a predictor without ``min_samples`` has its feature config's (a seed ensemble shares its
    members'), and one with neither (a Python entry point) takes any length.
    """
    from audit.data import TARGET_SR, read_header, resampled_length

    minimum: dict[int, int] = {}
    kept = []
    for row in rows:
        needs = {}
        for ms in model_sets:
            pred = predictor(ms, row)[0]
            if id(pred) not in minimum:
                config = getattr(pred, "feature_config", None)
                minimum[id(pred)] = int(getattr(pred, "min_samples", getattr(config, "min_samples", 1)))
            if minimum[id(pred)] > 1:
                needs[ms.name] = minimum[id(pred)]
        try:
            header = read_header(row.path) if needs else None
        except AuditError:
            header = None  # the load stage records why the file cannot be read
        n = resampled_length(header.frames, header.sample_rate) if header else None
        refused = {name: m for name, m in needs.items() if n is not None and n < m}
        if not refused:
            kept.append(row)
            continue
        why = "; ".join(f"model {name} needs at least {m} ({1000 * m / TARGET_SR:.1f} ms)"
                        for name, m in sorted(refused.items()))
        problems.add("predict", f"{row.path}: too short: {n} samples at 16 kHz "
                                f"({1000 * n / TARGET_SR:.1f} ms); {why}; left out for every model",
                     utt_id=row.utt_id, path=str(row.path), model=",".join(sorted(refused)))
    return kept
