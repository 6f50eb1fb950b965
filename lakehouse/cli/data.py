"""`lake spec|run|ingest|maintain|generate|demo`: the specs, and running datasets through the layers."""

from __future__ import annotations

import argparse
import json
import time

from lakehouse.cli.output import FORMAT, format_rows
from lakehouse.cli.serving import cmd_catalog
from lakehouse.cli.stack import cmd_up
from lakehouse.core.errors import LakeError


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


def _domain_of(target: str) -> str:
    from lakehouse.config.spec import load_specs
    specs = load_specs()
    if target in specs.domains:
        return target
    if target in specs.datasets:
        return specs.datasets[target].domain
    raise LakeError(f"{target!r} is neither a domain ({', '.join(specs.domains)}) nor a dataset in lake_config")


def run_pipeline(steps, date: str) -> None:
    """Run ``steps`` in this process, then print their accounting table, also after a failure."""
    from lakehouse.orchestration import pipeline

    started = time.monotonic()
    results = []
    try:
        results = pipeline.run_steps(steps, date)
    finally:
        if results:
            print("\n" + format_rows(pipeline.SUMMARY_COLUMNS, pipeline.summary_rows(results)))
        print(f"[lake] {len(results)}/{len(steps)} steps done in {time.monotonic() - started:.0f}s", flush=True)


def cmd_spec(args: argparse.Namespace) -> None:
    from lakehouse.config.spec import json_schema, load_specs
    if args.action == "schema":
        print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        return
    specs = load_specs()
    if args.action == "validate":
        print(f"ok: {len(specs.datasets)} datasets in {len(specs.domains)} domains are valid")
        return
    rows = [[d.name, d.domain, d.layer, d.classification, ",".join(d.catalogs), d.schedule or ""]
            for d in sorted(specs.datasets.values(), key=lambda d: (d.domain, d.layer, d.name))]
    print(format_rows(["name", "domain", "layer", "classification", "catalogs", "schedule"], rows, args.format))


def add_spec(sub, today: str) -> None:
    p = sub.add_parser("spec", help="check and describe the dataset specs in lake_config/")
    p.add_argument("action", choices=["validate", "list", "schema"],
                   help="validate: load and check every spec; list: one line each; schema: print the JSON Schema")
    p.add_argument("--format", **FORMAT)
    p.set_defaults(func=cmd_spec)


def cmd_run(args: argparse.Namespace) -> None:
    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration import pipeline

    specs = load_specs()
    if args.airflow:
        from lakehouse import services
        from lakehouse.core.settings import get_settings
        from lakehouse.orchestration import airflow_env
        from lakehouse.orchestration.dags import run_order

        for target in args.targets:
            _domain_of(target)  # a clear error for an unknown name
        dags = run_order(specs, list(specs.domains) if args.all else args.targets)
        settings = get_settings()
        services.migrate_airflow(settings)
        print(f"[lake] {len(dags)} DAGs, one after the other (masters first, gold last): {', '.join(dags)}",
              flush=True)
        started = time.monotonic()
        # every DAG's `dag.test` in one Airflow process (the jobs, Great Expectations and Spark opened once)
        code = airflow_env.run_module("lakehouse.orchestration.dagtest", [args.date, *dags], settings)
        if code:
            raise LakeError(f"a DAG run failed (exit {code}); its task logs are above")
        print(f"[lake] {len(dags)} DAG runs for {args.date} in {time.monotonic() - started:.0f}s", flush=True)
        return
    for target in args.targets:
        _domain_of(target)  # a clear error for an unknown name
    targets = list(specs.datasets) if args.all else args.targets
    steps = pipeline.plan(specs, targets)
    print(f"[lake] {len(steps)} steps: " + ", ".join(s.label for s in steps), flush=True)
    run_pipeline(steps, args.date)


def add_run(sub, today: str) -> None:
    p = sub.add_parser("run", help="run datasets end to end (land, bronze, silver, gold, publish) for one date",
                       description="Run the named datasets (or domains), then the gold tables built from them, "
                                   "in this process with one shared Spark session; prints each step's row "
                                   "accounting. With --airflow, run their DAGs (and those of the gold built from them) "
                                   "with Airflow's `dag.test`, one after the other in one process.")
    p.add_argument("targets", nargs="*", metavar="DATASET", help="datasets or domains (e.g. enterprises, admin_units)")
    p.set_defaults(trailing="targets")
    p.add_argument("--all", action="store_true", help="run every dataset")
    p.add_argument("--date", default=today, help=f"logical date YYYY-MM-DD (default: today, {today})")
    p.add_argument("--airflow", action="store_true", help="run through the datasets' Airflow DAGs instead")
    p.set_defaults(func=cmd_run)


def cmd_ingest(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration import pipeline

    if args.detect_encoding:
        detect_encoding(args.dataset, args.files, args.date)
        return
    if not args.files:
        raise LakeError("give the FILE(s) to ingest (or --detect-encoding to see their encoding without ingesting)")
    specs = load_specs()
    pipeline.land_files(args.dataset, [Path(f) for f in args.files], args.date)
    steps = pipeline.plan(specs, [args.dataset], with_land=False)
    run_pipeline(steps, args.date)


def detect_encoding(dataset: str, files: list[str], date: str) -> None:
    """Print the encoding guess of CSV files (local ones, else the dataset's landed files of ``date``), what
    ``encoding: auto`` and the declared encoding would do with each; nothing is landed or read into the lake."""
    from pathlib import Path

    from lakehouse.config.spec import SourceDataset, load_specs
    from lakehouse.engine import filecheck

    spec = load_specs()[dataset]
    if not isinstance(spec, SourceDataset) or spec.source.format != "csv" or spec.source.kind != "files":
        raise LakeError(f"{dataset}: --detect-encoding reads CSV files; this dataset's files are not CSV (an "
                        "xlsx workbook's legacy text is found by its cells' fonts)")
    if files:
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise LakeError(f"no such file: {', '.join(missing)}")
        blobs = [filecheck.LocalBlob(f) for f in files]
    else:
        from lakehouse.core.settings import get_settings
        from lakehouse.io import storage

        settings = get_settings()
        prefix = settings.landing_key(dataset, date, "")
        keys = [k for k in sorted(storage.list_objects(prefix, settings)) if spec.source.matches(k[len(prefix):])]
        if not keys:
            raise LakeError(f"no landed files of {dataset} under s3://{settings.bucket}/{prefix} match "
                            f"{spec.source.pattern!r}; give local FILE(s) instead")
        blobs = [storage.S3Blob(k, settings) for k in keys]
    reports = [filecheck.encoding_report(blob, spec) for blob in blobs]
    columns = ["file", "bytes", "guess", "auto", "declared"]
    print(format_rows(columns, [[r[c] for c in columns] for r in reports]))
    for r in reports:
        for reason in r["reasons"]:
            print(f"\n{reason}")
    print(f"\n[lake] guess: the encodings best first with their confidence, from each file's first "
          f"{filecheck.DETECT_BYTES // 1024} KiB; `encoding: auto` reads a file in the first one when it is "
          "strong and clearly ahead, and refuses it otherwise. Nothing was ingested.")


def add_ingest(sub, today: str) -> None:
    p = sub.add_parser("ingest", help="land local files for a dataset, then run it through silver and gold",
                       description="Upload FILE... into landing/<dataset>/<date>/, then run bronze, silver, "
                                   "publish and the gold tables built from the dataset, printing the accounting. "
                                   "With --detect-encoding, only print which encoding each CSV file looks like.")
    p.add_argument("dataset", help="a files, stream or documents dataset")
    p.add_argument("files", nargs="*", metavar="FILE", help="local files to land (names are kept)")
    p.set_defaults(trailing="files")
    p.add_argument("--date", default=today, help=f"logical date YYYY-MM-DD (default: today, {today})")
    p.add_argument("--detect-encoding", action="store_true",
                   help="ingest nothing: print the encoding guess of each FILE (without FILE: of the dataset's "
                        "files landed on --date), what `encoding: auto` and the declared encoding would do")
    p.set_defaults(func=cmd_ingest)


def cmd_maintain(args: argparse.Namespace) -> None:
    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration.pipeline import Step

    specs = load_specs()
    names = sorted(specs.datasets) if args.all else [specs[t].name for t in args.targets]
    run_pipeline([Step("maintain", n) for n in names], args.date)


def add_maintain(sub, today: str) -> None:
    p = sub.add_parser("maintain", help="compact (OPTIMIZE, Z-order from the spec) and VACUUM datasets' tables",
                       description="OPTIMIZE every Delta table of the datasets (Z-ordered by the spec's "
                                   "maintenance.zorder_by) and VACUUM it with maintenance.vacuum_retain_hours.")
    p.add_argument("targets", nargs="*", metavar="DATASET", help="datasets to maintain")
    p.set_defaults(trailing="targets")
    p.add_argument("--all", action="store_true", help="every dataset")
    p.add_argument("--date", default=today, help="logical date recorded in the run log (default: today)")
    p.set_defaults(func=cmd_maintain)


def cmd_generate(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.demo import land_demo
    land_demo(args.date, args.seed, args.scale, args.datasets or None, settings=get_settings())


def add_generate(sub, today: str) -> None:
    p = sub.add_parser("generate", help="play the demo sources for a date: land files, update the demo database",
                       description="Deterministic demo data (seeded): the enterprise registry (Windows-1258 CSV), "
                                   "the citizen register (CSV with BOM), sensors (Parquet), IoT readings (JSON "
                                   "Lines drops), dossier documents (PDF, scans), province report forms (.xlsx) "
                                   "land in S3; procedures and dossiers are upserted into PostgreSQL.")
    p.add_argument("datasets", nargs="*", help="only these demo datasets (default: all)")
    p.set_defaults(trailing="datasets")
    p.add_argument("--date", default=today, help="the day the sources deliver (default: today)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default: 1.0)")
    p.set_defaults(func=cmd_generate)


def cmd_demo(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.demo import demo_dates, land_demo
    from lakehouse.io import trino

    started = time.monotonic()
    settings = get_settings()
    cmd_up(argparse.Namespace(services=None, no_install=False))
    for date in demo_dates(args.date, args.days):
        print(f"\n[lake] === {date}: the sources deliver, then every dataset runs ===", flush=True)
        land_demo(date, args.seed, args.scale, settings=settings)
        cmd_run(argparse.Namespace(targets=[], all=True, airflow=False, date=date))
    for title, sql in DEMO_QUERIES:
        columns, rows = trino.query(sql, settings)
        print(f"\n-- {title}\ntrino> {sql}")
        print(format_rows(columns, rows))
    from lakehouse.quality import scorecard
    site = scorecard.write_site(scorecard.reports(None, settings), settings)
    print(f"\n[lake] quality site for quality officers: {site} (English: {site.parent / 'en' / 'index.html'}); "
          "`lake quality DATASET` prints one dataset's report")
    # `lake catalog --export`: the open-data downloads, the catalogs and the facts the portal shows
    cmd_catalog(argparse.Namespace(catalog=None, out=None, export=True, no_quality=False, date=date))
    print(f"\n[lake] data portal (search, dataset pages, downloads, DCAT and CKAN harvest): "
          f"http://{settings.host_of('portal')}:{settings.env.services.portal.port}/")
    print(f"\n[lake] demo finished in {time.monotonic() - started:.0f}s. Query more with `lake sql`; "
          "stop everything with `lake down`.")


def add_demo(sub, today: str) -> None:
    p = sub.add_parser("demo", help="install, start the stack, play the demo sources for two days, run every "
                                    "dataset, query gold in Trino")
    p.add_argument("--date", default=today, help="the last demo day (default: today)")
    p.add_argument("--days", type=int, default=2, help="how many days to play, ending at --date (default: 2)")
    p.add_argument("--seed", type=int, default=2026, help="random seed of the demo data (default: 2026)")
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier of the demo data (default: 1.0)")
    p.set_defaults(func=cmd_demo)
