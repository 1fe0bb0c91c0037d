"""Import set-up for these tests: the shared signal helpers are importable as ``_signals``.

(The repository root comes first on sys.path through pytest's ``pythonpath`` setting, so
``tests/perturbations`` cannot shadow the ``perturbations`` package.)
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
