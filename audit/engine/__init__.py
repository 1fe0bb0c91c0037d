"""The audit engine: stream a corpus through conditions and models, cache, write a run folder."""

from audit.engine.cache import MemoryCache, PredictionCache, audio_key, entry_key
from audit.engine.conditions import Renderer, parse_conditions
from audit.engine.pipeline import RunOptions, RunResult, resolve_device, run_audit
from audit.engine.runner import evaluate, prediction_columns

__all__ = [
    "MemoryCache",
    "PredictionCache",
    "Renderer",
    "RunOptions",
    "RunResult",
    "audio_key",
    "entry_key",
    "evaluate",
    "parse_conditions",
    "prediction_columns",
    "resolve_device",
    "run_audit",
]
