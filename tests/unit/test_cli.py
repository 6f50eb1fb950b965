"""`lake` output formats and argument errors."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest

from lakehouse.cli import build_parser, format_rows, main

COLS = ["province_code", "province_name", "share"]
ROWS = [(1, "Thành phố Hà Nội", Decimal("0.05")), (46, "Thành phố Huế", None)]


def test_table_is_aligned_and_counts_rows():
    out = format_rows(COLS, ROWS).splitlines()
    assert out[0].startswith("province_code | province_name")
    assert out[2].index("|") == out[0].index("|")
    assert out[-1] == "(2 rows)"
    assert "NULL" in out[3]


def test_csv_and_json_round_trip():
    parsed = list(csv.reader(io.StringIO(format_rows(COLS, ROWS, "csv"))))
    assert parsed[0] == COLS and parsed[1] == ["1", "Thành phố Hà Nội", "0.05"] and parsed[2][2] == ""
    data = json.loads(format_rows(COLS, [(1, dt.date(2025, 7, 1), Decimal("1.5"))], "json"))
    assert data == [{"province_code": 1, "province_name": "2025-07-01", "share": "1.5"}]


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for command in ("install", "up", "down", "status", "logs", "sql", "spec", "run", "demo"):
        assert command in text


def test_run_rejects_a_bad_date(capsys):
    with pytest.raises(SystemExit):
        main(["run", "admin_units", "--date", "27/11/2026"])
    assert "is not a date (YYYY-MM-DD)" in capsys.readouterr().err


def test_unknown_service_is_named(capsys):
    with pytest.raises(SystemExit):
        main(["logs", "hdfs"])
    assert "unknown service hdfs" in capsys.readouterr().err


def test_a_spark_error_reaches_the_user_as_one_line_not_a_java_traceback(monkeypatch, capsys):
    from pyspark.errors.exceptions.connect import AnalysisException

    from lakehouse import cli

    def fails(args):
        raise AnalysisException(message="[PATH_NOT_FOUND] Path does not exist: s3a://lake/bronze/x. SQLSTATE: 42K03"
                                        "\n\nJVM stacktrace:\norg.apache.spark.sql.AnalysisException\n\tat org.apache")

    monkeypatch.setattr(cli.stack, "cmd_status", fails)  # where `lake status`'s parser looks it up
    monkeypatch.delenv("LAKE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["status"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "PATH_NOT_FOUND" in err and "lake logs spark" in err
    assert "JVM stacktrace" not in err and "at org.apache" not in err and "Traceback" not in err


def test_an_error_that_is_not_spark_s_keeps_its_traceback(monkeypatch):
    from lakehouse import cli

    monkeypatch.setattr(cli.stack, "cmd_status", lambda args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["status"])


def test_ingest_detect_encoding_prints_the_guess_and_ingests_nothing(tmp_path, capsys):
    from lakehouse.core import legacy_text

    path = tmp_path / "dn.csv"  # the enterprise registry (declared windows-1258), delivered in TCVN3
    path.write_bytes(legacy_text.encode("tax_code;enterprise_name\n0101;Công ty Hoà Bình Bậc\n", "tcvn3"))
    for argv in (["ingest", "enterprises", str(path), "--detect-encoding"],
                 ["ingest", "enterprises", "--detect-encoding", str(path)]):  # a file after the option, too
        main(argv)
        out = capsys.readouterr().out
        assert "tcvn3 1.00" in out and "windows-1258: refused [encoding]" in out
        assert "declared windows-1258 but reads as tcvn3" in out and "Nothing was ingested" in out


def test_an_unknown_option_after_the_files_is_still_an_error(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "enterprises", "a.csv", "--detect-encodings", "b.csv"])
    assert "unrecognized arguments: --detect-encodings b.csv" in capsys.readouterr().err


def test_ingest_without_files_says_what_to_give(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "enterprises"])
    assert "give the FILE(s) to ingest" in capsys.readouterr().err
