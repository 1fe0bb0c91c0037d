"""The evaluation core: stream a corpus through conditions and models, with a prediction cache.

Workflows that drive it (an audit run, cross-corpus planning, recalibration, seeds) live in
:mod:`audit.workflows`.
"""

from audit.engine._lifeline import exit_with_driver, process_ended
from audit.engine.cache import MemoryCache, PredictionCache, audio_key, entry_key
from audit.engine.conditions import Renderer, condition_sources, parse_conditions
from audit.engine.mos import score_conditions, write_mos
from audit.engine.ray_executor import RayExecutor
from audit.engine.runner import evaluate, prediction_columns
from audit.engine.smile_training import train_smile
from audit.engine.tasks import ShardTask, TaskContext, TaskResult, plan_shard_tasks, run_shard_task

__all__ = [
    "MemoryCache",
    "PredictionCache",
    "RayExecutor",
    "Renderer",
    "ShardTask",
    "TaskContext",
    "TaskResult",
    "audio_key",
    "condition_sources",
    "entry_key",
    "evaluate",
    "exit_with_driver",
    "parse_conditions",
    "plan_shard_tasks",
    "prediction_columns",
    "process_ended",
    "run_shard_task",
    "score_conditions",
    "train_smile",
    "write_mos",
]
