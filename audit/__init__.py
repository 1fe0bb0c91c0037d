"""ser-audit: audit speech emotion recognition models for robustness and fairness."""

from audit.errors import AuditError, GateFailed

__all__ = ["AuditError", "GateFailed", "__version__"]
__version__ = "0.1.0"
