"""Shared helpers for integration tests: a clean slate per dataset, reading tables, the run log."""

from __future__ import annotations

import os
import time
import urllib.error
from contextlib import contextmanager
from pathlib import Path

from lakehouse.core.settings import LAYERS, Settings, quarantine_table
from lakehouse.orchestration import airflow_env
from lakehouse.io import storage, trino
from lakehouse.serving import trino_security

PREFIXES = ("landing", "bronze", "silver", "gold", "staging", "_checkpoints")


def reset(datasets: list[str], settings: Settings, tables: list[str] = ()) -> None:
    """Forget every trace of ``datasets`` (objects, Trino registrations, their grants in the local Trino's
    access rules) and drop source ``tables``."""
    for name in datasets:
        trino_security.withdraw_grants(settings, name)  # no-op without a local Trino
        for prefix in PREFIXES:
            storage.delete_prefix(f"{prefix}/{name}/", settings)
        storage.delete_prefix(f"quarantine/{quarantine_table(name)}/", settings)
        for layer in LAYERS:
            if layer == "ops":
                continue
            try:
                trino.query(f"CALL {settings.trino_catalog}.system.unregister_table(schema_name => '{layer}', "
                            f"table_name => '{quarantine_table(name) if layer == 'quarantine' else name}')",
                            settings)
            except Exception:  # not registered: nothing to forget
                pass
    if tables:
        from lakehouse.io import sourcedb
        for table in tables:
            sourcedb.execute("ministry_db", f"DROP TABLE IF EXISTS {table}", settings=settings)


def table(spark, layer: str, name: str, settings: Settings):
    """A dataset's Delta table; layer ``quarantine`` reads ``<name>__quarantine``."""
    from lakehouse.io import delta_io
    return delta_io.read(spark, settings.quarantine_uri(name) if layer == "quarantine"
                         else settings.table_uri(layer, name))


def run_log(spark, settings: Settings, since: str):
    """Run-log rows written since ``since`` (an ISO timestamp)."""
    from pyspark.sql import functions as F

    from lakehouse.engine import runlog
    return runlog.read(spark, settings).where(F.col("started_at") >= F.lit(since).cast("timestamp"))


@contextmanager
def use_datasets(folder: Path):
    """Load specs from ``folder`` (``LAKE_DATASETS_DIR``) inside the block; put back what was there."""
    previous = os.environ.get("LAKE_DATASETS_DIR")
    os.environ["LAKE_DATASETS_DIR"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("LAKE_DATASETS_DIR", None)
        else:
            os.environ["LAKE_DATASETS_DIR"] = previous


def passwords(settings: Settings) -> dict[str, str]:
    """Every Trino user's generated password (the service user's too)."""
    return {r["user"]: r["password"] for r in trino_security.users(settings)}


def as_user(user: str, sql: str, settings: Settings, password: str | None = None) -> list[tuple]:
    """The rows of ``sql`` run in Trino as ``user`` (its generated password unless ``password`` is given)."""
    if password is None:
        password = passwords(settings)[user]
    return trino.query(sql, settings, user=user, password=password)[1]


def ingest(dataset: str, files: list[Path], date: str) -> dict:
    """Land local files for ``dataset`` and run it through silver and gold, as `lake ingest` does."""
    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration.pipeline import land_files, plan, run_steps

    land_files(dataset, files, date)
    return {(s.job, s.dataset): out for s, out, _ in run_steps(plan(load_specs(), [dataset], with_land=False), date)}


# ---- Airflow's REST API ----------------------------------------------------------------------------------

class Api:
    """Airflow's REST API (v2) through `airflow_env.api_call`, logged in once as the admin of this install."""

    def __init__(self, settings):
        self.settings = settings
        self.token = airflow_env.api_token(settings)

    def _send(self, method: str, path: str, body: dict | None = None) -> dict:
        return airflow_env.api_call(path, self.settings, method, body, token=self.token, timeout=30)

    def get(self, path: str) -> dict:
        return self._send("GET", path)

    def post(self, path: str, body: dict) -> dict:
        return self._send("POST", path, body)

    def patch(self, path: str, body: dict) -> dict:
        return self._send("PATCH", path, body)

    def runs(self, dag: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag}/dagRuns?limit=100&order_by=run_after")["dag_runs"]

    def task(self, dag: str, run_id: str, task_id: str) -> dict:
        return self.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances/{task_id}")


def wait(what: str, done, timeout: float = 900, every: float = 1):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        result = done()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def dag_exists(api: Api, dag: str) -> bool:
    """The dag-processor has parsed ``dag`` (the REST API knows it)."""
    try:
        api.get(f"/api/v2/dags/{dag}")
        return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


# ---- the portal in a real browser (Debian's chromium through Selenium) ----------------------------------

@contextmanager
def chromium(downloads: Path):
    """Debian's chromium (infra/browser.sh) through Selenium, headless, downloading into ``downloads``."""
    import shutil as sh

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = sh.which("chromium"), sh.which("chromedriver")
    assert browser and driver_path, "no chromium/chromedriver: run `make browser` (infra/browser.sh)"
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def navigating(driver, act) -> None:
    """Act (submit, click) and wait until the browser has left the page: submit() and click() return before
    the next page loads, and elements read in between belong to the old page (a stale element)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")

    def left(_driver) -> bool:
        # Asked while the new page replaces the old one, ChromeDriver may answer "Node with given id does not
        # belong to the document" rather than a stale element (a CI run failed on it): both say the old page is gone.
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    act()
    WebDriverWait(driver, 15).until(left)


def screenshots(tmp_path: Path) -> Path:
    """$LAKE_SCREENSHOTS (docs/screenshots keeps the README's) or the test's folder."""
    import os

    shots = Path(os.environ.get("LAKE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


# ---- the admin-units pipeline's expected tables ----------------------------------------------------------

ADMIN_UNITS_COLUMNS = {  # every column but those that say when and by which run a row was written
    "silver.provinces": ["province_code", "province_name", "division_type", "codename", "phone_code", "_row_hash"],
    "silver.communes": ["commune_code", "commune_name", "division_type", "codename", "province_code", "_row_hash"],
    "gold.communes_with_province": ["commune_code", "commune_name", "commune_type", "province_code",
                                    "province_name", "province_type"],
    "gold.commune_counts_by_province": ["province_code", "province_name", "commune_count", "xa_count",
                                        "phuong_count", "dac_khu_count"],
}


_M64 = (1 << 64) - 1
_P1, _P2, _P3, _P4, _P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                           0x27D4EB2F165667C5)


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    return _rotl((acc + lane * _P2) & _M64, 31) * _P1 & _M64


def xxh64(data: bytes, seed: int) -> int:
    """XXH64 of ``data`` (as published by its author: 64-bit lanes read little-endian), unsigned."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M64, (seed + _P2) & _M64, seed & _M64, (seed - _P1) & _M64]
        while i + 32 <= n:
            v = [_round(v[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little")) for j in range(4)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for lane in v:
            h = ((h ^ _round(0, lane)) * _P1 + _P4) & _M64
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, int.from_bytes(data[i:i + 8], "little")), 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (int.from_bytes(data[i:i + 4], "little") * _P1 & _M64), 23) * _P2 + _P3) & _M64
        i += 4
    for byte in data[i:]:
        h = _rotl(h ^ (byte * _P5 & _M64), 11) * _P1 & _M64
    h ^= h >> 33
    h = h * _P2 & _M64
    h ^= h >> 29
    h = h * _P3 & _M64
    return h ^ (h >> 32)


def row_hash(values: list) -> str:
    """A silver row's ``_row_hash`` (``core.columns.row_hash_sql``) worked out here, not by Spark, for values of
    the spec types ``int`` and ``string``: Spark's ``xxhash64`` from seed 42, each value hashed with the hash so
    far as its seed (an int as its 4 bytes, text as UTF-8, a NULL skipped); first whether each value is NULL (a
    boolean, hashed as the int 1 or 0), then the values; 16 upper-case hexadecimal digits."""
    h = 42
    for v in [v is None for v in values] + values:
        if isinstance(v, bool) or isinstance(v, int):
            h = xxh64((int(v) & 0xFFFFFFFF).to_bytes(4, "little"), h)
        elif v is not None:
            h = xxh64(str(v).encode("utf-8"), h)
    return format(h, "016X")


def admin_units_reference() -> dict[str, list[tuple]]:
    """What `lake run admin_units` must write, derived here from the `vietnam-provinces` package, not by the
    pipeline: the rows of each table in ``ADMIN_UNITS_COLUMNS``, sorted; a silver row's hash by :func:`row_hash`."""
    from vietnam_provinces import Province, Ward

    def hashed(row: dict) -> tuple:
        return (*row.values(), row_hash(list(row.values())))

    provinces = [{"province_code": int(p.code), "province_name": p.name, "division_type": p.division_type.value,
                  "codename": p.codename, "phone_code": p.phone_code} for p in Province.iter_all()]
    communes = [{"commune_code": int(w.code), "commune_name": w.name, "division_type": w.division_type.value,
                 "codename": w.codename, "province_code": int(w.province_code)} for w in Ward.iter_all()]
    province = {p["province_code"]: p for p in provinces}

    def counted(code: int, kind: str | None = None) -> int:
        return sum(1 for c in communes if c["province_code"] == code and kind in (None, c["division_type"]))

    tables = {
        "silver.provinces": [hashed(p) for p in provinces],
        "silver.communes": [hashed(c) for c in communes],
        "gold.communes_with_province": [
            (c["commune_code"], c["commune_name"], c["division_type"], c["province_code"],
             province[c["province_code"]]["province_name"], province[c["province_code"]]["division_type"])
            for c in communes],
        "gold.commune_counts_by_province": [
            (code, p["province_name"], counted(code), counted(code, "xã"), counted(code, "phường"),
             counted(code, "đặc khu")) for code, p in province.items()],
    }
    return {table: sorted(rows, key=repr) for table, rows in tables.items()}


def admin_units_rows(settings: Settings) -> dict[str, list[tuple]]:
    """The same tables and columns as the lake of ``settings`` holds them, through its Trino."""
    return {table: sorted(trino.query(f"SELECT {', '.join(columns)} FROM lake.{table}", settings)[1], key=repr)
            for table, columns in ADMIN_UNITS_COLUMNS.items()}
