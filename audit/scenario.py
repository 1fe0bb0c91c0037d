"""Scenario specs: a TOML file in ``scenarios/`` loaded into a validated pydantic model.

A spec says what an audit evaluates (conditions), how results are broken down (groups,
intersections), how uncertainty is estimated (bootstrap) and what fails the audit (thresholds).
Unknown keys and wrong types are errors that name the key and the file in one line.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audit.errors import AuditError

__all__ = [
    "Bootstrap",
    "Execution",
    "Scenario",
    "PAPER_SEED",
    "SCENARIO_DIR",
    "TABLE_NAMES",
    "canonical_condition",
    "list_scenarios",
    "load_scenario",
    "resolve_scenario",
]

PAPER_SEED = 987654
# scenarios/ sits beside the packages in the repository (an editable install keeps it there).
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
TABLE_NAMES = ("table15_noise", "table16_codec_reverb", "table17_gender", "table18_classwise_gender")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bootstrap(_Strict):
    """Speaker-clustered bootstrap settings (``unit`` is the resampled cluster)."""

    n_boot: int = Field(1000, ge=0)
    ci: float = Field(0.95, gt=0.0, lt=1.0)
    unit: Literal["speaker"] = "speaker"


class Execution(_Strict):
    """Where the predictions are computed (``[execution]``; the CLI's options override it).

    ``executor``: ``local`` (this process and its pool) or ``ray`` (tasks on a Ray cluster at
    ``address``: ``auto``, ``HOST:PORT``, ``ray://HOST:PORT``, or unset for a new local one);
    ``gpus_per_task``: GPUs a Ray task asks for when the device is a GPU.
    """

    executor: Literal["local", "ray"] = "local"
    address: str | None = None
    gpus_per_task: float = Field(1.0, gt=0.0)


class Scenario(_Strict):
    """A validated audit scenario.

    ``conditions`` holds canonical condition strings (``str(parse_condition(...))``), ``clean``
    first: the clean reference is always evaluated.
    """

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = PAPER_SEED
    conditions: list[str] = Field(default_factory=lambda: ["clean"])
    groups: list[str] = Field(default_factory=lambda: ["gender"])
    intersections: list[list[str]] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=lambda: ["wa", "ua", "macro_f1"])
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    thresholds: list[str] = Field(default_factory=list)
    tables: list[str] = Field(default_factory=list)
    min_group_speakers: int | None = Field(None, ge=1)
    execution: Execution = Field(default_factory=Execution)
    # a built-in label map (`ravdess-emodb`, `synonyms`) or a .toml file (relative to the spec)
    label_map: str | None = None

    @field_validator("label_map")
    @classmethod
    def _label_map(cls, value: str | None) -> str | None:
        if value is None or value.endswith(".toml"):
            return value
        from audit.data.labelmap import list_label_maps

        if value not in list_label_maps():
            raise ValueError(f"unknown label map {value!r} (built-in: {', '.join(list_label_maps())}; "
                             "or a .toml file)")
        return value

    @field_validator("conditions", mode="before")
    @classmethod
    def _conditions(cls, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValueError("must be a list of condition strings or tables")
        out = ["clean"]
        for item in value:
            cond = canonical_condition(item)
            if cond not in out:
                out.append(cond)
        return out

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in TABLE_NAMES:
                raise ValueError(f"unknown table {name!r} (known: {', '.join(TABLE_NAMES)})")
        return value

    @field_validator("intersections")
    @classmethod
    def _intersections(cls, value: list[list[str]]) -> list[list[str]]:
        for combo in value:
            if len(combo) < 2:
                raise ValueError(f"an intersection needs at least two columns, got {combo}")
        return value


def canonical_condition(item: Any) -> str:
    """Return the canonical condition string for a spec string or table.

    ``"awgn:snr_db=20"`` and ``{name = "awgn", snr_db = 20}`` both give ``str(p)`` of the parsed
    perturbation, the key used in CSVs, caches and seeds.
    """
    import perturbations

    try:
        if isinstance(item, str):
            return str(perturbations.parse_condition(item))
        if isinstance(item, dict):
            return str(perturbations.condition_from_dict(dict(item)))
    except perturbations.PerturbationError as exc:
        raise ValueError(str(exc)) from None
    raise ValueError(f"a condition must be a string or a table, got {item!r}")


def _format_error(err: dict[str, Any], source: str) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    if err["type"] == "extra_forbidden":
        parent = Scenario
        for part in err["loc"][:-1]:
            field = parent.model_fields.get(str(part))
            ann = getattr(field, "annotation", None) if field else None
            parent = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else parent
        allowed = sorted(parent.model_fields)
        close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
        return f"{source}: unknown key {key!r}{hint}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: key {key!r}: {msg} (got {err.get('input')!r})"


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a spec mapping; errors become one-line :class:`AuditError` naming ``source``."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise AuditError(_format_error(exc.errors()[0], source)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditError(f"{path}: scenario file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AuditError(f"{path}: invalid TOML: {exc}") from None
    spec = scenario_from_dict(data, str(path))
    if spec.label_map and spec.label_map.endswith(".toml") and not Path(spec.label_map).is_absolute():
        spec = spec.model_copy(update={"label_map": str(path.parent / spec.label_map)})
    return spec


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def resolve_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario from a file path, or by name from ``scenarios/`` (``paper``)."""
    path = Path(name_or_path)
    # a folder that happens to share a scenario's name (an earlier run's --out) is not a spec
    if path.suffix == ".toml" or path.is_file():
        return load_scenario(path)
    candidate = SCENARIO_DIR / f"{name_or_path}.toml"
    if candidate.exists():
        return load_scenario(candidate)
    if path.is_dir():
        raise AuditError(f"{name_or_path}: is a folder, not a scenario file (.toml) or one of "
                         f"{', '.join(list_scenarios()) or '(none)'}")
    raise AuditError(
        f"unknown scenario {str(name_or_path)!r}: not a file and not one of "
        f"{', '.join(list_scenarios()) or '(none)'} in {SCENARIO_DIR}"
    )
