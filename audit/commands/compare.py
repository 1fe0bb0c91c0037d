"""``audit compare RUN_A RUN_B``: paired tests of two models on the same utterances (Table 19)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["compare"]


@click.command()
@click.argument("run_a", type=click.Path(exists=True))
@click.argument("run_b", type=click.Path(exists=True))
@click.option("--model-a", default=None, help="Model of RUN_A (needed when it holds several).")
@click.option("--model-b", default=None, help="Model of RUN_B (needed when it holds several).")
@click.option("--unit", type=click.Choice(["speaker", "utterance"]), default="speaker", show_default=True,
              help="Paired unit of the t-test and Wilcoxon test.")
@click.option("--by", "by", default=None, metavar="COLUMN",
              help="Also compare the two-group gap of COLUMN (e.g. gender): its change B - A per "
                   "condition, paired over speakers (gap_change_COLUMN.csv/.md).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for compare.csv and compare.md (default: RUN_B). The report.html of this "
                   "folder and of its parent run, where they exist, are re-rendered to show it.")
def compare(run_a: str, run_b: str, model_a, model_b, unit: str, by, out_dir) -> None:
    """Compare model B of RUN_B with model A of RUN_A per shared condition (diff = B - A).

    RUN_A and RUN_B may be the same run with two models (--model-a, --model-b).
    """
    from audit.analysis import compare_runs, write_comparison

    frame = compare_runs(run_a, run_b, model_a=model_a, model_b=model_b, unit=unit)
    out = Path(out_dir) if out_dir else (Path(run_b) if Path(run_b).is_dir() else Path(run_b).parent)
    out.mkdir(parents=True, exist_ok=True)
    csv, md = write_comparison(frame, out)
    click.echo(md.read_text(encoding="utf-8"))
    click.echo(f"Wrote {csv}")
    click.echo(f"Wrote {md}")
    if by:
        from audit.analysis import compare_gaps, write_gap_comparison

        gaps = compare_gaps(run_a, run_b, by=by, model_a=model_a, model_b=model_b)
        gcsv, gmd = write_gap_comparison(gaps, out)
        click.echo(gmd.read_text(encoding="utf-8"))
        click.echo(f"Wrote {gcsv}")
        click.echo(f"Wrote {gmd}")
    from audit.errors import AuditError
    from audit.report import refresh_report

    try:
        for report in refresh_report(out):
            click.echo(f"Updated {report} (its comparisons section)")
    except (AuditError, OSError, ValueError) as exc:  # the comparison itself is written
        click.echo(f"warning: the comparison is written, but the report beside it was not "
                   f"re-rendered: {exc}", err=True)
