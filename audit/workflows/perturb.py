"""``audit perturb``: render one condition on one audio file, to hear what the model hears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.errors import AuditError

__all__ = ["perturb_file"]


def perturb_file(input_path: str | Path, condition: str, out_path: str | Path, *, seed: int = 0,
                 utt_id: str | None = None, speaker: str | None = None,
                 data: str | None = None) -> dict[str, Any]:
    """Render ``condition`` on ``input_path`` at its native rate, write ``out_path`` (.wav as
    32-bit float, exactly what the model sees; .flac as 24-bit PCM clipped to +-1; the same
    bytes on every run) and return what was applied: the input, output, condition, seed,
    utterance id, sample rate and the perturbation's record.

    The generator is ``derive_rng(seed, utt_id, condition)``, as in an audit; ``utt_id``
    defaults to the file's stem. ``data`` (a corpus folder or manifest) is the talker pool of
    babble; the input's own speaker is excluded from it (``speaker``, else looked up by id).
    """
    import soundfile as sf

    from audit.data.audio import write_audio
    from perturbations import PerturbationError, derive_rng, parse_condition, render

    input_path, out_path = Path(input_path), Path(out_path)
    p = parse_condition(condition)
    suffix = out_path.suffix.lower()
    if suffix not in (".wav", ".flac"):
        raise AuditError(f"{out_path}: output must be .wav or .flac")
    try:
        audio, sample_rate = sf.read(str(input_path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError
        raise AuditError(f"{input_path}: cannot read audio ({exc})") from None
    if audio.shape[0] == 0:
        raise AuditError(f"{input_path}: the file has no samples")
    waveform = audio.mean(axis=1).astype("float32")  # mono down-mix
    utt = utt_id if utt_id is not None else input_path.stem
    if data is not None:
        from audit.data import load_data

        manifest = load_data(data)
        p.bind_corpus(manifest)
        if speaker is None:  # IN is a corpus file: its own speaker is excluded from babble
            own = manifest.loc[manifest["utt_id"].astype(str) == utt, "speaker"]
            speaker = str(own.iloc[0]) if len(own) else None
    elif any(s.name == "babble" for s in getattr(p, "stages", (p,))):
        raise AuditError(f"condition {p} needs --data (a corpus folder or manifest) for the "
                         "babble talkers")
    context = {"utt_id": utt, **({"speaker": speaker} if speaker else {})}
    try:
        out, record = render(p, waveform, int(sample_rate), derive_rng(seed, utt, str(p)),
                             context=context)
    except PerturbationError as exc:  # e.g. a silent input: name the file it came from
        raise AuditError(f"{input_path}: {exc}") from None
    if suffix == ".flac":
        out = out.clip(-1.0, 1.0)
    write_audio(out_path, out, int(sample_rate), subtype="FLOAT" if suffix == ".wav" else "PCM_24")
    return {"input": str(input_path), "output": str(out_path), "condition": str(p), "seed": seed,
            "utt_id": utt, "sample_rate": int(sample_rate), **record}
