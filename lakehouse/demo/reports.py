"""The provinces' monthly report form as an .xlsx workbook, header on row 4, built with the standard library."""

from __future__ import annotations

import calendar
import datetime as dt
import io
import zipfile
from random import Random

from lakehouse.demo.common import PROVINCE_WEIGHT, as_date, provinces, seed_from


REPORT_FIELDS = ["province_code", "province_name", "report_month", "dossiers_received", "dossiers_completed",
                 "on_time_rate"]
REPORT_HEADER_ROW = 4


def province_report_xlsx(date: str | dt.date, seed: int = 2026) -> bytes:
    """The monthly report form on dossier handling, month to date, as an Excel workbook.

    Rows 1–3: the title ``BÁO CÁO TÌNH HÌNH TIẾP NHẬN HỒ SƠ``, ``Tháng MM/YYYY`` and an empty row;
    row 4: the header (:data:`REPORT_FIELDS`); rows 5–38: one row per province (``report_month``
    ``YYYY-MM``, counts growing through the month, ``on_time_rate`` a fraction 0–1); row 39 blank;
    row 40: ``Tổng cộng`` totals, with no province_code.  The bytes are stable: document
    properties and every zip entry's timestamp are fixed to the report date at 08:00.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.xml.functions import tostring

    day = as_date(date)
    month = f"{day.year}-{day.month:02d}"
    stamp = dt.datetime.combine(day, dt.time(8, 0))
    progress = day.day / calendar.monthrange(day.year, day.month)[1]

    wb = Workbook()
    ws = wb.active
    ws.title = "BaoCao"
    ws["A1"] = "BÁO CÁO TÌNH HÌNH TIẾP NHẬN HỒ SƠ"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = f"Tháng {day.month:02d}/{day.year}"
    ws["A2"].font = Font(italic=True)
    for cell in ("A1", "A2"):
        ws[cell].alignment = Alignment(horizontal="center")
    ws.merge_cells("A1:F1")
    ws.merge_cells("A2:F2")
    for col, name in enumerate(REPORT_FIELDS, 1):
        ws.cell(row=REPORT_HEADER_ROW, column=col, value=name).font = Font(bold=True)
    total_received = total_completed = on_time = 0.0
    row = REPORT_HEADER_ROW
    for p in provinces():
        rng = Random(seed_from("report", month, seed, p.code))
        monthly = rng.randint(800, 2500) * PROVINCE_WEIGHT.get(p.code, 1)
        received = max(1, round(monthly * progress))
        completed = round(received * rng.uniform(0.70, 0.95))
        rate = round(rng.uniform(0.80, 0.995), 3)
        row += 1
        ws.append([p.code, p.name, month, received, completed, rate])
        ws.cell(row=row, column=6).number_format = "0.0%"
        total_received += received
        total_completed += completed
        on_time += rate * completed
    row += 2
    ws.cell(row=row, column=2, value="Tổng cộng").font = Font(bold=True)
    ws.cell(row=row, column=3, value=month)
    ws.cell(row=row, column=4, value=int(total_received))
    ws.cell(row=row, column=5, value=int(total_completed))
    ws.cell(row=row, column=6, value=round(on_time / total_completed, 3) if total_completed else None)
    ws.cell(row=row, column=6).number_format = "0.0%"
    for col, width in zip("ABCDEF", (14, 30, 13, 18, 19, 13)):
        ws.column_dimensions[col].width = width

    wb.properties.creator = "Văn phòng Bộ"
    wb.properties.title = "BÁO CÁO TÌNH HÌNH TIẾP NHẬN HỒ SƠ"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.lastModifiedBy = "Văn phòng Bộ"
    raw = io.BytesIO()
    wb.save(raw)
    # Saving sets the 'modified' property to the wall clock, and zipfile stamps each entry with
    # it: rewrite the archive with the core properties regenerated and the report's own time.
    wb.properties.modified = stamp
    core = tostring(wb.properties.to_tree())
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, core if info.filename == "docProps/core.xml" else src.read(info.filename))
    return out.getvalue()
