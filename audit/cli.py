"""The ``audit`` command line: a root group whose sub-commands live one module per group.

Sub-commands are imported lazily so ``audit --help`` and ``audit data info`` do not pay for
importing torch, and so a user error anywhere becomes one line on stderr, not a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

__all__ = ["main", "cli"]

# command name -> "module:attribute" (a click.Command or click.Group)
_COMMANDS = {
    "data": "audit.commands.data:data",
    "train": "audit.commands.train:train",
    "search": "audit.commands.search:search",
    "model": "audit.commands.model:model",
    "perturb": "audit.commands.perturb:perturb",
    "run": "audit.commands.run:run",
    "fairness": "audit.commands.fairness:fairness",
    "report": "audit.commands.report:report",
    "compare": "audit.commands.compare:compare",
    "reproducibility": "audit.commands.reproducibility:reproducibility",
    "card": "audit.commands.card:card",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(_COMMANDS)

    def get_command(self, ctx, name):
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # the command is not built yet
                return None
            raise
        return getattr(module, attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seed", type=int, default=None, help="Root seed (default: the command's or scenario's own).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def cli(ctx: click.Context, seed: int | None, device: str, log_level: str) -> None:
    """Audit speech emotion recognition models for robustness and fairness."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["seed"] = seed
    ctx.obj["device"] = device


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; user errors print one line and exit 2 (gates exit 3)."""
    from audit._malloc import keep_freed_memory
    from audit.errors import user_errors

    keep_freed_memory()  # this process is ours: large freed blocks are reused, not re-faulted
    try:
        cli.main(args=argv, prog_name="audit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except user_errors() as exc:  # noqa: B030 - tuple built at runtime
        click.echo(f"error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
