"""Import set-up for these tests.

``tests/perturbations`` (no ``__init__.py``) would otherwise shadow the ``perturbations``
package as a namespace package when pytest runs from the venv's ``bin/pytest`` (the editable
install's finder comes after the path scan). Putting the repository root first fixes that;
the shared signal helpers are importable as ``_signals``.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for path in (str(_HERE.parents[1]), str(_HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)
_mod = sys.modules.get("perturbations")
if _mod is not None and getattr(_mod, "__file__", None) is None:  # a namespace stand-in
    del sys.modules["perturbations"]
