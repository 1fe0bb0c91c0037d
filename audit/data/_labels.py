"""Canonical label spellings shared by every corpus adapter and the generic CSV reader."""

from __future__ import annotations

__all__ = ["GENDERS", "canonical_gender", "canonical_emotion"]

GENDERS = ("female", "male", "unknown")

_GENDER_ALIASES = {"f": "female", "female": "female", "woman": "female", "w": "female",
                   "m": "male", "male": "male", "man": "male",
                   "unknown": "unknown", "u": "unknown", "x": "unknown"}

# Several corpora name the same category differently; one spelling per category keeps
# cross-corpus group columns comparable. Unlisted labels are kept (lower-cased) as they are.
_EMOTION_ALIASES = {
    "anger": "angry", "ang": "angry", "angry": "angry",
    "happiness": "happy", "joy": "happy", "hap": "happy", "happy": "happy",
    "sadness": "sad", "sad": "sad",
    "neutral": "neutral", "neu": "neutral",
    "fear": "fearful", "fearful": "fearful", "fea": "fearful", "anxiety": "fearful",
    "disgust": "disgust", "disgusted": "disgust", "dis": "disgust",
    "surprise": "surprised", "surprised": "surprised", "sur": "surprised",
    "calm": "calm", "boredom": "boredom", "bored": "boredom",
    "excited": "excited", "exc": "excited", "frustrated": "frustrated", "fru": "frustrated",
}


def canonical_gender(value: object) -> str | None:
    """``'F'``/``'Female'``/``'m'``... -> ``female|male|unknown``; ``None`` if unrecognised or empty."""
    text = str(value).strip().lower() if value is not None else ""
    return _GENDER_ALIASES.get(text)


def canonical_emotion(value: object) -> str:
    """Lower-case, trimmed emotion with common aliases merged (``'Anger'`` -> ``'angry'``)."""
    text = str(value).strip().lower() if value is not None else ""
    return _EMOTION_ALIASES.get(text, text)
