"""`lake quality|quarantine`: quality reports, freshness checks and replaying quarantined rows."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from lakehouse.cli.data import run_pipeline
from lakehouse.core.errors import LakeError


def cmd_quality(args: argparse.Namespace) -> None:
    from lakehouse.config.spec import load_specs
    from lakehouse.core.settings import get_settings
    from lakehouse.io import trino
    from lakehouse.orchestration.pipeline import Step, run_steps
    from lakehouse.quality import scorecard
    from lakehouse.quality.quality_report import render_text

    specs = load_specs()
    names = [specs[t].name for t in args.datasets] or None
    if args.check_freshness:
        due = [s.name for s in (specs.sources() if names is None else [specs[n] for n in names]) if s.freshness]
        if not due:
            raise LakeError("none of these datasets declares a freshness SLA (`freshness:` in its spec)")
        run_steps([Step("freshness", n) for n in due], dt.date.today().isoformat())
    settings = get_settings()
    trino.register_ops(settings)
    found = scorecard.reports(names, settings)
    site = scorecard.write_site(found, settings) if (args.site or args.check_freshness or names is None) else None
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


def add_quality(sub, today: str) -> None:
    p = sub.add_parser("quality", help="show datasets' quality: scores per dimension, trend, failing rules, "
                                       "quarantine, freshness",
                       description="Print each dataset's quality report (đúng, đủ, sạch, sống and overall, 0-100), "
                                   "read through Trino from lake.ops.quality_scorecard and quality_results, and "
                                   "write the quality site (HTML, Vietnamese and English) under "
                                   "<state>/quality/site. Without DATASET: every source dataset.")
    p.add_argument("datasets", nargs="*", metavar="DATASET", help="source datasets (default: all)")
    p.set_defaults(trailing="datasets")
    p.add_argument("--format", choices=["text", "json"], default="text", help="text (default) or json")
    p.add_argument("--lang", choices=["vi", "en"], default="vi", help="language of the text (default: vi)")
    p.add_argument("--site", action="store_true", help="also rebuild the HTML site for these datasets")
    p.add_argument("--check-freshness", action="store_true",
                   help="first check freshness (newest record, last load) against each spec's SLA")
    p.set_defaults(func=cmd_quality)


def cmd_quarantine(args: argparse.Namespace) -> None:
    from lakehouse.config.spec import GoldDataset, SourceDataset, load_specs
    from lakehouse.orchestration import pipeline
    from lakehouse.orchestration.pipeline import Step

    spec = load_specs()[args.dataset]
    if not isinstance(spec, SourceDataset):
        raise LakeError(f"{args.dataset} is a gold dataset; only source datasets have a quarantine")
    specs = load_specs()
    # the gold tables built from the dataset are rebuilt from the repaired silver table
    golds = [Step(s.job, s.dataset) for s in pipeline.plan(specs, [spec.name], with_land=False)
             if isinstance(specs[s.dataset], GoldDataset)]
    run_pipeline([Step("replay", spec.name), Step("publish", spec.name), *golds], dt.date.today().isoformat())


def add_quarantine(sub, today: str) -> None:
    p = sub.add_parser("quarantine", help="work with quarantined rows: replay them after a fix",
                       description="replay DATASET: re-process the dataset's open quarantine rows with today's "
                                   "spec and master data; rows that now pass are merged into silver, the rest "
                                   "stay quarantined with today's reasons. The accounting is printed and logged.")
    p.add_argument("action", choices=["replay"], help="replay: re-process open quarantine rows")
    p.add_argument("dataset", help="a source dataset")
    p.set_defaults(func=cmd_quarantine)
