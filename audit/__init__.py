"""ser-audit: audit speech emotion recognition models for robustness and fairness."""

from audit._malloc import keep_freed_memory
from audit.errors import AuditError, GateFailed

__all__ = ["AuditError", "GateFailed", "__version__", "keep_freed_memory"]
__version__ = "0.1.0"
