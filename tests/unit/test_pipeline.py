"""Which steps `lake run` takes, in which order, and the pure parts of the jobs."""

from jobs.land import watermark_query
from jobs.maintain import statements
from jobs.stream import input_rows
from lakehouse.config.spec import load_specs
from lakehouse.engine import runlog
from lakehouse.engine.jobrun import Accounting
from lakehouse.orchestration.pipeline import plan, source_order


def labels(steps):
    return [s.label for s in steps]


def test_a_source_runs_through_its_layers_then_the_gold_tables_built_from_it():
    steps = labels(plan(load_specs(), ["enterprises"]))
    assert steps == ["bronze enterprises", "silver enterprises", "publish enterprises",
                     "gold enterprises_by_province", "publish enterprises_by_province"]


def test_extracted_sources_are_landed_first_and_file_drops_are_not():
    steps = labels(plan(load_specs(), ["dossiers"]))
    assert steps[:2] == ["land dossiers", "bronze dossiers"]
    assert "land enterprises" not in labels(plan(load_specs(), ["enterprises"]))
    assert labels(plan(load_specs(), ["enterprises"], with_land=False))[0] == "bronze enterprises"


def test_master_data_runs_before_the_datasets_conformed_to_it():
    specs = load_specs()
    order = source_order(specs, [d.name for d in specs.sources()])
    assert order.index("provinces") < order.index("enterprises")
    assert order.index("communes") < order.index("sensors") < order.index("air_quality_readings")
    assert order.index("procedures") < order.index("dossiers")
    steps = labels(plan(specs, list(specs.datasets)))
    first_gold = min(i for i, s in enumerate(steps) if s.startswith("gold "))
    assert all(not s.startswith(("bronze", "silver")) for s in steps[first_gold:])


def test_a_domain_names_all_its_datasets():
    steps = labels(plan(load_specs(), ["air_quality"]))
    assert "silver sensors" in steps and "gold air_quality_hourly_by_province" in steps


def test_the_extract_query_takes_rows_above_the_last_watermark_only():
    assert watermark_query("public.dossiers", "updated_at", None) == "SELECT * FROM public.dossiers"
    assert watermark_query("public.dossiers", "updated_at", "2026-11-26 10:00:00") == \
        "SELECT * FROM public.dossiers WHERE updated_at > '2026-11-26 10:00:00'"
    assert watermark_query("t", "id", "42.000000") == "SELECT * FROM t WHERE id > 42.000000"
    assert watermark_query("t", "c", "it's") == "SELECT * FROM t WHERE c > 'it''s'"


def test_maintenance_optimizes_with_the_spec_z_order_then_vacuums():
    assert statements("delta.`s3a://lake/silver/x`", ["sensor_id", "reading_at"], 168) == [
        "OPTIMIZE delta.`s3a://lake/silver/x` ZORDER BY (`sensor_id`, `reading_at`)",
        "VACUUM delta.`s3a://lake/silver/x` RETAIN 168 HOURS"]
    assert statements("t", [], 0)[0] == "OPTIMIZE t"


def test_stream_input_rows_sum_every_source_of_a_progress_report():
    assert input_rows({"sources": [{"numInputRows": 3}, {"numInputRows": None}]}) == 3
    assert input_rows({}) == 0


def test_a_run_log_row_carries_the_accounting_and_the_outcome():
    acc = Accounting("d", "silver", "d@2026-11-27", rows_in=5, rows_written=3, rows_quarantined=1,
                     duplicates_collapsed=1, status="failed", error="LakeError: x", extra={"late": 2})
    acc.finished_at = acc.started_at
    row = runlog.row(acc)
    assert row[1:10] == ("d", "silver", "d@2026-11-27", "failed", 5, 3, 1, 1, 0)
    assert row[13] == "LakeError: x" and row[14] == '{"late": 2}'
    assert row[11].tzinfo is not None


def test_accounting_reports_without_copying_its_spark_session():
    class Uncopyable:
        def __deepcopy__(self, memo):
            raise RuntimeError("a local SparkSession cannot be copied")

    acc = Accounting("d", "silver", "d@x", rows_in=1, rows_written=1)
    acc.spark = Uncopyable()
    assert "spark" not in acc.as_dict() and acc.as_dict()["rows_in"] == 1
    acc.report()


def test_a_source_reads_files_whose_path_or_name_matches_its_pattern():
    source = load_specs()["citizens"].source  # pattern "*.csv"
    assert source.matches("citizens-2026.csv") and source.matches("sub/folder/citizens.csv")
    assert not source.matches("citizens.txt") and not source.matches("citizens.csv.bak")


def test_lake_ingest_refuses_a_file_the_pattern_does_not_match_before_landing_anything(tmp_path, monkeypatch):
    import pytest

    from lakehouse.core.errors import LakeError
    from lakehouse.io import storage
    from lakehouse.orchestration import pipeline

    landed = []
    monkeypatch.setattr(storage, "put_file", lambda *a, **k: landed.append(a))
    good, odd = tmp_path / "people.csv", tmp_path / "people.txt"
    good.write_text("a\n1\n")
    odd.write_text("a\n1\n")
    with pytest.raises(LakeError, match=r"'\*\.csv'.*people\.txt"):
        pipeline.land_files("citizens", [good, odd], "2026-03-01")
    assert landed == []  # not even the good one: the command is refused whole
