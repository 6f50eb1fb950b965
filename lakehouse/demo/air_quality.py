"""Air-quality sensors (Parquet master list) and their readings (JSON Lines drops every 15 minutes,
with duplicates, late and broken readings).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
from random import Random

from lakehouse.demo.common import UTC, as_date, scaled, communes_by_province, provinces, seed_from


# approximate position of each province's administrative centre (after the 2025 mergers)
_CENTRES = {1: (21.03, 105.85), 4: (22.67, 106.26), 8: (21.82, 105.21), 11: (21.39, 103.02),
            12: (22.40, 103.46), 14: (21.33, 103.91), 15: (21.72, 104.91), 19: (21.59, 105.85),
            20: (21.85, 106.76), 22: (20.95, 107.08), 24: (21.27, 106.19), 25: (21.32, 105.40),
            31: (20.86, 106.68), 33: (20.45, 106.34), 37: (20.25, 105.97), 38: (19.81, 105.78),
            40: (18.68, 105.68), 42: (18.34, 105.91), 44: (17.47, 106.62), 46: (16.46, 107.59),
            48: (16.05, 108.20), 51: (15.12, 108.80), 52: (13.78, 109.22), 56: (12.24, 109.19),
            66: (12.67, 108.04), 68: (11.94, 108.44), 75: (10.95, 106.82), 79: (10.78, 106.70),
            80: (10.54, 106.41), 82: (10.36, 106.36), 86: (10.25, 105.97), 91: (10.01, 105.08),
            92: (10.03, 105.78), 96: (9.18, 105.15)}
SENSOR_FIELDS = ["sensor_id", "province_code", "commune_code", "latitude", "longitude", "installed_on"]


def _sensor_counts(scale: float) -> dict[int, int]:
    per = scaled(2, scale, 1)
    return {p.code: per + (per if p.code in (1, 79) else 0) for p in provinces()}


def _sensor_rows(seed: int, scale: float) -> list[dict]:
    rows = []
    for p in provinces():
        for n in range(1, _sensor_counts(scale)[p.code] + 1):
            sensor_id = f"AQ-{p.code:02d}-{n:03d}"
            rng = Random(seed_from("sensors", seed, sensor_id))
            lat, lon = _CENTRES[p.code]
            rows.append({"sensor_id": sensor_id, "province_code": p.code,
                         "commune_code": rng.choice(communes_by_province()[p.code]).code,
                         "latitude": round(lat + rng.uniform(-0.12, 0.12), 5),
                         "longitude": round(lon + rng.uniform(-0.12, 0.12), 5),
                         "installed_on": dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(3 * 365))})
    return rows


def sensors_parquet(seed: int = 2026, scale: float = 1.0) -> bytes:
    """The air-quality sensor master list as Parquet: about 2×34×scale sensors, at least one per province.

    ``sensor_id`` ``AQ-<province>-<nnn>`` (e.g. ``AQ-01-003``); Hà Nội and Hồ Chí Minh City have
    twice as many.  Columns: sensor_id string, province_code int32, commune_code int32 (a real
    commune of the province), latitude/longitude double, installed_on date32.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _sensor_rows(seed, scale)
    schema = pa.schema([("sensor_id", pa.string()), ("province_code", pa.int32()), ("commune_code", pa.int32()),
                        ("latitude", pa.float64()), ("longitude", pa.float64()), ("installed_on", pa.date32())])
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


READING_WINDOW = (dt.time(6, 0), 240)  # readings from 06:00 UTC, one a minute for 240 minutes
DROP_MINUTES = 15
SENSORS_PER_GATEWAY = 8
LATE_AFTER_MINUTES = 60
READING_ANOMALIES = {"duplicates": 6, "late": 4, "pm25_sentinel": 3, "pm25_non_numeric": 2,
                     "pm25_missing": 2, "malformed": 1}
"""Exact counts of deliberate faults in every :func:`readings_files` result, whatever the date or scale."""
READING_FIELDS = ["sensor_id", "reading_at", "pm25", "pm10", "temperature", "humidity"]


def reporting_sensors(seed: int = 2026, scale: float = 1.0) -> list[str]:
    """Sensors that send readings: the first max(1, round(scale)) of each province (34 at scale 1.0)."""
    per = scaled(1, scale, 1)
    return [r["sensor_id"] for r in _sensor_rows(seed, scale) if int(r["sensor_id"][-3:]) <= per]


def _reading(rng: Random, sensor_id: str, at: dt.datetime, minute: int, level: float, lat: float) -> dict:
    wave = 1 + 0.25 * math.sin(2 * math.pi * (minute / 240 + level / 100))
    pm25 = round(max(2.0, level * wave + rng.gauss(0, level * 0.08)), 1)
    return {"sensor_id": sensor_id, "reading_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "pm25": pm25,
            "pm10": round(pm25 * rng.uniform(1.3, 1.7), 1),
            "temperature": round(31.5 - 0.55 * (lat - 9) + rng.gauss(0, 0.4), 1),
            "humidity": round(min(99.0, max(40.0, 75 + rng.gauss(0, 6))), 1)}


def readings_files(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> list[tuple[str, bytes]]:
    """IoT air-quality readings of one day, as the gateways drop them: JSON Lines (UTF-8) every 15 minutes.

    One reading a minute per reporting sensor (:func:`reporting_sensors`, 34 at scale 1.0) from
    06:00 to 09:59 UTC (240 minutes).  Sensors are grouped 8 to a gateway (``g01``, ``g02``…);
    each gateway drops a file every 15 minutes, 06:15 … 10:00, holding the readings of the
    15 minutes before: ``<date>/drop-<HHMM>-g<NN>.jsonl`` (sortable by time, then gateway).
    Fields: sensor_id, reading_at (``YYYY-MM-DDTHH:MM:SSZ``), pm25, pm10 (µg/m³), temperature
    (°C), humidity (%).  There are exactly ``sensors × 240`` distinct (sensor_id, reading_at)
    readings and these deliberate faults (:data:`READING_ANOMALIES`), for any date and scale,
    each on a different reading:

    * 6 duplicates: a reading re-sent, byte for byte, in the gateway's next drop (not late);
    * 4 late readings: missing from their own drop and delivered 60 minutes later, so the drop
      is 61–75 minutes after ``reading_at`` (more than ``late_after_minutes`` = 60);
    * 3 readings with ``pm25`` = -999 (the sensor's error sentinel);
    * 2 readings with ``pm25`` = ``"ERR"`` (not a number);
    * 2 readings with ``pm25`` = null (missing value);
    * 1 malformed line: a reading cut off half-way, not JSON (its full line is in the same drop).

    So the files hold ``sensors × 240 + 6 + 1`` lines.
    """
    day = as_date(date)
    sensors = {r["sensor_id"]: r for r in _sensor_rows(seed, scale)}
    reporting = reporting_sensors(seed, scale)
    start = dt.datetime.combine(day, READING_WINDOW[0], UTC)
    minutes = READING_WINDOW[1]
    n_drops = minutes // DROP_MINUTES

    readings: dict[tuple[int, int], dict] = {}
    for s, sensor_id in enumerate(reporting):
        rng = Random(seed_from("readings", day.isoformat(), seed, sensor_id))
        lat = sensors[sensor_id]["latitude"]
        level = (70 if lat > 20.5 else 45 if lat > 19 else 28 if lat > 13 else 38) * rng.uniform(0.7, 1.3)
        for m in range(minutes):
            readings[(s, m)] = _reading(rng, sensor_id, start + dt.timedelta(minutes=m), m, level, lat)

    rng = Random(seed_from("readings-anomalies", day.isoformat(), seed))
    a = READING_ANOMALIES
    # every faulty reading is taken early enough that a drop 60 minutes later still exists
    last_minute = (n_drops - LATE_AFTER_MINUTES // DROP_MINUTES) * DROP_MINUTES
    picks = rng.sample([(s, m) for s in range(len(reporting)) for m in range(last_minute)],
                       a["duplicates"] + a["late"] + a["pm25_sentinel"] + a["pm25_non_numeric"] + a["pm25_missing"])
    dup = picks[:a["duplicates"]]
    late = picks[len(dup):len(dup) + a["late"]]
    rest = picks[len(dup) + len(late):]
    for i, key in enumerate(rest):
        if i < a["pm25_sentinel"]:
            readings[key]["pm25"] = -999
        elif i < a["pm25_sentinel"] + a["pm25_non_numeric"]:
            readings[key]["pm25"] = "ERR"
        else:
            readings[key]["pm25"] = None

    drops: dict[tuple[int, int], list[str]] = {}  # (drop index, gateway index) → lines
    line = lambda key: json.dumps(readings[key], ensure_ascii=False)  # noqa: E731
    late_set = set(late)
    for (s, m) in sorted(readings, key=lambda k: (k[1] // DROP_MINUTES, k[0], k[1])):
        if (s, m) not in late_set:
            drops.setdefault((m // DROP_MINUTES, s // SENSORS_PER_GATEWAY), []).append(line((s, m)))
    for (s, m) in sorted(late):
        drops[(m // DROP_MINUTES + LATE_AFTER_MINUTES // DROP_MINUTES, s // SENSORS_PER_GATEWAY)].append(line((s, m)))
    for (s, m) in sorted(dup):
        drops[(m // DROP_MINUTES + 1, s // SENSORS_PER_GATEWAY)].append(line((s, m)))
    target = rng.choice(sorted(drops))
    lines = drops[target]
    cut = rng.randrange(len(lines))
    lines.insert(cut + 1, lines[cut][: len(lines[cut]) // 2])

    out = []
    for (d, g) in sorted(drops):
        at = start + dt.timedelta(minutes=(d + 1) * DROP_MINUTES)
        name = f"{day.isoformat()}/drop-{at:%H%M}-g{g + 1:02d}.jsonl"
        out.append((name, "".join(x + "\n" for x in drops[(d, g)]).encode("utf-8")))
    return sorted(out)


def drop_time(name: str) -> dt.datetime:
    """When a readings file was dropped, from its name (``2026-11-27/drop-0915-g03.jsonl``)."""
    m = re.search(r"(\d{4}-\d{2}-\d{2})/drop-(\d{2})(\d{2})-g\d+\.jsonl$", name)
    if not m:
        raise ValueError(f"not a readings drop file name: {name!r}")
    return dt.datetime.combine(dt.date.fromisoformat(m.group(1)), dt.time(int(m.group(2)), int(m.group(3))), UTC)
