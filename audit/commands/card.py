"""``audit card RUN_DIR``: a model card (Mitchell et al. 2019) from an audit run."""

from __future__ import annotations

import click

__all__ = ["card"]


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Card file (default: RUN_DIR/MODEL_CARD.md).")
def card(run_dir: str, out: str | None) -> None:
    """Write a model card for the models of RUN_DIR: details from the checkpoint sidecars,
    factors = the group columns, metrics, evaluation data with the manifest hash, the findings,
    tables and plots, caveats from the warnings and problems. Intended use is left to you.

    \b
    Example:
      audit card results/demo -o MODEL_CARD.md
    """
    from audit.report.card import write_card

    click.echo(f"Wrote {write_card(run_dir, out)}")
