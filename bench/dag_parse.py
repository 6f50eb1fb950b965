"""How long Airflow takes to parse our DAG file, against a file with one empty DAG (the reference).

Each measurement is a fresh Python process (as the dag-processor's parsing
subprocess is): the time to import Airflow, then the time DagBag takes to
collect the folder.  Our file reads every spec and builds one DAG per dataset;
the reference pays only Airflow's own cost of a DAG file.

    .venv/bin/python bench/dag_parse.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, write_results  # noqa: E402

EMPTY_DAG = '''
import datetime as dt
from airflow.sdk import DAG
with DAG(dag_id="empty", schedule=None, start_date=dt.datetime(2025, 7, 1)):
    pass
'''

PROBE = '''
import json, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
parsed = time.perf_counter()
assert not bag.import_errors, bag.import_errors
print(json.dumps({"import_airflow_s": imported - started, "parse_s": parsed - imported, "dags": len(bag.dag_ids),
                  "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
'''


def measure(folder: Path, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PROBE, str(folder)], capture_output=True, text=True,
                             check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"parse_s_median": round(statistics.median(r["parse_s"] for r in runs), 3),
            "parse_s_all": [round(r["parse_s"], 3) for r in runs],
            "import_airflow_s_median": round(statistics.median(r["import_airflow_s"] for r in runs), 3),
            "dags": runs[0]["dags"], "tasks": runs[0]["tasks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results: dict = {"command": f"python bench/dag_parse.py --repeat {args.repeat}",
                     "when": dt.datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "empty_dag.py").write_text(EMPTY_DAG)
        results["reference_one_empty_dag"] = measure(Path(tmp), args.repeat)
    results["lake_dags"] = measure(ROOT / "dags", args.repeat)
    results["lake_over_reference_s"] = round(results["lake_dags"]["parse_s_median"]
                                             - results["reference_one_empty_dag"]["parse_s_median"], 3)
    write_results("dag_parse", results)


if __name__ == "__main__":
    main()
