"""Errors a user can fix: the CLI prints them as one line and exits non-zero."""

__all__ = ["AuditError", "GateFailed"]


class AuditError(Exception):
    """A user-fixable problem (bad file, bad spec, missing checkpoint ...).

    The message is one line that names the file or key and the problem.
    """


class GateFailed(AuditError):
    """One or more ``--fail-if`` rules were violated (CLI exit code 3)."""

    exit_code = 3
