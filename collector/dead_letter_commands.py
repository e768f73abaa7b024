"""`llmsight dead-letter list | replay`: the rows the store refused, shown and inserted again once the cause is
fixed (heavy imports inside the commands)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmsight.extras import needs_collector_extra

dead_letter_app = typer.Typer(help="Rows the store refused: list them, or insert them again after fixing the cause.",
                              no_args_is_help=True)

_DATA_DIR = typer.Option(None, "--data-dir", help="The collector's data dir [LLMSIGHT_DATA_DIR].")


def _directory(data_dir: Path | None) -> Path:
    from llmsight.collector.config import load_settings
    from llmsight.collector.dead_letter import DEAD_LETTER_DIR

    return load_settings(data_dir=data_dir).data_dir / DEAD_LETTER_DIR


@dead_letter_app.command("list", help="The dead-letter files waiting: rows, when, and why the store refused them.")
@needs_collector_extra("dead-letter list")
def list_letters(data_dir: Path = _DATA_DIR) -> None:
    from llmsight.collector.dead_letter import RowFileError, dead_letters, read_dead_letter

    files = dead_letters(_directory(data_dir))
    if not files:
        typer.echo("no dead letters")
        return
    # Plain lines, not a table: file names and the store's reasons are long, and they are what to grep for.
    for path in files:
        try:
            header, _ = read_dead_letter(path)
        except RowFileError as exc:
            typer.echo(f"{path}  unreadable\n  {exc}")
            continue
        typer.echo(f"{path}  {header.get('rows', '?')} rows  written {header.get('written_at', '?')}")
        typer.echo(f"  reason: {' '.join(str(header.get('reason', '')).split())[:500]}")
    typer.echo(f"{len(files)} file(s); fix the cause, then: llmsight dead-letter replay")


@dead_letter_app.command("replay", help="Insert dead-lettered rows again (all waiting files, or the ones given); "
                         "each replayed file moves to dead-letter/replayed/. Safe to run twice.")
@needs_collector_extra("dead-letter replay")
def replay_letters(
    files: list[Path] = typer.Argument(None, exists=True, dir_okay=False, help="Files to replay (default: all)."),
    data_dir: Path = _DATA_DIR,
    dsn: str = typer.Option(None, "--dsn", help="chdb://PATH or http(s)://user:pass@host:8123 [LLMSIGHT_CLICKHOUSE_DSN]."),
) -> None:
    from llmsight.collector.config import load_settings
    from llmsight.collector.dead_letter import DEAD_LETTER_DIR, RowFileError, dead_letters, replay
    from llmsight.collector.store import Store, StoreDataError, StoreError, StoreLockedError

    def say(line: str) -> None:  # plain lines on stderr, never wrapped: paths and reasons are long
        typer.echo(line, err=True)
    settings = load_settings(data_dir=data_dir, clickhouse_dsn=dsn)
    waiting = files or dead_letters(settings.data_dir / DEAD_LETTER_DIR)
    if not waiting:
        say("no dead letters to replay")
        return
    try:
        store = Store.open(settings.effective_dsn, create=False)
    except StoreLockedError:
        say("llmsight dead-letter replay: a collector is running on this embedded store; stop it, replay, then start "
            "it again (the embedded store has one owner at a time)")
        raise typer.Exit(1) from None
    except StoreError as exc:
        say(f"llmsight dead-letter replay: {exc}")
        raise typer.Exit(1) from None
    refused = 0
    try:
        for path in waiting:
            try:
                result = replay(store, path)
            except RowFileError as exc:  # edited or truncated: the file stays, to be mended
                refused += 1
                say(f"{path.name}: cannot be replayed: {exc}")
                continue
            except StoreDataError as exc:  # still refused: the file stays for the next attempt
                refused += 1
                say(f"{path.name}: the store still refuses these rows: {' '.join(str(exc).split())[:300]}")
                continue
            except StoreError as exc:
                say(f"llmsight dead-letter replay: {exc}")
                raise typer.Exit(1) from None
            already = f", {result.already_stored:,} already stored" if result.already_stored else ""
            if not result.complete:  # inserted without an error, yet not there: the file stays, exit 1
                refused += 1
                lost = f"{result.not_stored:,} row{'s' if result.not_stored > 1 else ''}"
                say(f"{path.name}: {result.inserted:,} of {result.rows:,} rows stored{already}; {lost} the store did "
                    "not keep (a time it cannot hold, or older than its TTL?): the file stays where it is")
                continue
            say(f"{path.name}: {result.inserted:,} of {result.rows:,} rows inserted{already} → {result.path}")
    finally:
        store.close()
    if refused:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(dead_letter_app, name="dead-letter")
