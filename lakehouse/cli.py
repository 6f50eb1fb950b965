"""`lake`: install, start and query the local lakehouse.

Thin on purpose: each command parses its arguments and calls one function.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import io
import json
import os
import sys
import time
from typing import Any, Sequence

from lakehouse.errors import LakeError

DEMO_QUERIES = [
    ("Communes per province (admin_units)",
     "SELECT province_code, province_name, commune_count, xa_count, phuong_count, dac_khu_count "
     "FROM lake.gold.commune_counts_by_province ORDER BY commune_count DESC LIMIT 5"),
    ("Enterprise registry history kept as SCD2 (enterprises)",
     "SELECT count(*) AS versions, count_if(is_current) AS current, count(DISTINCT tax_code) AS enterprises "
     "FROM lake.silver.enterprises"),
    ("Dossiers by procedure and status (dossiers, from PostgreSQL)",
     "SELECT * FROM lake.gold.dossier_status_by_procedure ORDER BY dossier_count DESC LIMIT 5"),
    ("Hourly PM2.5 by province (air_quality, streamed)",
     "SELECT reading_date, count(*) AS province_hours, round(avg(pm25_avg), 1) AS pm25_avg "
     "FROM lake.gold.air_quality_hourly_by_province GROUP BY reading_date ORDER BY reading_date"),
    ("Quality of each dataset's last load, worst first: scores 0-100 per dimension (ops scorecard)",
     "SELECT dataset, status, dung, du, sach, song, overall, rows_quarantined AS quarantined "
     "FROM lake.ops.quality_scorecard s WHERE kind = 'load' AND checked_at = (SELECT max(checked_at) "
     "FROM lake.ops.quality_scorecard t WHERE t.dataset = s.dataset AND t.kind = 'load') ORDER BY overall, dataset"),
    ("What the last runs did (ops run log)",
     "SELECT layer, status, count(*) AS runs, sum(rows_in) AS rows_in, sum(rows_written) AS written, "
     "sum(rows_quarantined) AS quarantined, sum(duplicates_collapsed) AS duplicates "
     "FROM lake.ops.run_log GROUP BY layer, status ORDER BY layer, status"),
]


# ---- output ---------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table") -> str:
    """Render a result as an aligned table, CSV or JSON (one object per row)."""
    if fmt == "json":
        def default(v: Any) -> Any:
            if isinstance(v, decimal.Decimal):
                return str(v)
            return _cell(v)
        return json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, default=default, indent=1)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[("" if v is None else _cell(v)) for v in r] for r in rows])
        return out.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda vals: " | ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    sep = "-+-".join("-" * w for w in widths)
    body = [line(columns), sep, *[line(r) for r in cells]]
    body.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(body)


# ---- commands -------------------------------------------------------------------

def cmd_install(args: argparse.Namespace) -> None:
    from lakehouse.install import install_all
    install_all()


def cmd_up(args: argparse.Namespace) -> None:
    from lakehouse import services
    from lakehouse.install import install_all
    from lakehouse.settings import get_settings

    if not args.no_install:
        install_all()
    started = time.monotonic()
    services.up(args.services)
    settings = get_settings()
    print(f"[lake] stack up in {time.monotonic() - started:.0f}s")
    if not args.services or "airflow" in args.services or "airflow-api-server" in args.services:
        print(f"[lake] Airflow UI: http://{settings.host}:{settings.env.services.airflow.port}  "
              f"user: admin  password: {settings.secrets['airflow_admin_password']}")
    print(f"[lake] Trino: {settings.trino_url}  catalog: {settings.trino_catalog}  "
          f"certificate: {settings.trino_cert}")
    print("[lake] Trino users and their generated passwords: `lake users`")
    if not args.services or "sharing" in args.services:
        from lakehouse.sharing import endpoint
        print(f"[lake] Delta Sharing for partners: {endpoint(settings)}  (a partner's profile file: "
              "`lake sharing token PARTNER`)")


def cmd_down(args: argparse.Namespace) -> None:
    from lakehouse import services
    services.down(args.services)


def cmd_status(args: argparse.Namespace) -> None:
    from lakehouse import airflow_env, services
    if not args.dags:
        rows = services.status()
        columns = ["service", "state", "pid", "rss_mb", "url"]
        print(format_rows(columns, [[r[c] for c in columns] for r in rows], args.format))
        if args.format == "table":
            total = sum(r["rss_mb"] for r in rows if r["rss_mb"] != "")
            print(f"memory in use by the stack: {total:,} MB")
        if args.format != "table":
            return  # one document per call: `--dags` prints the DAG runs as CSV or JSON
        print()
    runs = airflow_env.last_runs()
    if runs is None:
        message = (f"Airflow is not running ({airflow_env.api_url()} does not answer), so there are no DAG runs "
                   "to show; start it with `lake up airflow`.")
        if args.dags:
            raise LakeError(message)
        print(message)
        return
    columns = ["dag", "paused", "state", "logical_date", "run_type", "end_date"]
    if args.format == "table":
        print("last run of each DAG:")
    print(format_rows(columns, [[r[c] for c in columns] for r in runs], args.format))


def cmd_logs(args: argparse.Namespace) -> None:
    from lakehouse import services
    service = services.select([args.service])[0]
    path = service.log_file
    if not path.exists():
        raise LakeError(f"no log for {service.name} yet ({path}); has it been started with `lake up`?")
    lines = path.read_text(errors="replace").splitlines()
    print("\n".join(lines[-args.lines:]))
    if args.follow:
        with open(path, errors="replace") as fh:
            fh.seek(0, 2)
            try:
                while True:
                    line = fh.readline()
                    if line:
                        print(line, end="", flush=True)
                    else:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                pass


def cmd_sql(args: argparse.Namespace) -> None:
    from lakehouse import trino
    sql = args.query if args.query != "-" else sys.stdin.read()
    try:
        if args.user:
            from lakehouse.settings import get_settings
            from lakehouse.trino_security import users
            known = {r["user"]: r["password"] for r in users(get_settings())}
            if args.user not in known:
                raise LakeError(f"no Trino user {args.user!r} (known: {', '.join(sorted(known))}); "
                                f"users are listed in lake_config/access.yaml")
            columns, rows = trino.query(sql, user=args.user, password=known[args.user])
        else:
            columns, rows = trino.query(sql)
    except Exception as exc:  # the trino client raises many types; show the server's message
        if exc.__class__.__module__.startswith(("trino", "requests", "urllib3")):
            raise LakeError(f"Trino: {getattr(exc, 'message', None) or exc}") from exc
        raise
    print(format_rows(columns, rows, args.format))


def cmd_users(args: argparse.Namespace) -> None:
    from lakehouse.settings import get_settings
    from lakehouse.trino_security import how_to_connect, refresh, users
    settings = get_settings()
    rows = users(settings)
    if refresh(settings):
        print("[lake] users, groups and access rules regenerated for the local Trino (effective within 5 s)",
              file=sys.stderr)
    columns = ["user", "member_of", "password"]
    print(format_rows(columns, [[r[c] for c in columns] for r in rows], args.format))
    if args.format == "table":
        print("\n" + how_to_connect(settings))


def cmd_spec(args: argparse.Namespace) -> None:
    from lakehouse.spec import json_schema, load_catalog
    if args.action == "schema":
        print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        return
    catalog = load_catalog()
    if args.action == "validate":
        print(f"ok: {len(catalog.datasets)} datasets in {len(catalog.domains)} domains are valid")
        return
    rows = [[d.name, d.domain, d.layer, d.classification, ",".join(d.catalogs), d.schedule or ""]
            for d in sorted(catalog.datasets.values(), key=lambda d: (d.domain, d.layer, d.name))]
    print(format_rows(["name", "domain", "layer", "classification", "catalogs", "schedule"], rows, args.format))


def _domain_of(target: str) -> str:
    from lakehouse.spec import load_catalog
    catalog = load_catalog()
    if target in catalog.domains:
        return target
    if target in catalog.datasets:
        return catalog.datasets[target].domain
    raise LakeError(f"{target!r} is neither a domain ({', '.join(catalog.domains)}) nor a dataset in lake_config")


def _run_pipeline(steps, date: str) -> None:
    from lakehouse import pipeline

    started = time.monotonic()
    results = []
    try:
        results = pipeline.run_steps(steps, date)
    finally:
        if results:
            print("\n" + format_rows(pipeline.SUMMARY_COLUMNS, pipeline.summary_rows(results)))
        print(f"[lake] {len(results)}/{len(steps)} steps done in {time.monotonic() - started:.0f}s", flush=True)


def cmd_run(args: argparse.Namespace) -> None:
    from lakehouse import pipeline
    from lakehouse.spec import load_catalog

    catalog = load_catalog()
    if args.airflow:
        from lakehouse import airflow_env, services
        from lakehouse.orchestration import run_order

        for target in args.targets:
            _domain_of(target)  # a clear error for an unknown name
        dags = run_order(catalog, list(catalog.domains) if args.all else args.targets)
        services.migrate_airflow()
        print(f"[lake] {len(dags)} DAGs, one after the other (masters first, gold last): {', '.join(dags)}",
              flush=True)
        for dag in dags:
            started = time.monotonic()
            print(f"[lake] running DAG {dag} for {args.date} through Airflow (`airflow dags test`)", flush=True)
            airflow_env.run_cli(["dags", "test", dag, args.date])
            print(f"[lake] {dag} finished in {time.monotonic() - started:.0f}s", flush=True)
        return
    for target in args.targets:
        _domain_of(target)  # a clear error for an unknown name
    targets = list(catalog.datasets) if args.all else args.targets
    steps = pipeline.plan(catalog, targets)
    print(f"[lake] {len(steps)} steps: " + ", ".join(s.label for s in steps), flush=True)
    _run_pipeline(steps, args.date)


def cmd_ingest(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lakehouse import pipeline
    from lakehouse.spec import load_catalog

    catalog = load_catalog()
    pipeline.land_files(args.dataset, [Path(f) for f in args.files], args.date)
    steps = pipeline.plan(catalog, [args.dataset], with_land=False)
    _run_pipeline(steps, args.date)


def cmd_maintain(args: argparse.Namespace) -> None:
    from lakehouse.pipeline import Step
    from lakehouse.spec import load_catalog

    catalog = load_catalog()
    names = sorted(catalog.datasets) if args.all else [catalog[t].name for t in args.targets]
    _run_pipeline([Step("maintain", n) for n in names], args.date)


def cmd_generate(args: argparse.Namespace) -> None:
    from lakehouse.demo import land_demo
    land_demo(args.date, args.seed, args.scale, args.datasets or None)


def cmd_demo(args: argparse.Namespace) -> None:
    from lakehouse import trino
    from lakehouse.demo import demo_dates, land_demo

    started = time.monotonic()
    cmd_up(argparse.Namespace(services=None, no_install=False))
    for date in demo_dates(args.date, args.days):
        print(f"\n[lake] === {date}: the sources deliver, then every dataset runs ===", flush=True)
        land_demo(date, args.seed, args.scale)
        cmd_run(argparse.Namespace(targets=[], all=True, airflow=False, date=date))
    for title, sql in DEMO_QUERIES:
        columns, rows = trino.query(sql)
        print(f"\n-- {title}\ntrino> {sql}")
        print(format_rows(columns, rows))
    from lakehouse import scorecard
    site = scorecard.write_site(scorecard.reports())
    print(f"\n[lake] quality site for quality officers: {site} (English: {site.parent / 'en' / 'index.html'}); "
          "`lake quality DATASET` prints one dataset's report")
    print(f"\n[lake] demo finished in {time.monotonic() - started:.0f}s. Query more with `lake sql`; "
          "stop everything with `lake down`.")


def cmd_quality(args: argparse.Namespace) -> None:
    from lakehouse import scorecard, trino
    from lakehouse.pipeline import Step, run_steps
    from lakehouse.quality_report import render_text
    from lakehouse.spec import load_catalog

    catalog = load_catalog()
    names = [catalog[t].name for t in args.datasets] or None
    if args.check_freshness:
        due = [s.name for s in (catalog.sources() if names is None else [catalog[n] for n in names]) if s.freshness]
        if not due:
            raise LakeError("none of these datasets declares a freshness SLA (`freshness:` in its spec)")
        run_steps([Step("freshness", n) for n in due], dt.date.today().isoformat())
    trino.register_ops()
    found = scorecard.reports(names)
    site = scorecard.write_site(found) if (args.site or args.check_freshness or names is None) else None
    if args.format == "json":
        print(json.dumps(found if names is None or len(found) > 1 else found[0], ensure_ascii=False,
                         default=str, indent=1))
        return
    for rep in found:
        if site:
            rep["site_path"] = str(site.parent / ("" if args.lang == "vi" else "en") / f"{rep['dataset']}.html")
        print(render_text(rep, args.lang))
        print()
    if site:
        print(f"[lake] quality site: {site if args.lang == 'vi' else site.parent / 'en' / 'index.html'}")


def cmd_quarantine(args: argparse.Namespace) -> None:
    from lakehouse import pipeline
    from lakehouse.pipeline import Step
    from lakehouse.spec import GoldDataset, SourceDataset, load_catalog

    spec = load_catalog()[args.dataset]
    if not isinstance(spec, SourceDataset):
        raise LakeError(f"{args.dataset} is a gold dataset; only source datasets have a quarantine")
    catalog = load_catalog()
    # the gold tables built from the dataset are rebuilt from the repaired silver table
    golds = [Step(s.job, s.dataset) for s in pipeline.plan(catalog, [spec.name], with_land=False)
             if isinstance(catalog[s.dataset], GoldDataset)]
    _run_pipeline([Step("replay", spec.name), Step("publish", spec.name), *golds], dt.date.today().isoformat())


def cmd_catalog(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lakehouse import catalog

    try:
        if not args.no_quality:
            from lakehouse import trino
            trino.register_ops()  # the scorecard and run log, once they exist
        if args.export:
            from jobs import export_open_data

            manifests = export_open_data.run_all(args.date)
            print(f"[lake] exported {len(manifests)} open dataset(s)", flush=True)
        names = [args.catalog] if args.catalog else None
        paths = catalog.publish(names, Path(args.out) if args.out else None, with_facts=not args.no_quality)
    except Exception as exc:  # the trino, minio and HTTP clients raise many types; say what to do
        if exc.__class__.__module__.startswith(("trino", "requests", "urllib3", "minio")):
            raise LakeError(f"catalog: cannot read the lake through Trino and S3 ({exc.__class__.__name__}: "
                            f"{getattr(exc, 'message', None) or exc}); start them with `lake up`, or write the "
                            "catalogs from the specs alone with --no-quality") from exc
        raise
    for path in paths:
        print(f"[lake] {path}")


def cmd_sharing(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lakehouse import sharing
    from lakehouse.settings import get_settings

    settings = get_settings()
    if args.action == "token":
        token, record, path = sharing.issue_token(args.partner, settings, Path(args.out) if args.out else None)
        print(f"[lake] Delta Sharing token for {args.partner} (shown once; only its hash is kept), "
              f"valid until {record['expires_at']}; older tokens of {args.partner} are revoked:")
        print(token)
        print(f"[lake] profile file: {path} (give it to the partner over a safe channel)")
        print(f"[lake] the partner reads with: delta_sharing.load_as_pandas('{args.partner}.share#"
              f"{args.partner}.<schema>.<table>'); `lake sharing list` shows its tables")
    elif args.action == "revoke":
        count = sharing.token_store(settings).revoke(args.partner)
        print(f"[lake] {args.partner}: {count} token(s) revoked" if count else
              f"[lake] {args.partner}: no live token to revoke")
    elif args.action == "list":
        rows, refused = sharing.status_rows(settings)
        columns = ["partner", "token", "expires_at", "tables", "refused"]
        print(format_rows(columns, [[r[c] for c in columns] for r in rows], args.format))
        if args.format == "table":
            for r in refused:
                print(f"not shared with {r.partner}: {r.dataset}: {r.reason}")
            print(f"\nendpoint: {sharing.endpoint(settings)}  audit log: {sharing.audit_log(settings).path}")
    elif args.action == "audit":
        entries = sharing.audit_log(settings).entries()[-args.lines:]
        columns = ["at", "partner", "method", "path", "status", "files", "bytes", "error"]
        print(format_rows(columns, [[e.get(c, "") for c in columns] for e in entries], args.format))


def _usage_report(sql: str, args: argparse.Namespace) -> None:
    """Load what the events service and the sharing server wrote (unless --no-load), then run ``sql`` on Trino."""
    from lakehouse import trino
    from lakehouse.settings import get_settings

    settings = get_settings()
    if not args.no_load:
        from jobs import usage as loader
        loader.run(dt.date.today().isoformat(), settings)
    try:
        columns, rows = trino.query(sql, settings)
    except Exception as exc:
        if "does not exist" in str(exc):
            raise LakeError("no usage loaded yet (lake.ops.query_log and friends do not exist): run it without "
                            "--no-load, or `python -m jobs.usage`") from None
        raise
    print(format_rows(columns, rows, args.format))


def cmd_usage(args: argparse.Namespace) -> None:
    from lakehouse import usage
    from lakehouse.settings import get_settings

    start, end = usage.period(args.year, args.since)
    _usage_report(usage.usage_sql(get_settings().trino_catalog, start, end, args.dataset, args.include_service),
                  args)


def cmd_audit(args: argparse.Namespace) -> None:
    from lakehouse import usage
    from lakehouse.settings import get_settings

    _usage_report(usage.audit_sql(get_settings().trino_catalog, args.user, args.dataset, args.since, args.limit,
                                  args.include_service), args)


def cmd_airflow(args: argparse.Namespace) -> None:
    from lakehouse import airflow_env
    sys.exit(airflow_env.run_cli(args.args, check=False))


# ---- parser ---------------------------------------------------------------------

def _date_arg(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lake", description="The ministry lakehouse: S3 + Spark/Delta + Great Expectations + Trino + Airflow.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    today = dt.date.today().isoformat()
    fmt = dict(choices=["table", "csv", "json"], default="table", help="output format (default: table)")

    p = sub.add_parser("install", help="build/fetch weed, Trino and the Spark jars into the cache (idempotent)")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("up", help="install if needed, then start S3, Trino and Airflow (a no-op when running)")
    p.add_argument("services", nargs="*", help="only these services or groups: s3, spark, events, trino, postgres, airflow, sharing")
    p.add_argument("--no-install", action="store_true", help="skip the install check")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop the services lake started (and nothing else)")
    p.add_argument("services", nargs="*", help="only these services or groups")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="show each service (state, pid, memory, URL) and each DAG's last run")
    p.add_argument("--format", **fmt)
    p.add_argument("--dags", action="store_true", help="only the last run of each DAG (from Airflow's REST API)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("logs", help="print a service's log")
    p.add_argument("service", help="s3, trino, airflow-api-server, airflow-scheduler, ...")
    p.add_argument("-n", "--lines", type=int, default=50, help="how many lines from the end (default 50)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("sql", help="run a SQL query on Trino and print the result")
    p.add_argument("query", help="the SQL text, or - to read it from standard input")
    p.add_argument("--format", **fmt)
    p.add_argument("--user", help="run as this user of lake_config/access.yaml (default: the platform's "
                                  "service user), to see what it sees")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("users", help="Trino users, their generated passwords, and how to connect",
                       description="Print every Trino user (the platform's service user and the users of "
                                   "lake_config/access.yaml), its partner or group and its generated password "
                                   "(kept in the state dir's secrets.json, never in git), then how to connect "
                                   "with the Trino CLI, JDBC and Python. Also refreshes the local Trino's users, "
                                   "groups and access rules.")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("spec", help="check and describe the dataset specs in lake_config/")
    p.add_argument("action", choices=["validate", "list", "schema"],
                   help="validate: load and check every spec; list: one line each; schema: print the JSON Schema")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_spec)

    p = sub.add_parser("run", help="run datasets end to end (land, bronze, silver, gold, publish) for one date",
                       description="Run the named datasets (or domains), then the gold tables built from them, "
                                   "in this process with one shared Spark session; prints each step's row "
                                   "accounting. With --airflow, run their DAGs (and those of the gold built from them) "
                                   "with `airflow dags test`.")
    p.add_argument("targets", nargs="*", metavar="DATASET", help="datasets or domains (e.g. enterprises, admin_units)")
    p.add_argument("--all", action="store_true", help="run every dataset")
    p.add_argument("--date", default=today, help=f"logical date YYYY-MM-DD (default: today, {today})")
    p.add_argument("--airflow", action="store_true", help="run through the datasets' Airflow DAGs instead")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("ingest", help="land local files for a dataset, then run it through silver and gold",
                       description="Upload FILE... into landing/<dataset>/<date>/, then run bronze, silver, "
                                   "publish and the gold tables built from the dataset, printing the accounting.")
    p.add_argument("dataset", help="a files, stream or documents dataset")
    p.add_argument("files", nargs="+", metavar="FILE", help="local files to land (names are kept)")
    p.add_argument("--date", default=today, help=f"logical date YYYY-MM-DD (default: today, {today})")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("maintain", help="compact (OPTIMIZE, Z-order from the spec) and VACUUM datasets' tables",
                       description="OPTIMIZE every Delta table of the datasets (Z-ordered by the spec's "
                                   "maintenance.zorder_by) and VACUUM it with maintenance.vacuum_retain_hours.")
    p.add_argument("targets", nargs="*", metavar="DATASET", help="datasets to maintain")
    p.add_argument("--all", action="store_true", help="every dataset")
    p.add_argument("--date", default=today, help="logical date recorded in the run log (default: today)")
    p.set_defaults(func=cmd_maintain)

    p = sub.add_parser("generate", help="play the demo sources for a date: land files, update the demo database",
                       description="Deterministic demo data (seeded): the enterprise registry (Windows-1258 CSV), "
                                   "the citizen register (CSV with BOM), sensors (Parquet), IoT readings (JSON "
                                   "Lines drops), dossier documents (PDF, scans), province report forms (.xlsx) "
                                   "land in S3; procedures and dossiers are upserted into PostgreSQL.")
    p.add_argument("datasets", nargs="*", help="only these demo datasets (default: all)")
    p.add_argument("--date", default=today, help="the day the sources deliver (default: today)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default: 1.0)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("demo", help="install, start the stack, play the demo sources for two days, run every "
                                    "dataset, query gold in Trino")
    p.add_argument("--date", default=today, help="the last demo day (default: today)")
    p.add_argument("--days", type=int, default=2, help="how many days to play, ending at --date (default: 2)")
    p.add_argument("--seed", type=int, default=2026, help="random seed of the demo data (default: 2026)")
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier of the demo data (default: 1.0)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("quality", help="show datasets' quality: scores per dimension, trend, failing rules, "
                                       "quarantine, freshness",
                       description="Print each dataset's quality report (đúng, đủ, sạch, sống and overall, 0-100), "
                                   "read through Trino from lake.ops.quality_scorecard and quality_results, and "
                                   "write the quality site (HTML, Vietnamese and English) under "
                                   "<state>/quality/site. Without DATASET: every source dataset.")
    p.add_argument("datasets", nargs="*", metavar="DATASET", help="source datasets (default: all)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="text (default) or json")
    p.add_argument("--lang", choices=["vi", "en"], default="vi", help="language of the text (default: vi)")
    p.add_argument("--site", action="store_true", help="also rebuild the HTML site for these datasets")
    p.add_argument("--check-freshness", action="store_true",
                   help="first check freshness (newest record, last load) against each spec's SLA")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser("quarantine", help="work with quarantined rows: replay them after a fix",
                       description="replay DATASET: re-process the dataset's open quarantine rows with today's "
                                   "spec and master data; rows that now pass are merged into silver, the rest "
                                   "stay quarantined with today's reasons. The accounting is printed and logged.")
    p.add_argument("action", choices=["replay"], help="replay: re-process open quarantine rows")
    p.add_argument("dataset", help="a source dataset")
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("catalog", help="write the open-data, big-data and master/shared catalogs (DCAT-AP "
                                       "JSON-LD); --export also refreshes the open-data downloads",
                       description="Write <catalog>.jsonld for the three catalogs of the National Data Strategy "
                                   "(open_data, big_data, master_shared): one dcat:Catalog each, listing the "
                                   "datasets whose spec names it in `catalogs:`, with titles and descriptions "
                                   "in Vietnamese and English, licence, update frequency, the Trino table and "
                                   "(open data) the CSV and Parquet downloads, and each dataset's quality "
                                   "scores and freshness read through Trino (lake.ops.quality_scorecard). "
                                   "Publisher, contact and default licence: lake_config/catalogs.yaml. With "
                                   "--export, first export every open dataset as CSV and Parquet to "
                                   "s3://<bucket>/open_data/<dataset>/ and <state>/portal/open_data/<dataset>/.")
    p.add_argument("--catalog", choices=["open_data", "big_data", "master_shared"],
                   help="write only this catalog (default: all three)")
    p.add_argument("--out", metavar="DIR", help="folder for the .jsonld files (default: <state>/portal/catalog)")
    p.add_argument("--export", action="store_true",
                   help="first export every open dataset (CSV, Parquet, manifest.json) for download")
    p.add_argument("--no-quality", action="store_true",
                   help="do not read scores and freshness from Trino (the catalogs from the specs alone)")
    p.add_argument("--date", default=today, help="logical date recorded in the export manifests (default: today)")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("sharing", help="Delta Sharing for partner ministries: tokens, profiles, shares, audit",
                       description="Partners of lake_config/access.yaml read the gold tables granted to them "
                                   "with any Delta Sharing client (the server: `lake up sharing`). "
                                   "token PARTNER: create or rotate its bearer token (valid for its token_ttl), "
                                   "print it once and write its profile file; revoke PARTNER: refuse its tokens "
                                   "from now on; list: each partner's token state and shared tables, and the "
                                   "grants that cannot be shared (row filters, masked personal columns: those "
                                   "are read through Trino); audit: the last requests served.")
    p.add_argument("action", choices=["token", "revoke", "list", "audit"], help="what to do")
    p.add_argument("partner", nargs="?", help="a partner of lake_config/access.yaml (token, revoke)")
    p.add_argument("--out", metavar="FILE", help="token: write the profile here (default: "
                                                 "<state>/sharing/profiles/PARTNER.share)")
    p.add_argument("-n", "--lines", type=int, default=50, help="audit: how many of the last requests (default 50)")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_sharing)

    p = sub.add_parser("usage", help="usage statistics per dataset: queries, users, bytes read, Delta Sharing reads",
                       description="Per dataset: finished Trino queries that read one of its tables, distinct "
                                   "users, bytes read, Delta Sharing reads and partners, first and last access "
                                   "(from lake.ops.table_reads and lake.ops.sharing_log). Loads the new query "
                                   "events and sharing audit lines first (python -m jobs.usage) unless --no-load. "
                                   "The platform's own service user's queries are left out unless "
                                   "--include-service.")
    period = p.add_mutually_exclusive_group()
    period.add_argument("--year", type=int, metavar="YYYY", help="one calendar year (UTC), e.g. for the yearly "
                                                                  "evaluation of the portal")
    period.add_argument("--since", type=_date_arg, metavar="DATE", help="from this date (YYYY-MM-DD, UTC) on")
    p.add_argument("--dataset", metavar="NAME", help="only this dataset")
    p.add_argument("--include-service", action="store_true", help="count the platform's service user's queries too")
    p.add_argument("--no-load", action="store_true", help="show what was loaded already; do not load first")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_usage)

    p = sub.add_parser("audit", help="who queried or shared what, and when (newest first)",
                       description="Every Trino query (finished, failed or refused, with the tables it read) and "
                                   "every Delta Sharing request, newest first, from lake.ops.query_log, "
                                   "lake.ops.table_reads and lake.ops.sharing_log. Loads what is new first unless "
                                   "--no-load. A query refused before it read anything names no table; "
                                   "--dataset then matches the dataset's name in its text.")
    p.add_argument("--user", metavar="U", help="only this Trino user, or this Delta Sharing partner")
    p.add_argument("--dataset", metavar="D", help="only queries that read (or named) this dataset, and its "
                                                  "sharing requests")
    p.add_argument("--since", type=_date_arg, metavar="DATE", help="from this date (YYYY-MM-DD, UTC) on")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="at most N rows (default 100)")
    p.add_argument("--include-service", action="store_true", help="also the platform's service user's queries")
    p.add_argument("--no-load", action="store_true", help="show what was loaded already; do not load first")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("airflow", help="run the airflow CLI with this checkout's configuration")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for `airflow`")
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    main()
