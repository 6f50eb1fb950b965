"""Great Expectations adapter: validate a Spark DataFrame against a spec's suite.

The file context (suites, results, Data Docs) lives in ``<state>/quality/gx``.
This is the only module that talks to the Great Expectations runtime.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame

from lakehouse.settings import Settings, get_settings
from lakehouse.spec import SourceDataset


@dataclass
class RuleResult:
    rule_id: str
    dimension: str
    action: str
    success: bool
    unexpected_count: int | None


@dataclass
class Validation:
    success: bool            # False when any rule with action `fail` failed
    results: list[RuleResult]
    docs_index: Path | None

    @property
    def failed_rules(self) -> list[RuleResult]:
        return [r for r in self.results if not r.success]


def context_root(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    root = settings.state_dir / "quality"
    root.mkdir(parents=True, exist_ok=True)
    return root


def validate(df: DataFrame, spec: SourceDataset, run_name: str, settings: Settings | None = None) -> Validation:
    """Run the spec's suite on ``df`` (one whole-frame batch) and rebuild Data Docs."""
    import great_expectations as gx

    from expectations.suites import suite_for

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="file", project_root_dir=str(context_root(settings)))
    context.variables.progress_bars = {"globally": False}  # job logs, not a terminal
    source = context.data_sources.add_or_update_spark(name="lake_spark")
    asset_name = f"{spec.name}__silver"
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        batch_def = asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(suite_for(spec))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=asset_name, data=batch_def, suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=asset_name, validation_definitions=[definition],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
        result_format={"result_format": "SUMMARY"}))
    outcome = checkpoint.run(batch_parameters={"dataframe": df}, run_id=gx.RunIdentifier(run_name=run_name))

    results: list[RuleResult] = []
    for validation in outcome.run_results.values():
        for r in validation.results:
            meta = r.expectation_config.meta or {}
            results.append(RuleResult(rule_id=meta.get("rule_id", r.expectation_config.type),
                                      dimension=meta.get("dimension", ""), action=meta.get("action", "fail"),
                                      success=bool(r.success),
                                      unexpected_count=(r.result or {}).get("unexpected_count")))
    blocking_failed = any(not r.success and r.action == "fail" for r in results)
    docs = context_root(settings) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return Validation(success=not blocking_failed, results=results, docs_index=docs if docs.exists() else None)
