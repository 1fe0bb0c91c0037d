"""Map a foreign model's class labels (``id2label``, a label encoder) onto emotion names.

Hugging Face and SpeechBrain models name their outputs as their training corpus did
(``ang``, ``hap``, ``neu``, ``sad`` for IEMOCAP; ``LABEL_0`` when nobody named them). The
engine compares probability columns with the manifest's canonical lowercase emotions, so each
label goes through the synonyms of the cross-corpus label maps (:func:`audit.data.labelmap.synonym`,
the table the corpus readers use too); a cross-corpus label map then applies to these names
like to any model's. A label that is no known emotion, two labels that become one emotion, or
an explicit ``--classes`` list of the wrong length stop with one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from audit.data.labelmap import known_emotions, synonym
from audit.errors import AuditError

__all__ = ["map_model_classes", "KNOWN_EMOTIONS"]

# Every emotion a corpus adapter writes, and every target of the synonym table.
KNOWN_EMOTIONS = known_emotions()
_PLACEHOLDER = re.compile(r"^label_\d+$")


def map_model_classes(labels: Sequence[str], *, source: str,
                      classes: Sequence[str] | None = None) -> list[str]:
    """Canonical emotion names for a model's output labels, in output order.

    Parameters
    ----------
    labels : the model's own labels, ``labels[j]`` naming output column ``j``.
    source : where the labels come from (``'<folder>/config.json id2label'``), for messages.
    classes : explicit names in output order (``--classes``); replaces the synonym lookup.

    Returns
    -------
    ``n_labels`` canonical names (``'ang'`` -> ``'angry'``); AuditError when a label is unknown,
    a placeholder (``LABEL_0``) or two labels map to one name.
    """
    if classes:
        names = [synonym(c) for c in classes]
        if len(names) != len(labels):
            raise AuditError(f"{source}: --classes names {len(names)} classes but the model has "
                             f"{len(labels)} outputs ({list(labels)})")
    else:
        names = []
        for j, label in enumerate(labels):
            name = synonym(label)
            if name not in KNOWN_EMOTIONS:
                what = "a placeholder name" if _PLACEHOLDER.match(name) else "not an emotion name"
                raise AuditError(
                    f"{source}: class {j} {label!r} is {what} the toolkit knows "
                    f"({', '.join(KNOWN_EMOTIONS)}); name the {len(labels)} outputs in order with "
                    "--classes a,b,c")
            names.append(name)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AuditError(f"{source}: classes {list(labels)} give {dup[0]!r} twice after mapping "
                         f"to emotion names ({names}); name them with --classes a,b,c")
    return names
