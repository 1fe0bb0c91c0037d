"""The model package's user-fixable error."""

__all__ = ["ModelError"]


class ModelError(Exception):
    """Unknown model name, bad or unsafe checkpoint, class or shape mismatch.

    The message is one line naming the file, key or value and the problem; the CLI prints it
    without a traceback (exit 2).
    """
