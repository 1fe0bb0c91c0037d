"""``audit run``: evaluate models under a scenario's conditions and write a run folder."""

from __future__ import annotations

import sys

import click

from audit.commands._options import GreedyCommand, common_run_options, engine_options, print_summary

__all__ = ["run"]

# Built-in targets whose own option replaces the scenario's perturbed conditions.
_BUILTIN = {"noise": ("noise", "snr"), "mp3": ("codec", "bitrate"), "codec": ("codec", "bitrate"),
            "reverb": ("reverb", "rt60")}


class _RunCommand(GreedyCommand):
    greedy = ("--snr", "--bitrate", "--rt60", "--models", "--condition", "--fail-if", "--folds")


def build_scenario(target: str | None, snr: tuple[float, ...], bitrate: tuple[int, ...],
                   rt60: tuple[float, ...], conditions: tuple[str, ...]):
    """The scenario for a CLI target plus the ``--snr/--bitrate/--rt60/--condition`` options."""
    from audit.scenario import resolve_scenario, scenario_from_dict
    from perturbations import format_value

    # format_value is the condition key's own spelling: every digit kept (12.3456789, not
    # {:g}'s 12.3457) and no exponent sign ({:g} made 1e6 '1e+06', read as two stages)
    made = {"snr": [f"awgn:snr_db={format_value(float(s))}" for s in snr],
            "bitrate": [f"mp3:bitrate_kbps={b}" for b in bitrate],
            "rt60": [f"reverb:rt60_s={format_value(float(r))}" for r in rt60]}
    if target is None:
        extra = made["snr"] + made["bitrate"] + made["rt60"] + list(conditions)
        if not extra:
            return resolve_scenario("paper")
        base = resolve_scenario("fairness").model_dump()
        base.update(name="custom", description="conditions given on the command line",
                    conditions=extra, thresholds=[], tables=[])
        return scenario_from_dict(base, "command line")
    if target in _BUILTIN:
        name, option = _BUILTIN[target]
        base = resolve_scenario(name)
        if made[option]:
            data = base.model_dump()
            data["conditions"] = made[option]
            base = scenario_from_dict(data, "command line")
    else:
        base = resolve_scenario(target)
    extra = [made[k] for k in made if not (target in _BUILTIN and k == _BUILTIN[target][1])]
    extra_flat = [c for group in extra for c in group] + list(conditions)
    if extra_flat:
        data = base.model_dump()
        data["conditions"] = data["conditions"] + extra_flat
        base = scenario_from_dict(data, "command line")
    return base


@click.command(cls=_RunCommand)
@click.argument("target", required=False)
@engine_options
@click.option("--snr", type=float, multiple=True, help="AWGN SNRs in dB, e.g. --snr 0 10 20.")
@click.option("--bitrate", type=int, multiple=True, help="MP3 bitrates in kbps, e.g. --bitrate 128.")
@click.option("--rt60", type=float, multiple=True, help="Reverb RT60s in seconds, e.g. --rt60 0.3.")
@click.option("--fail-if", "fail_if", multiple=True,
              help="Gate rule(s), e.g. 'ua_drop>10' 'gender_ua_gap>5': exit 3 when violated.")
@click.option("--no-report", is_flag=True, help="Skip plots and report.html.")
@click.option("--compress-predictions", is_flag=True,
              help="Write predictions.csv.gz and metrics.csv.gz (same bytes for the same CSV) instead of the CSVs.")
@click.option("--ensemble", is_flag=True,
              help="On another corpus, audit a folder of fold checkpoints as ONE model: the mean of its fold "
                   "models' probabilities (default: one <name>-fold<k> model per fold).")
@click.option("--reference-model", default=None,
              help="Model the robustness score is relative to (default: the first of --models).")
@click.option("--p-adjust", type=click.Choice(["holm", "bh"]), default="holm", show_default=True,
              help="Multiplicity adjustment of the findings: Holm or Benjamini-Hochberg.")
@click.option("--mos", is_flag=True,
              help="Score each condition's audio with DNSMOS on a seeded sample (mos.csv, table_mos, "
                   "plots/accuracy_vs_mos.png); needs pip install 'ser-audit[mos]'.")
@click.option("--mos-n", type=click.IntRange(min=1), default=48, show_default=True,
              help="Utterances scored per condition with --mos (round-robin over the speakers).")
@click.pass_context
def run(ctx: click.Context, target: str | None, snr, bitrate, rt60, fail_if, no_report,
        compress_predictions, ensemble, reference_model, p_adjust, mos, mos_n, **kw) -> None:
    """Audit models under TARGET: noise | mp3 | reverb | a scenario name (paper, fairness, ...)
    | a SPEC.toml file. Without TARGET: the conditions given, or the paper scenario.

    \b
    Examples:
      audit run noise --snr 0 10 20 --data DATA --models ckpt/macnn
      audit run paper --data ../shared/data/ravdess --models ckpt/macnn ckpt/icasa
      audit run --condition 'reverb:rt60_s=0.5+awgn:snr_db=10' --data DATA --models ckpt/m
      audit run noise --data DATA --models ckpt/a ckpt/b --fail-if 'gender_ua_gap_change>3'
    """
    from audit.workflows import RunOptions, run_audit

    scenario = build_scenario(target, snr, bitrate, rt60, kw["conditions"])
    opts = RunOptions(**common_run_options(ctx, kw, f"results/{scenario.name}"),
                      fail_if=list(fail_if), report=not no_report, argv=list(sys.argv),
                      reference_model=reference_model, p_adjust=p_adjust,
                      compress_predictions=compress_predictions, ensemble_folds=ensemble,
                      mos=mos_n if mos else 0)
    try:
        result = run_audit(scenario, opts)
    except Exception as exc:
        from audit.errors import GateFailed

        if isinstance(exc, GateFailed):
            import pandas as pd

            from audit.runfiles import metrics_file

            print_summary(pd.read_csv(metrics_file(opts.out), keep_default_na=False,
                                      na_values=[""]), opts.out)
        raise
    print_summary(result.metrics, result.out)
