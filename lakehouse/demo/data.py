"""Deterministic demo data for four demo domains, as the bytes each source system would deliver:
the generators' names in one place (`from lakehouse.demo import data as demo_data`).

Every generator is pure Python with its own local RNG (``random.Random(seed_from(...))``),
never the global one and never the wall clock: the same arguments give the same bytes.
``scale`` multiplies volumes (1.0 is small enough for a laptop run).

=====================  =========================  =========================================
dataset                generator                  what the source delivers
=====================  =========================  =========================================
enterprises            :func:`enterprises_csv`     registry export, Windows-1258, ``;``, vi numbers
citizens               :func:`citizens_csv`        register with personal data, UTF-8 with BOM
sensors                :func:`sensors_parquet`     air-quality sensor master list, Parquet
air_quality_readings   :func:`readings_files`      IoT JSON Lines drops every 15 minutes, with faults
procedures             :func:`procedure_rows`      catalogue of administrative procedures (PostgreSQL)
dossiers               :func:`dossier_rows`        dossier table at the end of a day (PostgreSQL)
dossier_documents      :func:`dossier_documents`   PDF/PNG/JPEG/TIFF attachments of a day's dossiers
province_reports       :func:`province_report_xlsx`  monthly Excel report form, header on row 4
=====================  =========================  =========================================

:func:`demo_sources` gives all of them for one date, by dataset name.

Codes are real: the 34 provinces and 3,321 communes of the ``vietnam-provinces``
package (after the reform of 2025-07-01).  Text is Vietnamese with diacritics, in NFC.
"""

from lakehouse.demo.common import UTC, ICT, seed_from, provinces, communes_by_province, ascii_fold
from lakehouse.demo.cp1258 import encode_cp1258, decode_cp1258
from lakehouse.demo.registers import (ACTIVE, SUSPENDED, DISSOLVED, ENTERPRISE_EPOCH, ENTERPRISE_FIELDS,
                                      enterprises_csv, CITIZEN_EPOCH, CITIZEN_FIELDS, citizen_id, citizens_csv,
                                      CITIZEN_ANOMALIES, citizen_faults)
from lakehouse.demo.air_quality import (SENSOR_FIELDS, sensors_parquet, READING_WINDOW, DROP_MINUTES,
                                        SENSORS_PER_GATEWAY, LATE_AFTER_MINUTES, READING_ANOMALIES, READING_FIELDS,
                                        reporting_sensors, readings_files, drop_time)
from lakehouse.demo.dossiers import (RECEIVED, PROCESSING, DONE, RETURNED, PROCEDURE_FIELDS, PROCEDURE_DDL,
                                     procedure_rows, DOSSIER_EPOCH, DOSSIER_FIELDS, DOSSIER_DDL, dossier_rows,
                                     dossier_documents)
from lakehouse.demo.files import MEDIA_MAGIC, sniff_media_type
from lakehouse.demo.reports import REPORT_FIELDS, REPORT_HEADER_ROW, province_report_xlsx
from lakehouse.demo.sources import DemoSource, DEMO_SOURCES, demo_sources

__all__ = [
    "ACTIVE", "SUSPENDED", "DISSOLVED", "RECEIVED", "PROCESSING", "DONE", "RETURNED", "UTC", "ICT", "seed_from",
    "provinces", "communes_by_province", "ascii_fold", "encode_cp1258", "decode_cp1258", "ENTERPRISE_EPOCH",
    "ENTERPRISE_FIELDS", "enterprises_csv", "CITIZEN_EPOCH", "CITIZEN_FIELDS", "citizen_id", "citizens_csv",
    "CITIZEN_ANOMALIES", "citizen_faults", "SENSOR_FIELDS", "sensors_parquet", "READING_WINDOW", "DROP_MINUTES",
    "SENSORS_PER_GATEWAY", "LATE_AFTER_MINUTES", "READING_ANOMALIES", "READING_FIELDS", "reporting_sensors",
    "readings_files", "drop_time", "PROCEDURE_FIELDS", "PROCEDURE_DDL", "procedure_rows", "DOSSIER_EPOCH",
    "DOSSIER_FIELDS", "DOSSIER_DDL", "dossier_rows", "dossier_documents", "MEDIA_MAGIC", "sniff_media_type",
    "REPORT_FIELDS", "REPORT_HEADER_ROW", "province_report_xlsx", "DemoSource", "DEMO_SOURCES", "demo_sources",
]
