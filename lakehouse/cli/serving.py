"""`lake sql|users|catalog|sharing|usage|audit`: what analysts, partners and the portal read."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from lakehouse.cli.output import FORMAT, date_arg, format_records, format_rows
from lakehouse.core.errors import LakeError


def _usage_report(sql: str, args: argparse.Namespace) -> None:
    """Load what the events service and the sharing server wrote (unless --no-load), then run ``sql`` on Trino."""
    from lakehouse.core.settings import get_settings
    from lakehouse.io import trino

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


def cmd_sql(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.io import trino
    settings = get_settings()
    sql = args.query if args.query != "-" else sys.stdin.read()
    try:
        if args.user:
            from lakehouse.serving.trino_security import users
            known = {r["user"]: r["password"] for r in users(settings)}
            if args.user not in known:
                raise LakeError(f"no Trino user {args.user!r} (known: {', '.join(sorted(known))}); "
                                f"users are listed in lake_config/access.yaml")
            columns, rows = trino.query(sql, settings, user=args.user, password=known[args.user])
        else:
            columns, rows = trino.query(sql, settings)
    except Exception as exc:  # the trino client raises many types; show the server's message
        if exc.__class__.__module__.startswith(("trino", "requests", "urllib3")):
            raise LakeError(f"Trino: {getattr(exc, 'message', None) or exc}") from exc
        raise
    print(format_rows(columns, rows, args.format))


def add_sql(sub, today: str) -> None:
    p = sub.add_parser("sql", help="run a SQL query on Trino and print the result")
    p.add_argument("query", help="the SQL text, or - to read it from standard input")
    p.add_argument("--format", **FORMAT)
    p.add_argument("--user", help="run as this user of lake_config/access.yaml (default: the platform's "
                                  "service user), to see what it sees")
    p.set_defaults(func=cmd_sql)


def cmd_users(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.serving.trino_security import how_to_connect, refresh, users
    settings = get_settings()
    rows = users(settings)
    if refresh(settings):
        print("[lake] users, groups and access rules regenerated for the local Trino (effective within 5 s)",
              file=sys.stderr)
    columns = ["user", "member_of", "password"]
    print(format_rows(columns, [[r[c] for c in columns] for r in rows], args.format))
    if args.format == "table":
        print("\n" + how_to_connect(settings))


def add_users(sub, today: str) -> None:
    p = sub.add_parser("users", help="Trino users, their generated passwords, and how to connect",
                       description="Print every Trino user (the platform's service user and the users of "
                                   "lake_config/access.yaml), its partner or group and its generated password "
                                   "(kept in the state dir's secrets.json, never in git), then how to connect "
                                   "with the Trino CLI, JDBC and Python. Also refreshes the local Trino's users, "
                                   "groups and access rules.")
    p.add_argument("--format", **FORMAT)
    p.set_defaults(func=cmd_users)


def cmd_catalog(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lakehouse.core.settings import get_settings
    from lakehouse.serving import catalog_publish

    settings = get_settings()
    try:
        if not args.no_quality:
            from lakehouse.io import trino
            trino.register_ops(settings)  # the scorecard and run log, once they exist
        if args.export:
            from jobs import export_open_data

            manifests = export_open_data.run_all(args.date)
            print(f"[lake] exported {len(manifests)} open dataset(s)", flush=True)
        names = [args.catalog] if args.catalog else None
        paths = catalog_publish.publish(names, Path(args.out) if args.out else None, with_facts=not args.no_quality,
                                        settings=settings)
    except Exception as exc:  # the trino, minio and HTTP clients raise many types; say what to do
        if exc.__class__.__module__.startswith(("trino", "requests", "urllib3", "minio")):
            raise LakeError(f"catalog: cannot read the lake through Trino and S3 ({exc.__class__.__name__}: "
                            f"{getattr(exc, 'message', None) or exc}); start them with `lake up`, or write the "
                            "catalogs from the specs alone with --no-quality") from exc
        raise
    for path in paths:
        print(f"[lake] {path}")


def add_catalog(sub, today: str) -> None:
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
                                   "s3://<bucket>/open_data/<dataset>/ and <state>/portal/open_data/<dataset>/. "
                                   "The facts read (scores, trend, freshness, exports, this year's use) are kept "
                                   "in facts.json beside the files: what the data portal (`lake up portal`) shows.")
    p.add_argument("--catalog", choices=["open_data", "big_data", "master_shared"],
                   help="write only this catalog (default: all three)")
    p.add_argument("--out", metavar="DIR", help="folder for the .jsonld files (default: <state>/portal/catalog)")
    p.add_argument("--export", action="store_true",
                   help="first export every open dataset (CSV, Parquet, manifest.json) for download")
    p.add_argument("--no-quality", action="store_true",
                   help="do not read scores and freshness from Trino (the catalogs from the specs alone)")
    p.add_argument("--date", default=today, help="logical date recorded in the export manifests (default: today)")
    p.set_defaults(func=cmd_catalog)


def cmd_sharing(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lakehouse.core.settings import get_settings
    from lakehouse.serving import sharing

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


def add_sharing(sub, today: str) -> None:
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
    p.add_argument("--format", **FORMAT)
    p.set_defaults(func=cmd_sharing)


def cmd_access(args: argparse.Namespace) -> None:
    import getpass

    from lakehouse.core.settings import get_settings
    from lakehouse.serving import access_requests as ar

    settings = get_settings()
    if args.action == "requests":
        rows = [r for r in ar.request_log(settings).all() if args.all or r.status == "pending"]
        columns = ["id", "dataset", "partner", "user", "requested_at", "status", "decided_by", "legal_basis",
                   "purpose", "note"]
        print(format_records(columns, rows, args.format))
        return
    if not args.request:
        raise LakeError(f"lake access {args.action} needs a request id (see `lake access requests`)")
    by = args.by or f"{getpass.getuser()} (lake access)"
    decided = ar.decide(settings, args.request, args.action == "approve", by, args.note or "")
    if decided.status == "approved":
        print(f"[lake] {decided.id}: {decided.partner} is granted {decided.dataset}; the grant is written into "
              f"the dataset's spec, Trino's rules are rewritten (effective within 5 s) and Delta Sharing serves it "
              f"from the partner's next request")
    else:
        print(f"[lake] {decided.id}: rejected; the partner reads the reason on the portal")


def add_access(sub, today: str) -> None:
    p = sub.add_parser("access", help="partners' requests for shared data: list, approve, reject",
                       description="Partners ask for a shared gold dataset on the portal, with the purpose and "
                                   "the legal basis. requests: the pending ones (--all: every one, with its "
                                   "decision); approve ID: write the grant into the dataset's spec file and "
                                   "publish it to Trino and Delta Sharing; reject ID --note REASON: refuse it, "
                                   "the partner reads the reason. Every request and decision is kept in "
                                   "<state>/access/requests.jsonl.")
    p.add_argument("action", choices=["requests", "approve", "reject"], help="what to do")
    p.add_argument("request", nargs="?", help="a request id, yc-… (approve, reject)")
    p.add_argument("--note", help="approve: an optional note; reject: the reason (required)")
    p.add_argument("--by", help="who decides (default: your login name)")
    p.add_argument("--all", action="store_true", help="requests: every request, not only the pending ones")
    p.add_argument("--format", **FORMAT)
    p.set_defaults(func=cmd_access)


def cmd_usage(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.serving import usage

    start, end = usage.period(args.year, args.since)
    _usage_report(usage.usage_sql(get_settings().trino_catalog, start, end, args.dataset, args.include_service),
                  args)


def add_usage(sub, today: str) -> None:
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
    period.add_argument("--since", type=date_arg, metavar="DATE", help="from this date (YYYY-MM-DD, UTC) on")
    p.add_argument("--dataset", metavar="NAME", help="only this dataset")
    p.add_argument("--include-service", action="store_true", help="count the platform's service user's queries too")
    p.add_argument("--no-load", action="store_true", help="show what was loaded already; do not load first")
    p.add_argument("--format", **FORMAT)
    p.set_defaults(func=cmd_usage)


def cmd_audit(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.serving import usage

    _usage_report(usage.audit_sql(get_settings().trino_catalog, args.user, args.dataset, args.since, args.limit,
                                  args.include_service), args)


def add_audit(sub, today: str) -> None:
    p = sub.add_parser("audit", help="who queried or shared what, and when (newest first)",
                       description="Every Trino query (finished, failed or refused, with the tables it read) and "
                                   "every Delta Sharing request, newest first, from lake.ops.query_log, "
                                   "lake.ops.table_reads and lake.ops.sharing_log. Loads what is new first unless "
                                   "--no-load. A query refused before it read anything names no table; "
                                   "--dataset then matches the dataset's name in its text.")
    p.add_argument("--user", metavar="U", help="only this Trino user, or this Delta Sharing partner")
    p.add_argument("--dataset", metavar="D", help="only queries that read (or named) this dataset, and its "
                                                  "sharing requests")
    p.add_argument("--since", type=date_arg, metavar="DATE", help="from this date (YYYY-MM-DD, UTC) on")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="at most N rows (default 100)")
    p.add_argument("--include-service", action="store_true", help="also the platform's service user's queries")
    p.add_argument("--no-load", action="store_true", help="show what was loaded already; do not load first")
    p.add_argument("--format", **FORMAT)
    p.set_defaults(func=cmd_audit)
