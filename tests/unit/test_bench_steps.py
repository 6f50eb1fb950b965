"""The step benchmark's pure parts: reading `lake run`'s summary and summarising it."""

from bench.steps import parse_summary, summarise

OUT = """
[lake] 5/5 steps done in 20s
step    | dataset    | in   | written | quarantined | duplicates | seconds
--------+------------+------+---------+-------------+------------+--------
land    | procedures |      |         |             |            | 1.5
silver  | procedures | 20   | 20      | 0           | 0          | 4.0
silver  | dossiers   | 20000| 19000   | 1000        | 0          | 9.0
silver  | citizens   | 564  | 562     | 2           | 0          | 6.0
publish | procedures |      |         |             |            | 0.3
(5 rows)
"""


def test_the_summary_table_is_read_step_by_step():
    steps = parse_summary(OUT)
    assert [(s["step"], s["dataset"], s["rows_in"], s["seconds"]) for s in steps] == [
        ("land", "procedures", None, 1.5), ("silver", "procedures", 20, 4.0), ("silver", "dossiers", 20000, 9.0),
        ("silver", "citizens", 564, 6.0), ("publish", "procedures", None, 0.3)]


def test_small_silver_steps_are_summarised_apart():
    summary = summarise(parse_summary(OUT))
    assert summary["silver"] == {"steps": 3, "median": 6.0, "max": 9.0}
    assert summary["silver_small"] == {"steps": 2, "median": 5.0, "max": 6.0, "rows_at_most": 10_000}
    assert "gold" not in summary
