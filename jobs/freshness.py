"""Check that a dataset is current (sống): its newest record and its last successful load.

Runs on a schedule (the ``lake__quality`` DAG, or ``lake quality --check-freshness``),
not only when data arrives, so a source that stops delivering shows up as late.
The result is a scorecard row of kind ``freshness``: the sống score from this
check, the other dimensions carried over from the dataset's last load.
"""

from __future__ import annotations

from lakehouse.config.spec import SourceDataset
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun
from lakehouse.io.spark import get_spark
from lakehouse.quality import validation


def run(dataset: str, date: str) -> list[validation.RuleResult]:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "freshness is declared on source datasets")
    if spec.freshness is None:
        raise jobrun.LakeError(f"{dataset} declares no freshness SLA (add `freshness:` to its spec)")
    spark = get_spark(f"freshness {dataset}", settings)
    results = validation.check_freshness(spark, spec, settings)
    validation.print_results(results)
    judged = validation.record(spark, spec, jobrun.batch_id(dataset, date), "freshness", "checked", results,
                               accounting=None, settings=settings, carry_over=True)
    late = [r.rule_id for r in results if not r.success]
    print(f"[freshness] {dataset}: sống {judged['song']:.1f}" + (f"; late: {', '.join(late)}" if late else "; on time"),
          flush=True)
    return results


if __name__ == "__main__":
    jobrun.main(__doc__, run)
