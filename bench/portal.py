"""Benchmark: the data portal's search and dataset pages with 1,000 datasets (issue target: p95 < 200 ms).

Generates ``--datasets`` specs (Vietnamese titles, descriptions, keywords and columns, spread over
domains, catalogs and classifications) and their facts in a folder of their own, starts the portal
server on them as `lake up portal` does (``python -m lakehouse.serving.portal``, its own port and
state folder: no stack needed), and times over HTTP, one request at a time:

* ``search``: the search page for a mix of queries (with and without accents, one to three words,
  with facets, empty);
* ``dataset``: a dataset page;
* ``ckan_search``: ``package_search`` with ``rows=20``;
* the reference, measured in the same run on the same server: ``/health``, the floor of one
  request through uvicorn and FastAPI.

    .venv/bin/python bench/portal.py [--datasets 1000] [--requests 300]

Results: bench/results/portal-<timestamp>.json, with the machine's load at the start and the end;
a one-minute load above 1.5 at the start marks the run ``quiet: false``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import write_results  # noqa: E402

QUIET_LOAD = 1.5
PLACES = ["Hà Nội", "Hải Phòng", "Đà Nẵng", "Huế", "Cần Thơ", "Quảng Ninh", "Nghệ An", "Thanh Hóa", "Khánh Hòa",
          "Lâm Đồng", "Đắk Lắk", "Cà Mau", "An Giang", "Lào Cai", "Sơn La", "Điện Biên", "Tây Ninh", "Đồng Tháp"]
TOPICS = [("dân số", "population"), ("doanh nghiệp", "enterprises"), ("chất lượng không khí", "air quality"),
          ("hồ sơ thủ tục hành chính", "administrative dossiers"), ("trường học", "schools"),
          ("bệnh viện", "hospitals"), ("giao thông", "traffic"), ("lượng mưa", "rainfall"),
          ("đất đai", "land"), ("thuế", "tax"), ("nông nghiệp", "agriculture"), ("du lịch", "tourism"),
          ("điện năng", "electricity"), ("nước sạch", "clean water"), ("lao động", "labour")]
QUERIES = ["ha noi", "Hà Nội", "dan so", "doanh nghiệp", "khong khi", "ho so thu tuc", "truong hoc da nang",
           "benh vien hue", "thue", "nông nghiệp cần thơ", "xyz không có", "", "du lich khanh hoa", "dien nang",
           "nuoc sach lao cai", "giao thong"]


def spec_yaml(i: int, rng: random.Random) -> str:
    place = PLACES[i % len(PLACES)]
    vi, en = TOPICS[(i // len(PLACES)) % len(TOPICS)]
    classification = rng.choice(["open", "open", "shared", "internal"])
    catalogs = {"open": "[open_data]", "shared": "[master_shared]", "internal": "[]"}[classification]
    if classification == "open" and i % 5 == 0:
        catalogs = "[open_data, big_data]"
    domain = f"domain_{i % 12}"
    columns = "\n".join(f"  - {{name: col_{c}, type: string, description: \"{vi} cột {c} ({en} column {c})\"}}"
                        for c in range(8))
    return f"""name: ds_{i:04d}
domain: {domain}
description: "{en.capitalize()} of {place} (generated dataset {i})."
description_vi: "Số liệu {vi} của {place}, bộ dữ liệu sinh số {i}."
grain: one row per record
classification: {classification}
catalogs: {catalogs}
title: {{vi: "{vi.capitalize()} {place} {i}", en: "{en.capitalize()} in {place} {i}"}}
keywords: {{vi: [{vi}, {place}], en: [{en}]}}
schedule: "0 1 * * *"
source: {{kind: files, format: csv}}
columns:
  - {{name: record_id, type: bigint, nullable: false, description: "mã bản ghi (record id)"}}
{columns}
keys: [record_id]
"""


def generate(folder: Path, count: int, seed: int = 2026) -> dict[str, dict]:
    rng = random.Random(seed)
    datasets = folder / "datasets" / "generated"
    datasets.mkdir(parents=True)
    facts = {}
    for i in range(count):
        (datasets / f"ds_{i:04d}.yaml").write_text(spec_yaml(i, rng), encoding="utf-8")
        scores = {d: round(rng.uniform(60, 100), 1) for d in ("dung", "du", "sach", "song")}
        scores["overall"] = round(sum(scores.values()) / 4, 1)
        facts[f"ds_{i:04d}"] = {"scores": scores, "on_time": rng.random() > 0.2,
                                "last_load_at": f"2026-11-{1 + i % 28:02d}T01:00:00+00:00"}
    return facts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url) as answer:
        answer.read()
        status = answer.status
    return (time.perf_counter() - started) * 1000, status


def percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return {"requests": len(ms), "p50_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ordered[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=1000, help="datasets to generate (default 1000)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per kind (default 300)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lake-bench-portal-") as tmp:
        folder = Path(tmp)
        facts = generate(folder, args.datasets)
        home = folder / "home"
        (home / "portal" / "catalog").mkdir(parents=True)
        (home / "portal" / "catalog" / "facts.json").write_text(json.dumps(facts), encoding="utf-8")
        port = free_port()
        env = {**os.environ, "LAKE_HOME": str(home), "LAKE_DATASETS_DIR": str(folder / "datasets"),
               "LAKE_PORTAL_PORT": str(port), "LAKE_PORTAL_REQUESTS_PER_MINUTE": "0"}  # one client, many requests
        server = subprocess.Popen([sys.executable, "-m", "lakehouse.serving.portal", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    get(f"{base}/health")
                    break
                except OSError:
                    time.sleep(0.1)
            started = time.monotonic()
            _, status = get(f"{base}/")  # loads and indexes the specs: not counted below
            first_ms = round((time.monotonic() - started) * 1000)
            assert status == 200
            rng = random.Random(7)
            public = json.loads(urllib.request.urlopen(f"{base}/api/3/action/package_list").read())["result"]
            urls = {
                "health": [f"{base}/health"] * args.requests,
                "search": [f"{base}/?" + urllib.parse.urlencode(
                    {"q": rng.choice(QUERIES), **({"catalog": "open_data"} if i % 3 == 0 else {}),
                     **({"quality": "good"} if i % 5 == 0 else {})}) for i in range(args.requests)],
                "dataset": [f"{base}/dataset/{rng.choice(public)}" for _ in range(args.requests)],
                "ckan_search": [f"{base}/api/3/action/package_search?" + urllib.parse.urlencode(
                    {"q": rng.choice(QUERIES), "rows": 20}) for _ in range(args.requests)],
            }
            for kind in urls:  # warm each route once
                get(urls[kind][0])
            timings: dict[str, list[float]] = {k: [] for k in urls}
            for i in range(args.requests):  # interleaved, so a slow moment hits every kind alike
                for kind, batch in urls.items():
                    ms, status = get(batch[i])
                    assert status == 200, (batch[i], status)
                    timings[kind].append(ms)
        finally:
            server.terminate()
            server.wait(timeout=10)
    load_end = os.getloadavg()
    figures = {k: percentiles(v) for k, v in timings.items()}
    results = {
        "benchmark": "portal", "command": "python bench/portal.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": list(load_start), "load_average_at_end": list(load_end)},
        "quiet": load_start[0] <= QUIET_LOAD, "datasets": args.datasets, "public_datasets": len(public),
        "first_page_ms": first_ms, "figures": figures,
        "ratios": {f"{k}_p95_vs_health": round(figures[k]["p95_ms"] / figures["health"]["p95_ms"], 1)
                   for k in ("search", "dataset", "ckan_search")},
        "target": "search and dataset page p95 < 200 ms with 1,000 datasets",
    }
    write_results("portal", results)


if __name__ == "__main__":
    main()
