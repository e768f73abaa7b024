"""The `llmsight` command line.

Each area owns its commands in a `register(app)` function of its own module; this file only
assembles them. Those modules import nothing heavy at module level, so `llmsight run` starts
fast and works with the light install (collector commands explain how to get the extra).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="llmsight",
    help="Observability and cost analytics for LLM API calls.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# module path -> owner of the commands it registers
COMMAND_MODULES = (
    "llmsight.run_command",  # run
    "llmsight.collector.commands",  # collector
    "llmsight.collector.dead_letter_commands",  # dead-letter list | replay
    "llmsight.collector.pricing.commands",  # reprice, prices
    "llmsight.collector.report.commands",  # report, demo
    "llmsight.collector.reconcile.commands",  # reconcile pull | show
    "llmsight.alerts.commands",  # alerts, grafana
)


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):  # area not built yet
                continue
            raise
        module.register(app)


@app.command()
def version() -> None:
    """Print the llmsight version."""
    from llmsight import __version__

    typer.echo(__version__)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
