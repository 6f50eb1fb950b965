"""`lake contributions submit|list|show|spec|approve|reject`: data that enterprises, citizens and other agencies
offer, checked, reviewed by a steward, then run through the lake like the ministry's own."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from lakehouse.cli.output import FORMAT, format_records
from lakehouse.core.errors import LakeError


def _publish(settings, c, date: str) -> None:
    """Land the approved file, run it through bronze, silver and publish, export it and write the catalogs."""
    import tempfile

    from jobs import export_open_data
    from lakehouse.cli.data import run_pipeline
    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration import pipeline
    from lakehouse.serving import catalog_publish
    from lakehouse.serving.contributions import store

    with tempfile.TemporaryDirectory(prefix="contribution-") as tmp:
        local = Path(tmp) / f"{c.code}.csv"
        local.write_bytes(store.landed_file(settings, c))
        pipeline.land_files(c.dataset, [local], date)
    run_pipeline(pipeline.plan(load_specs(), [c.dataset], with_land=False), date)
    manifest = export_open_data.run(c.dataset, date)
    print(f"[lake] exported {c.dataset}: {manifest.get('rows', '?')} rows as CSV and Parquet", flush=True)
    for path in catalog_publish.publish(["open_data"], None, with_facts=True, settings=settings):
        print(f"[lake] {path}", flush=True)


def cmd_contributions(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.serving.contributions import store

    settings = get_settings()
    by = args.by or f"{getpass.getuser()} (lake contributions)"
    if args.action == "submit":
        if not args.target:
            raise LakeError("give the FILE to submit")
        path = Path(args.target)
        if not path.is_file():
            raise LakeError(f"{path}: no such file")
        c, checked = store.submit(settings, path.read_bytes(), path.name, title=args.title or "",
                                  description=args.description or "", license=args.license,
                                  organisation=args.organisation or "", contact=args.contact or "", by=by,
                                  updates=args.updates)
        print(f"[lake] {c.code}: {c.status}" + (f" ({checked['rows']} rows, {len(checked['columns'])} columns)"
                                                 if "rows" in checked else ""))
        _print_checks(checked)
        return
    if args.action == "token":
        token = store.issue_token(settings, args.organisation or "", args.contact or "", by)
        print(f"[lake] a contributor token for {args.organisation} (shown once; only its hash is kept):\n{token}\n"
              f"  curl -H 'Authorization: Bearer {token}' -F file=@data.csv -F title=… -F description=… "
              f"-F license=CC-BY-4.0 "
              f"http://{settings.host_of('portal')}:{settings.env.services.portal.port}/api/contributions")
        return
    if args.action == "requests":
        from lakehouse.serving.contributions import wishes

        columns = ["id", "status", "title", "organisation", "asked_at", "answer", "answered_by"]
        rows = [r for r in wishes.requests(settings) if args.all or r.status == "open"]
        print(format_records(columns, rows, args.format))
        return
    if args.action == "answer":
        from lakehouse.serving.contributions import wishes

        answered = wishes.answer(settings, args.target or "", args.status or "", args.reason or "", by)
        print(f"[lake] {answered.id}: {answered.status}; the portal's /data-requests shows the answer")
        return
    if args.action == "list":
        rows = [c for c in store.contributions(settings).values() if args.all or c.status in ("review", "blocked")]
        columns = ["code", "status", "title", "organisation", "filename", "bytes", "submitted_at", "dataset",
                   "decided_by", "reason"]
        print(format_records(columns, rows, args.format))
        return
    if not args.target:
        raise LakeError(f"lake contributions {args.action} needs a tracking code (see `lake contributions list`)")
    code = args.target
    if args.action == "show":
        c, checked = store.get(settings, code), store.report(settings, code)
        if args.format == "json":
            print(json.dumps({"contribution": {k: v for k, v in vars(c).items() if k != "history"},
                              "history": [list(h) for h in c.history], "report": checked},
                             ensure_ascii=False, indent=1))
            return
        for key in ("code", "status", "title", "organisation", "contact", "license", "filename", "format", "bytes",
                    "submitted_at", "updates", "dataset", "decided_by", "decided_at", "reason"):
            if getattr(c, key):
                print(f"{key:13} {getattr(c, key)}")
        _print_checks(checked)
        return
    if args.action == "spec":
        c = store.get(settings, code)
        print(store.spec_text(store.proposed_spec(c, store.report(settings, code))), end="")
        return
    if args.action == "reject":
        c = store.reject(settings, code, by, args.reason or "")
        print(f"[lake] {c.code}: rejected; its status page shows the reason")
        return
    if args.action == "approve":
        if args.spec and not Path(args.spec).is_file():
            raise LakeError(f"{args.spec}: no such file (write it with `lake contributions spec {code} > FILE`)")
        text = Path(args.spec).read_text(encoding="utf-8") if args.spec else None
        c, path = store.approve(settings, code, by, text)
        print(f"[lake] {c.code}: approved as {c.dataset} (spec {path}); landing it and running bronze, silver, "
              "publish", flush=True)
    else:  # publish: the load of an approved contribution (the portal's approval), or again after a failure
        c = store.get(settings, code)
        if c.status not in ("approved", "failed"):
            raise LakeError(f"{code} is {c.status}: only an approved contribution (or one whose load failed) is "
                            "published")
    try:
        _publish(settings, c, args.date)
    except BaseException as exc:
        store.record_outcome(settings, code, "failed", by, f"{exc.__class__.__name__}: {exc}"[:1000])
        raise
    store.record_outcome(settings, code, "published", by)
    print(f"[lake] {c.code}: published as lake.silver.{c.dataset}, in the open-data catalog and the portal")


def _print_checks(checked: dict) -> None:
    if checked.get("refusal"):
        print(f"  refused: {checked['refusal']['en']}\n  từ chối: {checked['refusal']['vi']}")
    for f in checked.get("personal_data", []):
        print(f"  personal data: {f['message']['en']}\n  dữ liệu cá nhân: {f['message']['vi']}")
    if checked.get("columns"):
        print("  columns: " + ", ".join(f"{c['name']} {c['type']}" + (f" ({c['nulls']} empty)" if c["nulls"] else "")
                                        for c in checked["columns"]))
        print(f"  key: {', '.join(checked['key'])}")


def add_contributions(sub, today: str) -> None:
    p = sub.add_parser(
        "contributions", help="data offered by enterprises, citizens and other agencies: submit, list, show, "
                              "approve, reject",
        description="submit FILE: check a contributed file (CSV, JSON Lines, Parquet or xlsx, by its content) and "
                    "keep it with its check report in s3://<bucket>/contributions/<code>/; it never touches the "
                    "lake's tables. The checks: the bronze file checks, the schema its values imply with a "
                    "candidate key, and a personal-data scan (CCCD/CMND numbers, mobile numbers, tax codes, "
                    "e-mail addresses, people's names) that blocks it while any remain. list: those awaiting "
                    "review or blocked (--all: every one). show CODE: its status and report. spec CODE: the spec "
                    "an approval writes, to edit and give to approve --spec. approve CODE: write the spec into "
                    "lake_config/datasets/contributed/ (open data, with its provenance), land the file, run it "
                    "through bronze, silver and publish, export it and write the open-data catalog. publish CODE: "
                    "that load again, for an approved contribution whose load failed (or one approved on the portal). "
                    "reject "
                    "CODE --reason TEXT. token --organisation NAME --contact EMAIL: a token for the portal's API "
                    "(POST /api/contributions). requests: what the public asked to be published on the portal's "
                    "/data-requests (--all: answered ones too); answer ID --status planned|published|declined "
                    "--reason TEXT. Every step is one line of <state>/contributions/events.jsonl.")
    p.add_argument("action", choices=["submit", "list", "show", "spec", "approve", "publish", "reject", "token",
                                       "requests", "answer"], help="what to do")
    p.add_argument("target", nargs="?", metavar="FILE|CODE|ID",
                   help="submit: the file; answer: a data request's id, dr-…; others: a tracking code, dg-…")
    p.add_argument("--title", help="submit: the dataset's title, in Vietnamese (5-200 characters)")
    p.add_argument("--description", help="submit: what the data is, in Vietnamese (10-5000 characters)")
    p.add_argument("--license", default="CC-BY-4.0",
                   help="submit: the licence the contributor attests (CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0, ODbL-1.0, "
                        "PDDL-1.0; default CC-BY-4.0)")
    p.add_argument("--organisation", help="submit, token: who offers it (an enterprise, agency or person)")
    p.add_argument("--contact", help="submit, token: an e-mail address the steward answers")
    p.add_argument("--updates", metavar="DATASET", help="submit: the contributed dataset this file replaces")
    p.add_argument("--spec", metavar="FILE", help="approve: the (edited) spec to write instead of the proposed one")
    p.add_argument("--reason", help="reject: why (shown to the contributor); answer: the answer shown on the portal")
    p.add_argument("--status", choices=["planned", "published", "declined"], help="answer: what happens to it")
    p.add_argument("--by", help="who submits or decides (default: your login name)")
    p.add_argument("--date", default=today, help=f"approve: the logical date of the load (default: today, {today})")
    p.add_argument("--all", action="store_true", help="list, requests: every one, not only the open ones")
    p.add_argument("--format", **FORMAT)
    p.set_defaults(func=cmd_contributions)
