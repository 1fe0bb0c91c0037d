"""Errors a user can fix: bad parameters, a bad condition string, a silent input."""

__all__ = ["PerturbationError", "SilentInputError"]


class PerturbationError(ValueError):
    """Bad perturbation parameters or condition string; the message names the value."""


class SilentInputError(PerturbationError):
    """The input has no signal power (all zeros), so an SNR is undefined."""
