"""``audit perturb``: render one condition on one audio file, to hear what the model hears."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["perturb"]


@click.command("perturb")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--condition", "-c", required=True,
              help="Condition spec, e.g. 'reverb:rt60_s=0.3+awgn:snr_db=10' (stages joined by +).")
@click.option("--seed", type=int, default=None,
              help="Root seed (default: the root --seed, else 0).")
@click.option("--utt-id", default=None, help="Utterance id for the seed (default: IN's file stem).")
@click.option("--speaker", default=None, help="Speaker of IN (babble then excludes this speaker).")
@click.option("--data", "data_source", default=None,
              help="Corpus folder or manifest CSV: the talker pool for babble.")
@click.option("--out", "-o", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Output audio file (.wav/.flac).")
@click.pass_context
def perturb(ctx: click.Context, input_path: Path, condition: str, seed: int | None,
            utt_id: str | None, speaker: str | None, data_source: str | None,
            out_path: Path) -> None:
    """Render CONDITION on IN at its native rate, write OUT, print the record as one JSON line."""
    import soundfile as sf

    from audit.data.audio import write_audio
    from audit.errors import AuditError
    from perturbations import PerturbationError, derive_rng, parse_condition, render

    p = parse_condition(condition)
    suffix = out_path.suffix.lower()
    if suffix not in (".wav", ".flac"):
        raise AuditError(f"{out_path}: output must be .wav or .flac")
    if seed is None:
        seed = (ctx.obj or {}).get("seed")
    seed = 0 if seed is None else seed
    try:
        data, sample_rate = sf.read(str(input_path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError
        raise AuditError(f"{input_path}: cannot read audio ({exc})") from None
    if data.shape[0] == 0:
        raise AuditError(f"{input_path}: the file has no samples")
    waveform = data.mean(axis=1).astype("float32")  # mono down-mix
    utt = utt_id if utt_id is not None else input_path.stem
    if data_source is not None:
        from audit.data import load_data

        manifest = load_data(data_source)
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
    # WAV as 32-bit float keeps exactly what the model sees; FLAC is 24-bit PCM, clipped to +-1.
    # Either way the bytes are the same on every run (no timestamped PEAK chunk), written atomically.
    if suffix == ".flac":
        out = out.clip(-1.0, 1.0)
    write_audio(out_path, out, int(sample_rate), subtype="FLOAT" if suffix == ".wav" else "PCM_24")
    line = {"input": str(input_path), "output": str(out_path), "condition": str(p), "seed": seed,
            "utt_id": utt, "sample_rate": int(sample_rate), **record}
    click.echo(json.dumps(line))
