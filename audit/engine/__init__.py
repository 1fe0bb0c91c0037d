"""The audit engine: stream a corpus through conditions and models, cache, write a run folder."""

from audit.engine.cache import MemoryCache, PredictionCache, audio_key, entry_key
from audit.engine.conditions import Renderer, condition_sources, parse_conditions
from audit.engine.mos import score_conditions, write_mos
from audit.engine.pipeline import RunOptions, RunResult, resolve_device, run_audit
from audit.engine.ray_executor import RayExecutor
from audit.engine.recalibrate import recalibrate_folder
from audit.engine.runner import evaluate, prediction_columns
from audit.engine.smile_training import train_smile
from audit.engine.tasks import ShardTask, TaskContext, TaskResult, plan_shard_tasks, run_shard_task

__all__ = [
    "MemoryCache",
    "PredictionCache",
    "RayExecutor",
    "Renderer",
    "RunOptions",
    "RunResult",
    "ShardTask",
    "TaskContext",
    "TaskResult",
    "audio_key",
    "condition_sources",
    "entry_key",
    "evaluate",
    "parse_conditions",
    "plan_shard_tasks",
    "prediction_columns",
    "recalibrate_folder",
    "resolve_device",
    "run_audit",
    "run_shard_task",
    "score_conditions",
    "train_smile",
    "write_mos",
]
