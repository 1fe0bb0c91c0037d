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
    from audit.workflows import perturb_file

    if seed is None:
        seed = (ctx.obj or {}).get("seed")
    line = perturb_file(input_path, condition, out_path, seed=0 if seed is None else seed,
                        utt_id=utt_id, speaker=speaker, data=data_source)
    click.echo(json.dumps(line))
