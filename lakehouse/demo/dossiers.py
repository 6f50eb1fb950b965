"""The dossier system: the procedure catalogue and the dossiers table (rows for PostgreSQL), and each
day's attached documents.
"""

from __future__ import annotations

import datetime as dt
from random import Random

from lakehouse.demo.common import ICT, UTC, as_date, dates_between, person_name, pick_province, scaled, seed_from
from lakehouse.demo.files import jpeg_gray, pdf_bytes, png_bytes, tiff_gray
from lakehouse.demo.registers import BRANDS, ENTERPRISE_TYPES, INDUSTRIES


_PROCEDURES = [
    ("Đăng ký thành lập doanh nghiệp tư nhân", "Thành lập và phát triển doanh nghiệp", 4, 3),
    ("Đăng ký thành lập công ty TNHH một thành viên", "Thành lập và phát triển doanh nghiệp", 4, 3),
    ("Đăng ký thay đổi nội dung đăng ký doanh nghiệp", "Thành lập và phát triển doanh nghiệp", 4, 3),
    ("Đăng ký hộ kinh doanh", "Thành lập và hoạt động hộ kinh doanh", 4, 3),
    ("Cấp giấy phép xây dựng nhà ở riêng lẻ", "Hoạt động xây dựng", 3, 15),
    ("Cấp giấy chứng nhận quyền sử dụng đất lần đầu", "Đất đai", 3, 30),
    ("Đăng ký biến động quyền sử dụng đất", "Đất đai", 3, 10),
    ("Đăng ký khai sinh", "Hộ tịch", 4, 1),
    ("Đăng ký kết hôn", "Hộ tịch", 3, 3),
    ("Đăng ký khai tử", "Hộ tịch", 4, 1),
    ("Cấp bản sao trích lục hộ tịch", "Hộ tịch", 4, 1),
    ("Cấp phiếu lý lịch tư pháp", "Lý lịch tư pháp", 4, 10),
    ("Đổi giấy phép lái xe", "Đường bộ", 4, 5),
    ("Cấp giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "An toàn thực phẩm", 3, 20),
    ("Cấp giấy phép môi trường", "Môi trường", 3, 30),
    ("Cấp giấy phép lao động cho người nước ngoài", "Việc làm", 4, 5),
    ("Giải quyết hưởng trợ cấp thất nghiệp", "Việc làm", 3, 20),
    ("Cấp lại thẻ bảo hiểm y tế", "Bảo hiểm y tế", 4, 5),
    ("Chứng thực bản sao từ bản chính", "Chứng thực", 3, 1),
    ("Cấp giấy phép kinh doanh dịch vụ karaoke", "Văn hóa", 3, 5),
]
PROCEDURE_FIELDS = ["procedure_code", "procedure_name", "field", "level", "processing_days", "updated_at"]

PROCEDURE_DDL = """\
CREATE TABLE IF NOT EXISTS public.procedures (
    procedure_code  text PRIMARY KEY,
    procedure_name  text NOT NULL,
    field           text NOT NULL,
    level           smallint NOT NULL,
    processing_days integer NOT NULL,
    updated_at      timestamptz NOT NULL
)"""


def procedure_rows(seed: int = 2026) -> list[dict]:
    """The catalogue of administrative procedures (20 rows), as the ministry's database holds it.

    procedure_code like ``1.001234``, procedure_name and field (lĩnh vực) in Vietnamese, level
    (online public service level 3 or 4), processing_days, updated_at (aware UTC datetime).
    """
    rng = Random(seed_from("procedures", seed))
    rows, codes = [], set()
    for name, field_, level, days in _PROCEDURES:
        while (code := f"{rng.choice([1, 1, 2])}.{rng.randint(0, 13_999):06d}") in codes:
            pass
        codes.add(code)
        updated = dt.datetime(2025, 7, 1, 1, 0, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(120 * 24 * 60))
        rows.append({"procedure_code": code, "procedure_name": name, "field": field_, "level": level,
                     "processing_days": days, "updated_at": updated})
    return sorted(rows, key=lambda r: r["procedure_code"])


DOSSIER_EPOCH = dt.date(2026, 11, 1)
"""The dossier system went live this day: earlier dates have an empty table."""
RECEIVED, PROCESSING, DONE, RETURNED = "Tiếp nhận", "Đang xử lý", "Hoàn thành", "Trả lại"
DOSSIER_FIELDS = ["dossier_id", "procedure_code", "province_code", "applicant_name", "status",
                  "received_at", "due_at", "completed_at", "updated_at"]

DOSSIER_DDL = """\
CREATE TABLE IF NOT EXISTS public.dossiers (
    dossier_id     text PRIMARY KEY,
    procedure_code text NOT NULL,
    province_code  integer NOT NULL,
    applicant_name text NOT NULL,
    status         text NOT NULL,
    received_at    timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    completed_at   timestamptz,
    updated_at     timestamptz NOT NULL
)"""


def _dossier_count(day: dt.date, seed: int, scale: float) -> int:
    rng = Random(seed_from("dossier-count", day.isoformat(), seed))
    weekend = day.weekday() >= 5
    return scaled(100 * rng.uniform(0.8, 1.2) * (0.2 if weekend else 1.0), scale, 1)


def _dossier_lifecycles(day: dt.date, first_seq: int, seed: int, scale: float) -> list[dict]:
    """Every dossier received on ``day`` with its whole future: the times of its status changes."""
    rng = Random(seed_from("dossiers", day.isoformat(), seed))
    procs = procedure_rows(seed)
    out = []
    for k in range(_dossier_count(day, seed, scale)):
        proc = rng.choice(procs)
        province = pick_province(rng)
        applicant = (person_name(rng, rng.choice(["Nam", "Nữ"])) if "doanh nghiệp" not in proc["field"]
                     else f"{rng.choice(ENTERPRISE_TYPES)[1]} {rng.choice(INDUSTRIES)} {rng.choice(BRANDS)}")
        received = dt.datetime.combine(day, dt.time(0, 30), UTC) + dt.timedelta(seconds=rng.randrange(int(9.5 * 3600)))
        days = proc["processing_days"]
        processing = received + dt.timedelta(seconds=rng.randrange(1800, 36 * 3600))
        if rng.random() < 0.08:  # stuck: finishes long after its due date
            low, high = int(days * 1.5 * 86400), int(days * 3 * 86400) + 86400
        else:
            low, high = 2 * 3600, int(days * 1.2 * 86400) + 4 * 3600
        final = processing + dt.timedelta(seconds=rng.randrange(low, high))
        outcome = RETURNED if rng.random() < 0.12 else DONE
        out.append({"dossier_id": f"HS-{day.year}-{first_seq + k:06d}", "procedure_code": proc["procedure_code"],
                    "province_code": province.code, "applicant_name": applicant, "received_at": received,
                    "due_at": received + dt.timedelta(days=days),
                    "events": [(received, RECEIVED), (processing, PROCESSING), (final, outcome)]})
    return out


def _dossiers_by_day(day: dt.date, seed: int, scale: float):
    """(received day, that day's lifecycles) for every day from the epoch to ``day``."""
    seq, year = 1, None
    for d in dates_between(DOSSIER_EPOCH, day):
        if d.year != year:
            seq, year = 1, d.year
        yield d, _dossier_lifecycles(d, seq, seed, scale)
        seq += _dossier_count(d, seed, scale)


def dossier_rows(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> list[dict]:
    """The dossier system's ``public.dossiers`` table as it stands at the end of ``date`` (UTC).

    About 100×scale dossiers are received each working day (a fifth of that at weekends) since
    :data:`DOSSIER_EPOCH`; ids ``HS-<year>-<nnnnnn>`` numbered per year.  Each dossier moves
    ``Tiếp nhận`` → ``Đang xử lý`` → ``Hoàn thành`` (``completed_at`` set) or ``Trả lại``, at
    times fixed when it is received, so the table of a later date holds every dossier of an
    earlier one, some with a later status; ``updated_at`` is the time of the last change and
    never decreases.  Timestamps are aware UTC datetimes; ``completed_at`` is None until done.
    """
    day = as_date(date)
    cutoff = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), UTC)
    rows = []
    for _, lifecycles in _dossiers_by_day(day, seed, scale):
        for life in lifecycles:
            happened = [(t, s) for t, s in life["events"] if t < cutoff]
            updated, status = happened[-1]
            row = {k: life[k] for k in ("dossier_id", "procedure_code", "province_code", "applicant_name")}
            row.update(status=status, received_at=life["received_at"], due_at=life["due_at"],
                       completed_at=updated if status == DONE else None, updated_at=updated)
            rows.append(row)
    return rows


def dossier_documents(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> list[tuple[str, bytes]]:
    """Attachments of some dossiers received on ``date``: about 30×scale small but valid files.

    For 12×scale of that day's dossiers: ``<dossier_id>/don-de-nghi.pdf`` (the application, a
    one-page PDF) and ``<dossier_id>/cccd-scan.png`` (ID card scan); every second one also has
    ``anh-hien-trang.jpg`` (a photo, baseline JPEG) and every fourth ``ban-ve.tif`` (a scanned
    drawing, TIFF).  Magic bytes: ``%PDF-``, ``\\x89PNG``, ``\\xff\\xd8\\xff``, ``II*\\x00``.
    Empty before :data:`DOSSIER_EPOCH`.
    """
    day = as_date(date)
    if day < DOSSIER_EPOCH:
        return []
    todays = []
    for d, lifecycles in _dossiers_by_day(day, seed, scale):
        if d == day:
            todays = lifecycles
    procs = {p["procedure_code"]: p for p in procedure_rows(seed)}
    rng = Random(seed_from("documents", day.isoformat(), seed))
    chosen = sorted(rng.sample(todays, min(len(todays), scaled(12, scale, 1))), key=lambda x: x["dossier_id"])
    out = []
    for i, life in enumerate(chosen):
        did = life["dossier_id"]
        r = Random(seed_from("document", did, seed))
        received_local = life["received_at"].astimezone(ICT)
        out.append((f"{did}/don-de-nghi.pdf", pdf_bytes([
            "ĐƠN ĐỀ NGHỊ", f"Hồ sơ: {did}", f"Thủ tục: {procs[life['procedure_code']]['procedure_name']}",
            f"Người nộp: {life['applicant_name']}", f"Ngày nộp: {received_local:%d/%m/%Y %H:%M}"])))
        tint = (r.randint(180, 230), r.randint(200, 240), r.randint(220, 255))
        out.append((f"{did}/cccd-scan.png", png_bytes(48, 30, lambda x, y, t=tint: (
            (40, 60, 120) if 4 <= x <= 14 and 6 <= y <= 22 else (90, 90, 90) if x > 18 and y % 5 == 2 else t))))
        if i % 2 == 0:
            out.append((f"{did}/anh-hien-trang.jpg",
                        jpeg_gray([[r.randint(30, 225) for _ in range(3)] for _ in range(2)])))
        if i % 4 == 0:
            base = r.randint(200, 250)
            pixels = bytes(0 if (x % 8 == 0 or y % 8 == 0) else base for y in range(24) for x in range(32))
            out.append((f"{did}/ban-ve.tif", tiff_gray(32, 24, pixels)))
    return out
