"""`lake`: install, start and query the local lakehouse.

Thin on purpose: each command parses its arguments and calls one function.  A command's
function and its parser sit together in one module of this package, by what it serves:
:mod:`.stack` (the processes), :mod:`.data` (specs, running datasets, the demo),
:mod:`.quality` (reports, replay), :mod:`.serving` (SQL, users, catalogs, sharing, usage);
:mod:`.output` prints tables.  Adding a command is a function and its ``add_…`` there, and
one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Sequence

from lakehouse.cli import contributions, data, quality, serving, stack
from lakehouse.cli.output import format_rows  # noqa: F401  (the name callers and tests use)
from lakehouse.cli.stack import cmd_install, cmd_up, cmd_down, cmd_status, cmd_logs, cmd_airflow  # noqa: F401
from lakehouse.cli.data import cmd_spec, cmd_run, cmd_ingest, cmd_maintain, cmd_generate, cmd_demo  # noqa: F401
from lakehouse.cli.quality import cmd_quality, cmd_quarantine  # noqa: F401
from lakehouse.cli.serving import (cmd_sql, cmd_users, cmd_catalog, cmd_sharing, cmd_access,  # noqa: F401
                                   cmd_usage, cmd_audit)
from lakehouse.core.errors import LakeError

COMMANDS = [  # in the order `lake --help` lists them
    stack.add_install,
    stack.add_up,
    stack.add_down,
    stack.add_status,
    stack.add_logs,
    stack.add_deploy,
    serving.add_sql,
    serving.add_users,
    data.add_spec,
    data.add_run,
    data.add_ingest,
    data.add_maintain,
    data.add_generate,
    data.add_demo,
    quality.add_quality,
    quality.add_quarantine,
    serving.add_catalog,
    serving.add_sharing,
    serving.add_access,
    contributions.add_contributions,
    serving.add_usage,
    serving.add_audit,
    stack.add_airflow,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lake", description="The ministry lakehouse: S3 + Spark/Delta + Great Expectations + Trino + Airflow.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    today = dt.date.today().isoformat()
    for add in COMMANDS:
        add(sub, today)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse takes a command's positionals in one run, so in `lake ingest citizens --date D a.csv` the file after
    # the option would be left over: it belongs to the command's list of names or files (its `trailing`)
    trailing = getattr(args, "trailing", None)
    if extra and trailing and not any(e.startswith("-") for e in extra):
        setattr(args, trailing, [*getattr(args, trailing), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in ("run", "maintain") and not args.all and not args.targets:
        parser.error(f"{args.command}: give a dataset or domain, or --all")
    if args.command in ("run", "maintain") and args.all and args.targets:
        parser.error(f"{args.command}: give datasets or --all, not both")
    if args.command == "sharing" and args.action in ("token", "revoke") and not args.partner:
        parser.error(f"sharing {args.action}: name the partner (see `lake sharing list`)")
    if args.command == "catalog" and args.export and args.no_quality:
        parser.error("catalog: --export reads Trino anyway; leave out --no-quality")
    if args.command in ("run", "ingest", "generate", "demo", "maintain", "catalog"):
        try:
            dt.date.fromisoformat(args.date)
        except ValueError:
            parser.error(f"{args.command}: --date {args.date!r} is not a date (YYYY-MM-DD)")
    try:
        args.func(args)
    except LakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        said = spark_error(exc)
        if said is None or os.environ.get("LAKE_DEBUG"):
            raise
        print(f"error: {said}", file=sys.stderr)
        sys.exit(1)


def spark_error(exc: BaseException) -> str | None:
    """A Spark error as the user should see it: its first line and class, not a JVM stack (None: not Spark's)."""
    errors = sys.modules.get("pyspark.errors")  # loaded only by a command that used Spark
    if errors is None or not isinstance(exc, errors.PySparkException):
        return None
    text = str(exc).split("JVM stacktrace:", 1)[0].strip()
    first = text.splitlines()[0].strip() if text else ""
    return (f"Spark failed: {first or '(no message)'} ({exc.__class__.__name__}). The Spark server's log: "
            "`lake logs spark`; LAKE_DEBUG=1 shows the Python traceback")

