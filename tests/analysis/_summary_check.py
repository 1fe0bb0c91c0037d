"""Check a summary.md for sentences that contradict themselves: a finding not demonstrated whose own
estimate is larger than the detectable size the sentence states."""

from __future__ import annotations

import re

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_NOT_SHOWN = re.compile(r"is not (?:shown|demonstrated) \((?P<est>" + _NUMBER + r") points")
_ABOVE = re.compile(r"(?:above|,) (?P<size>" + _NUMBER + r")(?: points)?(?= at 80 %| after adjusting| were detectable)")


def contradictions(text: str) -> list[str]:
    """Sentences (bullets) of ``text`` that call an effect undetectable although its estimate
    exceeds a detectable size they state."""
    bad = []
    for line in text.splitlines():
        m = _NOT_SHOWN.search(line)
        if not m:
            continue
        est = abs(float(m.group("est")))
        sizes = [float(s) for s in _ABOVE.findall(line[m.end():])]
        if any(est >= size for size in sizes):
            bad.append(line)
    return bad
