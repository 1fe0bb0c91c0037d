"""Errors a user can fix: the CLI prints them as one line and exits non-zero."""

__all__ = ["AuditError", "GateFailed", "user_errors"]


class AuditError(Exception):
    """A user-fixable problem (bad file, bad spec, missing checkpoint ...).

    The message is one line that names the file or key and the problem.
    """


class GateFailed(AuditError):
    """One or more ``--fail-if`` rules were violated (CLI exit code 3)."""

    exit_code = 3


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a user can fix, of every package: :class:`AuditError`,
    ``perturbations.PerturbationError`` and ``model.ModelError`` (those two when importable).
    The CLI prints them as one line; the Ray executor turns a worker's into an AuditError."""
    import importlib

    errors: list[type[BaseException]] = [AuditError]
    for module_name, attr in (("perturbations", "PerturbationError"), ("model", "ModelError")):
        try:
            errors.append(getattr(importlib.import_module(module_name), attr))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)
