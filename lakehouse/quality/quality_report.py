"""The quality report a quality officer reads: a static HTML site and `lake quality` text.

Data is kept "đúng – đủ – sạch – sống" (correct, complete, clean, current); each
dataset gets a 0–100 score per dimension and overall for each run.  Input is one
plain report dict per dataset (JSON-able, built elsewhere); output is strings, or
files under a folder the caller gives.  Pure: no Spark, no network, no environment,
no clock (times shown are the report's own), standard library only.

The site works offline: inline CSS and SVG, no scripts, no external fonts, and only
relative links, so the folder can be copied or served from anywhere.  Vietnamese
pages sit at the top, English ones under ``en/``::

    index.html  <dataset>.html  en/index.html  en/<dataset>.html
"""

from __future__ import annotations

import html
import re
import textwrap
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote, urlsplit

from lakehouse.core import sql
from lakehouse.core.dimensions import DIMENSIONS

SCORES = (*DIMENSIONS, "overall")
LANGS = ("vi", "en")

# ---- thresholds and colours: the only place they are set -----------------------

GOOD, FAIR = 95.0, 80.0          # score ≥ GOOD is green, ≥ FAIR amber, below red
LEVEL_COLOURS = {                # level: (text, background)
    "good": ("#14532d", "#dcfce7"),
    "fair": ("#78350f", "#fef3c7"),
    "poor": ("#7f1d1d", "#fee2e2"),
    "none": ("#4b5563", "#f3f4f6"),
}
ACTION_ORDER = {"fail": 0, "quarantine": 1, "warn": 2}   # most severe first
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
TREND_ROWS = 10                  # runs listed in a dataset page's trend table
TEXT_EXAMPLES = 3                # examples per failing rule in the terminal
TEXT_WIDTH = 100

UI: dict[str, dict[str, str]] = {
    "vi": {
        "switch": "English", "site_title": "Báo cáo chất lượng dữ liệu",
        "motto": "Dữ liệu đúng – đủ – sạch – sống",
        "dung": "Đúng", "dung_hint": "chính xác",
        "du": "Đủ", "du_hint": "đầy đủ",
        "sach": "Sạch", "sach_hint": "không trùng lặp, đúng chuẩn",
        "song": "Sống", "song_hint": "cập nhật kịp thời",
        "overall": "Tổng thể", "overall_hint": "điểm chung",
        "no_rules": "không có quy tắc cho tiêu chí này",
        "never_validated": "chưa từng được kiểm tra",
        "legend": "Điểm: xanh ≥ {good}, vàng ≥ {fair}, đỏ dưới {fair}; “–”: không có quy tắc cho tiêu chí đó.",
        "summary": "{datasets} bộ dữ liệu · {blocked} lô bị chặn · {late} trễ hạn · {open} dòng đang cách ly",
        "dataset": "Bộ dữ liệu", "domain": "Lĩnh vực", "layer": "Tầng", "table": "Bảng",
        "trend": "Xu hướng", "last_batch": "Lô gần nhất", "status": "Trạng thái",
        "quarantine": "Cách ly", "freshness": "Độ kịp thời", "generated_at": "Lập lúc",
        "status_published": "đã công bố", "status_blocked": "bị chặn",
        "blocked_hint": "một quy tắc mức “chặn lô” không đạt nên lô không được công bố",
        "fresh_ok": "kịp thời", "fresh_late": "trễ hạn", "fresh_unknown": "chưa rõ",
        "back": "← Tất cả bộ dữ liệu", "scores": "Điểm chất lượng",
        "trend_overall": "Xu hướng tổng thể", "runs": "{n} lần kiểm tra",
        "recent_runs": "Các lần kiểm tra gần nhất", "batch": "Lô", "checked_at": "Kiểm tra lúc",
        "accounting": "Đối soát số dòng", "rows_in": "dòng vào", "rows_written": "đã ghi",
        "rows_quarantined": "cách ly", "duplicates_collapsed": "trùng lặp đã gộp",
        "balanced": "khớp", "unbalanced": "không khớp: lệch {diff} dòng",
        "accounting_missing": "thiếu số liệu đối soát",
        "newest_event": "Sự kiện mới nhất", "last_success": "Lần nạp thành công gần nhất",
        "max_age": "tối đa {age}", "age": "{age} trước lúc lập báo cáo",
        "minutes": "{n} phút", "hours": "{n} giờ", "days": "{n} ngày",
        "failing_rules": "Quy tắc không đạt", "passing_rules": "Quy tắc đạt hoặc chưa chạy ({n})",
        "no_failing": "Không có quy tắc nào không đạt.", "rule": "Quy tắc", "columns": "Cột",
        "dimension": "Tiêu chí", "action": "Xử lý", "unexpected": "Không đạt / tổng",
        "message": "Mô tả", "examples": "Giá trị ví dụ", "table_level": "cấp bảng",
        "result": "Kết quả", "passed": "đạt", "failed": "không đạt", "not_run": "chưa chạy",
        "action_warn": "cảnh báo", "action_quarantine": "cách ly", "action_fail": "chặn lô",
        "open_rows": "{n} dòng đang cách ly trong {table}", "rows": "Số dòng",
        "sql": "Truy vấn Trino", "sql_all": "Mọi dòng đang cách ly", "sample": "Mẫu dòng bị cách ly ({n})",
        "reason": "Lý do", "record": "Bản ghi gốc", "quarantined_at": "Cách ly lúc",
        "csv": "Tải CSV mọi dòng đang cách ly", "no_quarantine": "Không có dòng nào bị cách ly.",
        "data_docs": "Great Expectations Data Docs (chi tiết từng lần kiểm tra)",
        "html_page": "Trang HTML", "level_good": "tốt", "level_fair": "cần chú ý",
        "level_poor": "kém", "level_none": "",
        "encoding": "Bảng mã", "encoding_detected": "tự nhận biết, độ tin cậy {confidence}",
        "encoding_declared": "theo khai báo", "encoding_by_font": "theo phông chữ của các ô",
    },
    "en": {
        "switch": "Tiếng Việt", "site_title": "Data quality report",
        "motto": "Data that is correct, complete, clean and current",
        "dung": "Correct", "dung_hint": "accurate",
        "du": "Complete", "du_hint": "nothing missing",
        "sach": "Clean", "sach_hint": "no duplicates, standard formats",
        "song": "Current", "song_hint": "updated on time",
        "overall": "Overall", "overall_hint": "combined score",
        "no_rules": "no rules in this dimension",
        "never_validated": "never validated",
        "legend": "Scores: green ≥ {good}, amber ≥ {fair}, red below {fair}; “–”: no rules in that dimension.",
        "summary": "{datasets} datasets · {blocked} blocked batches · {late} late · {open} rows in quarantine",
        "dataset": "Dataset", "domain": "Domain", "layer": "Layer", "table": "Table",
        "trend": "Trend", "last_batch": "Last batch", "status": "Status",
        "quarantine": "Quarantine", "freshness": "Freshness", "generated_at": "Generated at",
        "status_published": "published", "status_blocked": "blocked",
        "blocked_hint": "a rule with action “fail” failed, so the batch was not published",
        "fresh_ok": "on time", "fresh_late": "late", "fresh_unknown": "unknown",
        "back": "← All datasets", "scores": "Quality scores",
        "trend_overall": "Overall trend", "runs": "{n} runs",
        "recent_runs": "Recent runs", "batch": "Batch", "checked_at": "Checked at",
        "accounting": "Row accounting", "rows_in": "rows in", "rows_written": "written",
        "rows_quarantined": "quarantined", "duplicates_collapsed": "duplicates collapsed",
        "balanced": "balances", "unbalanced": "does not balance: off by {diff} rows",
        "accounting_missing": "accounting incomplete",
        "newest_event": "Newest event", "last_success": "Last successful load",
        "max_age": "at most {age}", "age": "{age} before the report",
        "minutes": "{n} min", "hours": "{n} h", "days": "{n} days",
        "failing_rules": "Failing rules", "passing_rules": "Passing or not evaluated rules ({n})",
        "no_failing": "No rule failed.", "rule": "Rule", "columns": "Columns",
        "dimension": "Dimension", "action": "Action", "unexpected": "Unexpected / total",
        "message": "Message", "examples": "Example values", "table_level": "table-level",
        "result": "Result", "passed": "passed", "failed": "failed", "not_run": "not evaluated",
        "action_warn": "warn", "action_quarantine": "quarantine", "action_fail": "fail (blocks the batch)",
        "open_rows": "{n} open rows in {table}", "rows": "Rows",
        "sql": "Trino query", "sql_all": "All open rows", "sample": "Sample of quarantined rows ({n})",
        "reason": "Reason", "record": "Raw record", "quarantined_at": "Quarantined at",
        "csv": "Download all open rows as CSV", "no_quarantine": "No rows in quarantine.",
        "data_docs": "Great Expectations Data Docs (every validation in detail)",
        "html_page": "HTML page", "level_good": "good", "level_fair": "needs attention",
        "level_poor": "poor", "level_none": "",
        "encoding": "Encoding", "encoding_detected": "detected, confidence {confidence}",
        "encoding_declared": "as declared", "encoding_by_font": "by the cells' fonts",
    },
}

PAGE_DIR = {"vi": "", "en": "en/"}       # where each language's pages sit under the site
TO_ROOT = {"vi": "", "en": "../"}        # from a page back to the site folder
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


# ---- values: scores, numbers, times ---------------------------------------------

def level(score: float | None) -> str:
    """Colour level of a score: ``good``, ``fair``, ``poor``, or ``none`` when there is no score."""
    if score is None:
        return "none"
    return "good" if score >= GOOD else "fair" if score >= FAIR else "poor"


def accounting_gap(accounting: dict | None) -> int | None:
    """rows_in − (written + quarantined + duplicates): 0 when it balances, None when a count is missing."""
    keys = ("rows_in", "rows_written", "rows_quarantined", "duplicates_collapsed")
    if not accounting or any(accounting.get(k) is None for k in keys):
        return None
    return accounting["rows_in"] - accounting["rows_written"] - accounting["rows_quarantined"] \
        - accounting["duplicates_collapsed"]


def number(value: float | None, lang: str, decimals: int = 0) -> str:
    """A number the way the page's readers write it: ``1.234,5`` in Vietnamese, ``1,234.5`` in English."""
    if value is None:
        return "–"
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


def encoding_text(encoding: dict | None, lang: str) -> str | None:
    """The encoding a batch's files were read in: ``tcvn3 (detected, confidence 0.98)`` for ``encoding: auto``,
    ``windows-1258 (as declared)``, ``tcvn3 (by the cells' fonts)`` for a workbook; None when the batch has none
    recorded (not a CSV or xlsx source)."""
    if not encoding or not encoding.get("encoding"):
        return None
    t = UI[lang]
    confidence = encoding.get("confidence")
    how = (t["encoding_detected"].format(confidence=number(confidence, lang, 2)) if confidence is not None
           else t["encoding_by_font"] if encoding.get("by") == "font" else t["encoding_declared"])
    return f'{encoding["encoding"]} ({how})'


def score_text(score: float | None, lang: str) -> str:
    """A score with one decimal, or "–"."""
    return number(score, lang, 1)


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def when(value: str | None) -> str:
    """An ISO timestamp shortened to minutes (``2026-11-27 09:58 UTC``); unparsable text is kept as is."""
    moment = _parse_time(value)
    if moment is None:
        return value or "–"
    offset = moment.utcoffset()
    if offset is None:
        return f"{moment:%Y-%m-%d %H:%M}"
    return f"{moment:%Y-%m-%d %H:%M} " + ("UTC" if not offset else moment.strftime("%z"))


def age(earlier: str | None, later: str | None, lang: str) -> str | None:
    """How long before ``later`` ``earlier`` was, in minutes, hours or days; None if either is unknown."""
    start, end = _parse_time(earlier), _parse_time(later)
    if start is None or end is None or (start.utcoffset() is None) != (end.utcoffset() is None):
        return None
    minutes = max(0, int((end - start).total_seconds() // 60))
    if minutes < 120:
        return UI[lang]["minutes"].format(n=minutes)
    if minutes < 48 * 60:
        return UI[lang]["hours"].format(n=minutes // 60)
    return UI[lang]["days"].format(n=minutes // (24 * 60))


def _scale(values: Iterable[float | None]) -> tuple[float, float]:
    """The y range of a sparkline: 100 down to the tens at or below the lowest score (never above FAIR,
    so small dips in a healthy dataset do not fill the whole height)."""
    present = [v for v in values if v is not None]
    low = min([FAIR, *present])
    return float(int(low // 10) * 10), 100.0


def text_sparkline(values: list[float | None]) -> str:
    """Scores as block characters (▁ … █); a run without a score is "·"."""
    low, high = _scale(values)
    top = len(SPARK_BLOCKS) - 1
    def block(v: float | None) -> str:
        if v is None:
            return "·"
        return SPARK_BLOCKS[min(top, max(0, round((v - low) / (high - low) * top)))]
    return "".join(block(v) for v in values)


def _first_last(values: list[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    return (present[0], present[-1]) if present else (None, None)


def message(rule: dict, lang: str) -> str:
    """The rule's message in the page's language, falling back to the other one."""
    other = "en" if lang == "vi" else "vi"
    return rule.get(f"message_{lang}") or rule.get(f"message_{other}") or ""


def failing_first(rules: list[dict]) -> tuple[list[dict], list[dict]]:
    """Failed rules (most severe action, then most rows) and the rest (passed or not evaluated)."""
    failed = [r for r in rules if r.get("success") is False]
    failed.sort(key=lambda r: (ACTION_ORDER.get(r.get("action"), 9), -(r.get("unexpected_count") or 0),
                               r.get("rule_id") or ""))
    rest = sorted((r for r in rules if r.get("success") is not False), key=lambda r: r.get("rule_id") or "")
    return failed, rest




def quarantine_sql(table: str, rule_id: str | None = None) -> str:
    """The query a quality officer pastes into Trino to see the open quarantined rows (of one rule).

    Rows a replay has loaded since (``replayed_at`` set) are closed and left out.
    """
    query = f"SELECT * FROM {table} WHERE replayed_at IS NULL"
    return query + (f" AND rule_id = {sql.literal(rule_id)}" if rule_id else "")


def page_name(dataset: str) -> str:
    """File name of a dataset's page; the name must be usable as a file name and not clash with the index."""
    if not isinstance(dataset, str) or not _SAFE_NAME.fullmatch(dataset) or dataset == "index":
        raise ValueError(f"quality report: dataset name {dataset!r} cannot name a page; "
                         "use letters, digits, '_', '.' or '-' (and not 'index'), as in the dataset spec")
    return f"{dataset}.html"


def _sort_key(report: dict) -> tuple[str, str]:
    return report.get("domain") or "", report["dataset"]


def _ui(lang: str) -> dict[str, str]:
    if lang not in UI:
        raise ValueError(f"quality report: language {lang!r} is not available; use one of {', '.join(UI)}")
    return UI[lang]


# ---- HTML building blocks -------------------------------------------------------

def esc(value: Any) -> str:
    """Any input value as HTML text (None as "–")."""
    return "–" if value is None else html.escape(str(value), quote=True)


def _href(link: str | None, lang: str) -> str | None:
    """A site-relative link seen from a page of ``lang``; absolute http(s) links pass; other schemes are dropped."""
    if not link:
        return None
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:
        return esc(link) if parts.scheme in ("http", "https") else None
    return esc(TO_ROOT[lang] + quote(link, safe="/#?&=%.-_~"))


def _link(link: str | None, text: str, lang: str) -> str:
    href = _href(link, lang)
    return f'<a href="{href}">{esc(text)}</a>' if href else esc(text)


def _tag(name: str, content: str, cls: str | None = None, title: str | None = None) -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' title="{esc(title)}"' if title else "")
    return f"<{name}{attrs}>{content}</{name}>"


def _table(headers: list[str], rows: list[list[str]], cls: str | None = None) -> str:
    """A table from already-escaped cells; a cell that is a whole ``<td …>`` is kept as is; no headers, no head."""
    head = "<thead><tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr></thead>\n" if headers else ""
    body = "\n".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>"
                     for row in rows)
    attrs = f' class="{cls}"' if cls else ""
    return f'<table{attrs}>\n{head}<tbody>\n{body}\n</tbody>\n</table>'


def _time(value: str | None) -> str:
    return f'<time datetime="{esc(value)}">{esc(when(value))}</time>' if value else "–"


def _dim_label(key: str | None, lang: str) -> str:
    """A dimension's (or "overall"'s) name with its meaning as a tooltip; an unknown key is shown as given."""
    if key not in SCORES:
        return esc(key)
    t = UI[lang]
    return f'<span title="{esc(t[key + "_hint"])}">{esc(t[key])}</span>'


def _score_cell(score: float | None, lang: str, why_none: str) -> str:
    """A coloured table cell; an empty score says why in its tooltip."""
    title = why_none if score is None else None
    return _tag("td", score_text(score, lang), f"score {level(score)}", title)


def svg_sparkline(values: list[float | None], label: str, width: int = 120, height: int = 28) -> str:
    """An inline SVG line of scores (oldest → newest), a dashed line at GOOD, the last point coloured."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    if not present:
        return '<span class="none">–</span>'
    low, high = _scale(values)
    step = (width - 6) / max(len(values) - 1, 1)
    def xy(i: int, v: float) -> tuple[float, float]:
        v = min(high, max(low, v))
        return round(3 + i * step, 1), round(height - 3 - (v - low) / (high - low) * (height - 6), 1)
    lines, run = [], []
    for i, v in enumerate(values + [None]):          # a run without a score breaks the line
        if v is not None:
            run.append("%s,%s" % xy(i, v))
        elif run:
            lines.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="#374151" stroke-width="1.5"/>')
            run = []
    guide = xy(0, GOOD)[1]
    x, y = xy(*present[-1])
    colour = LEVEL_COLOURS[level(present[-1][1])][0]
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(label)}"><title>{esc(label)}</title>'
            f'<line x1="0" y1="{guide}" x2="{width}" y2="{guide}" stroke="#9ca3af" stroke-dasharray="2,2"/>'
            + "".join(lines) + f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/></svg>')


def _trend_label(values: list[float | None], lang: str) -> str:
    first, last = _first_last(values)
    runs = UI[lang]["runs"].format(n=len(values))
    return f"{score_text(first, lang)} → {score_text(last, lang)} ({runs})"


def _status(latest: dict | None, lang: str) -> str:
    t = UI[lang]
    if not latest:
        return _tag("span", esc(t["never_validated"]), "badge none")
    if latest.get("status") == "blocked":
        return _tag("span", esc(t["status_blocked"]), "badge poor", t["blocked_hint"])
    if latest.get("status") == "published":
        return _tag("span", esc(t["status_published"]), "badge good")
    return _tag("span", esc(latest.get("status")), "badge none")


def _freshness_badge(freshness: dict | None, lang: str) -> str:
    t = UI[lang]
    ok = (freshness or {}).get("ok")
    if ok is None:
        return _tag("span", "–", "badge none", t["fresh_unknown"])
    return _tag("span", esc(t["fresh_ok"] if ok else t["fresh_late"]), "badge good" if ok else "badge poor")


def _css() -> str:
    levels = "".join(f".{name}{{color:{fg};background:{bg}}}" for name, (fg, bg) in LEVEL_COLOURS.items())
    return ("body{font-family:system-ui,'Segoe UI',Roboto,Arial,sans-serif;margin:1.5rem auto;max-width:72rem;"
            "padding:0 1rem;color:#111827;line-height:1.45}"
            "h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #e5e7eb}"
            "nav{display:flex;justify-content:space-between;font-size:.95rem}"
            "table{border-collapse:collapse;margin:.5rem 0;width:100%}"
            "th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}"
            "th{background:#f9fafb;font-weight:600}"
            "td.score{text-align:right;font-variant-numeric:tabular-nums;font-weight:600}"
            ".badge{padding:.05rem .45rem;border-radius:.6rem;white-space:nowrap}"
            ".cards{display:flex;flex-wrap:wrap;gap:.6rem}"
            ".card{padding:.6rem .9rem;border-radius:.4rem;min-width:9rem}"
            ".card b{display:block;font-size:1.6rem}"
            ".equation{font-size:1.1rem;padding:.5rem .8rem;border-left:4px solid #16a34a}"
            ".equation.bad{border-left-color:#b91c1c;color:#7f1d1d;background:#fee2e2}"
            "code{background:#f3f4f6;padding:0 .25rem;white-space:pre-wrap;word-break:break-all}"
            "code.ex{display:inline-block;margin:0 .2rem .2rem 0}code.ex:empty::after{content:'∅'}"
            "pre.sql{background:#f3f4f6;padding:.4rem .6rem;user-select:all;white-space:pre-wrap;margin:0}"
            ".muted{color:#6b7280}details{margin:.8rem 0}summary{cursor:pointer;font-weight:600}"
            + levels)


def _page(lang: str, title: str, body: str, name: str) -> str:
    """A whole page: the language switch points at the same page in the other language."""
    t = _ui(lang)
    other = "en" if lang == "vi" else "vi"
    switch = TO_ROOT[lang] + PAGE_DIR[other] + name
    back = "" if name == "index.html" else f'<a href="index.html">{esc(t["back"])}</a>'
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{_css()}</style>\n</head>\n<body>\n"
            f'<nav><span>{back}</span><a href="{esc(switch)}" hreflang="{other}" lang="{other}">'
            f'{esc(t["switch"])}</a></nav>\n{body}\n</body>\n</html>\n')


# ---- the index ------------------------------------------------------------------

def _index_row(report: dict, lang: str) -> list[str]:
    t = UI[lang]
    latest = report.get("latest")
    scores = (latest or {}).get("scores") or {}
    why_none = t["no_rules"] if latest else t["never_validated"]
    trend = [run.get("overall") for run in report.get("trend") or []]
    quarantine = report.get("quarantine") or {}
    name = page_name(report["dataset"])
    open_rows = quarantine.get("open_rows")
    open_cell = (f'<a href="{name}#quarantine">{number(open_rows, lang)}</a>' if open_rows
                 else number(open_rows, lang))
    batch = (f'{esc(latest.get("batch_id"))}<br><span class="muted">{_time(latest.get("checked_at"))}</span>'
             if latest else "–")
    return [f'<a href="{name}">{esc(report["dataset"])}</a>', esc(report.get("domain")), esc(report.get("layer")),
            *(_score_cell(scores.get(k), lang, why_none) for k in SCORES),
            svg_sparkline(trend, f'{t["trend_overall"]}: {_trend_label(trend, lang)}'),
            batch, _status(latest, lang), _tag("td", open_cell, "score"),
            _freshness_badge(report.get("freshness"), lang)]


def _summary(reports: list[dict], lang: str) -> str:
    blocked = sum(1 for r in reports if (r.get("latest") or {}).get("status") == "blocked")
    late = sum(1 for r in reports if (r.get("freshness") or {}).get("ok") is False)
    open_rows = sum((r.get("quarantine") or {}).get("open_rows") or 0 for r in reports)
    return UI[lang]["summary"].format(datasets=number(len(reports), lang), blocked=number(blocked, lang),
                                      late=number(late, lang), open=number(open_rows, lang))


def render_index(reports: list[dict], lang: str) -> str:
    """The index page: one row per dataset, sorted by domain then dataset."""
    t = _ui(lang)
    reports = sorted(reports, key=_sort_key)
    headers = [esc(t["dataset"]), esc(t["domain"]), esc(t["layer"]),
               *(_dim_label(k, lang) for k in SCORES), esc(t["trend"]), esc(t["last_batch"]),
               esc(t["status"]), esc(t["quarantine"]), esc(t["freshness"])]
    generated = max((r.get("generated_at") or "" for r in reports), default="")
    body = (f'<h1>{esc(t["site_title"])}</h1>\n<p class="muted">{esc(t["motto"])}</p>\n'
            f'<p>{esc(_summary(reports, lang))}</p>\n'
            + _table(headers, [_index_row(r, lang) for r in reports], "index")
            + f'\n<p class="muted">{esc(t["legend"].format(good=number(GOOD, lang), fair=number(FAIR, lang)))}'
            + (f'<br>{esc(t["generated_at"])}: {_time(generated)}' if generated else "") + "</p>")
    return _page(lang, t["site_title"], body, "index.html")


# ---- a dataset's page -----------------------------------------------------------

def _header(report: dict, lang: str) -> str:
    t = UI[lang]
    latest = report.get("latest")
    facts = [(t["domain"], esc(report.get("domain"))), (t["layer"], esc(report.get("layer"))),
             (t["table"], f'<code>{esc(report.get("table"))}</code>'),
             (t["last_batch"], f'{esc((latest or {}).get("batch_id"))} {_status(latest, lang)}'),
             (t["checked_at"], _time((latest or {}).get("checked_at"))),
             (t["generated_at"], _time(report.get("generated_at")))]
    encoding = encoding_text((latest or {}).get("encoding"), lang)
    if encoding:
        facts.insert(4, (t["encoding"], esc(encoding)))
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
    return (f'<h1>{esc(report["dataset"])}</h1>\n<p>{esc(report.get("description"))}</p>\n'
            f'<table class="facts"><tbody>{rows}</tbody></table>')


def _scores_section(report: dict, lang: str) -> str:
    t = UI[lang]
    latest = report.get("latest")
    scores = (latest or {}).get("scores") or {}
    why_none = t["no_rules"] if latest else t["never_validated"]
    cards = []
    for key in SCORES:
        score = scores.get(key)
        title = f' title="{esc(why_none)}"' if score is None else ""
        cards.append(f'<div class="card {level(score)}"{title}>{esc(t[key])} <span class="muted">'
                     f'({esc(t[key + "_hint"])})</span><b>{score_text(score, lang)}</b></div>')
    return f'<section id="scores">\n<h2>{esc(t["scores"])}</h2>\n<div class="cards">{"".join(cards)}</div>\n</section>'


def _trend_section(report: dict, lang: str) -> str:
    t = UI[lang]
    trend = report.get("trend") or []
    if not trend:
        return f'<section id="trend">\n<h2>{esc(t["trend"])}</h2>\n<p class="muted">–</p>\n</section>'
    lines = []
    for key in SCORES:
        values = [run.get(key) for run in trend]
        label = f'{t[key]}: {_trend_label(values, lang)}'
        lines.append([_dim_label(key, lang), svg_sparkline(values, label), esc(_trend_label(values, lang))])
    recent = [[esc(run.get("batch_id")), _time(run.get("checked_at")),
               *(_score_cell(run.get(k), lang, t["no_rules"]) for k in SCORES)]
              for run in reversed(trend[-TREND_ROWS:])]
    return (f'<section id="trend">\n<h2>{esc(t["trend"])}</h2>\n' + _table([], lines, "sparks")
            + f'\n<h3>{esc(t["recent_runs"])}</h3>\n'
            + _table([esc(t["batch"]), esc(t["checked_at"]), *(_dim_label(k, lang) for k in SCORES)], recent)
            + "\n</section>")


def _accounting_section(report: dict, lang: str) -> str:
    """rows in = written + quarantined + duplicates, with a tick, or in red with the gap."""
    t = UI[lang]
    accounting = (report.get("latest") or {}).get("accounting")
    head = f'<section id="accounting">\n<h2>{esc(t["accounting"])}</h2>\n'
    if not accounting:
        return head + '<p class="muted">–</p>\n</section>'
    term = lambda k: f'{esc(t[k])} <b>{number(accounting.get(k), lang)}</b>'  # noqa: E731
    gap = accounting_gap(accounting)
    sign = "=" if gap == 0 else "≠" if gap is not None else "?"
    verdict = (f'✓ {esc(t["balanced"])}' if gap == 0 else esc(t["accounting_missing"]) if gap is None
               else f'✗ {esc(t["unbalanced"].format(diff=number(gap, lang)))}')
    equation = (f'{term("rows_in")} {sign} {term("rows_written")} + {term("rows_quarantined")} + '
                f'{term("duplicates_collapsed")} — {verdict}')
    return head + f'<p class="equation{"" if gap == 0 else " bad"}">{equation}</p>\n</section>'


def _freshness_section(report: dict, lang: str) -> str:
    t = UI[lang]
    freshness = report.get("freshness") or {}
    def fact(moment_key: str, max_key: str) -> str:
        moment = freshness.get(moment_key)
        notes = [t["age"].format(age=a) for a in [age(moment, report.get("generated_at"), lang)] if a]
        if freshness.get(max_key):
            notes.append(t["max_age"].format(age=freshness[max_key]))
        return _time(moment) + (f' <span class="muted">({esc("; ".join(notes))})</span>' if notes else "")
    rows = [[esc(t["status"]), _freshness_badge(freshness, lang)],
            [esc(t["newest_event"]), fact("newest_event", "event_max_age")],
            [esc(t["last_success"]), fact("last_success", "load_max_age")],
            [esc(t["checked_at"]), _time(freshness.get("checked_at"))]]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (f'<section id="freshness">\n<h2>{esc(t["freshness"])}</h2>\n'
            f'<table class="facts"><tbody>{body}</tbody></table>\n</section>')


def _counts(rule: dict, lang: str) -> str:
    """``unexpected / total (share)``, or "table-level" for a rule without row counts."""
    unexpected, total = rule.get("unexpected_count"), rule.get("element_count")
    if unexpected is None and total is None:
        return UI[lang]["table_level"] if rule.get("success") is not None else "–"
    share = f" ({number(100 * unexpected / total, lang, 1)}%)" if unexpected is not None and total else ""
    return f"{number(unexpected, lang)} / {number(total, lang)}{share}"


def _rule_row(rule: dict, lang: str) -> list[str]:
    t = UI[lang]
    result = {True: ("passed", "good"), False: ("failed", "poor")}.get(rule.get("success"), ("not_run", "none"))
    columns = ", ".join(rule.get("columns") or [])
    action = rule.get("action")
    examples = "".join(f'<code class="ex">{esc(x)}</code>' for x in rule.get("examples") or [])
    return [f'<code>{esc(rule.get("rule_id"))}</code><br><span class="muted">{esc(rule.get("check"))}'
            f'{": " + esc(columns) if columns else ""}</span>',
            _tag("span", esc(t[result[0]]), f"badge {result[1]}"),
            _dim_label(rule.get("dimension"), lang),
            esc(t.get(f"action_{action}", action)), esc(_counts(rule, lang)), esc(message(rule, lang)), examples]


def _rules_section(report: dict, lang: str) -> str:
    t = UI[lang]
    failed, rest = failing_first(report.get("rules") or [])
    headers = [esc(t[k]) for k in ("rule", "result", "dimension", "action", "unexpected", "message", "examples")]
    parts = [f'<section id="rules">\n<h2>{esc(t["failing_rules"])} ({number(len(failed), lang)})</h2>']
    parts.append(_table(headers, [_rule_row(r, lang) for r in failed], "rules failing") if failed
                 else f'<p>{esc(t["no_failing"])}</p>')
    if rest:
        parts.append(f'<details>\n<summary>{esc(t["passing_rules"].format(n=number(len(rest), lang)))}</summary>\n'
                     + _table(headers, [_rule_row(r, lang) for r in rest], "rules passing") + "\n</details>")
    return "\n".join(parts) + "\n</section>"


def _quarantine_section(report: dict, lang: str) -> str:
    t = UI[lang]
    quarantine = report.get("quarantine") or {}
    head = f'<section id="quarantine">\n<h2>{esc(t["quarantine"])}</h2>\n'
    table, sample = quarantine.get("table"), quarantine.get("sample") or []
    if not quarantine.get("open_rows") and not sample:
        return head + f'<p>{esc(t["no_quarantine"])}</p>\n</section>'
    parts = [f'<p>{esc(t["open_rows"].format(n=number(quarantine.get("open_rows"), lang), table=table or "–"))}</p>']
    if quarantine.get("csv"):
        parts.append(f'<p>{_link(quarantine["csv"], t["csv"], lang)}</p>')
    if table:
        parts.append(f'<p>{esc(t["sql_all"])}:</p>\n<pre class="sql">{esc(quarantine_sql(table))}</pre>')
    by_rule = [[f'<code>{esc(b.get("rule_id"))}</code>', _dim_label(b.get("dimension"), lang),
                _tag("td", number(b.get("rows"), lang), "score"),
                f'<pre class="sql">{esc(quarantine_sql(table, b.get("rule_id")))}</pre>' if table else "–"]
               for b in quarantine.get("by_rule") or []]
    if by_rule:
        parts.append(_table([esc(t["rule"]), esc(t["dimension"]), esc(t["rows"]), esc(t["sql"])], by_rule))
    if sample:
        rows = [[f'<code>{esc(s.get("rule_id"))}</code>', _dim_label(s.get("dimension"), lang), esc(s.get("reason")),
                 f'<code>{esc(s.get("record"))}</code>', esc(s.get("batch_id")), _time(s.get("quarantined_at"))]
                for s in sample]
        headers = [esc(t[k]) for k in ("rule", "dimension", "reason", "record", "batch", "quarantined_at")]
        parts.append(f'<details open>\n<summary>{esc(t["sample"].format(n=number(len(sample), lang)))}</summary>\n'
                     + _table(headers, rows, "sample") + "\n</details>")
    return head + "\n".join(parts) + "\n</section>"


def _docs_section(report: dict, lang: str) -> str:
    href = _href(report.get("data_docs"), lang)
    return f'<p><a href="{href}">{esc(UI[lang]["data_docs"])}</a></p>' if href else ""


def render_dataset(report: dict, lang: str) -> str:
    """One dataset's page: scores, trend, row accounting, freshness, rules, quarantine, Data Docs."""
    sections = (_header, _scores_section, _trend_section, _accounting_section, _freshness_section,
                _rules_section, _quarantine_section, _docs_section)
    body = "\n".join(section(report, lang) for section in sections)
    return _page(lang, f'{report["dataset"]} — {_ui(lang)["site_title"]}', body, page_name(report["dataset"]))


def render_site(reports: list[dict], out_dir: Path) -> Path:
    """Write the site (Vietnamese at the top, English under ``en/``) and return ``out_dir/index.html``."""
    names = [page_name(r["dataset"]) for r in reports]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"quality report: more than one report for {', '.join(twice)}; pass one per dataset")
    out_dir = Path(out_dir)
    for lang in LANGS:
        folder = out_dir / PAGE_DIR[lang]
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "index.html", render_index(reports, lang))
        for report in reports:
            _write(folder / page_name(report["dataset"]), render_dataset(report, lang))
    return out_dir / "index.html"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


# ---- terminal text --------------------------------------------------------------

def _plain(value: Any) -> str:
    """Input text made safe for a terminal: control characters (escape codes, newlines) shown as \\xNN."""
    if value is None:
        return "–"
    return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in str(value))


def _dim_name(key: str | None, lang: str) -> str:
    return UI[lang][key] if key in SCORES else _plain(key)


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, TEXT_WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=True, break_on_hyphens=False) or [indent.rstrip()]


def _text_header(report: dict, lang: str) -> list[str]:
    t = UI[lang]
    latest = report.get("latest")
    lines = [f'{_plain(report.get("dataset"))} · {_plain(report.get("table"))} · '
             f'{_plain(report.get("domain"))}/{_plain(report.get("layer"))}']
    if not latest:
        return lines + [f'{t["last_batch"]}: – ({t["never_validated"]})']
    status = {"published": t["status_published"], "blocked": t["status_blocked"]}.get(
        latest.get("status"), _plain(latest.get("status")))
    lines.append(f'{t["last_batch"]}: {_plain(latest.get("batch_id"))}, '
                 f'{when(_plain(latest.get("checked_at")))} — {status}')
    if latest.get("status") == "blocked":
        lines.append(f'  {t["blocked_hint"]}')
    encoding = encoding_text(latest.get("encoding"), lang)
    if encoding:
        lines.append(f'{t["encoding"]}: {_plain(encoding)}')
    return lines


def _text_scores(report: dict, lang: str) -> list[str]:
    t = UI[lang]
    latest = report.get("latest")
    scores = (latest or {}).get("scores") or {}
    labels = {k: f'{t[k]} ({t[k + "_hint"]})' for k in SCORES}
    width = max(len(v) for v in labels.values()) + 2
    lines = [t["scores"]]
    for key in SCORES:
        score = scores.get(key)
        note = t[f"level_{level(score)}"] if score is not None else t["no_rules"] if latest else ""
        lines.append(f"  {labels[key]:<{width}}{score_text(score, lang):>6}  {note}".rstrip())
    trend = [run.get("overall") for run in report.get("trend") or []]
    if trend:
        first, last = _first_last(trend)
        lines.append(f'{t["trend_overall"]} ({t["runs"].format(n=len(trend))}): {text_sparkline(trend)}  '
                     f"{score_text(first, lang)} → {score_text(last, lang)}")
    return lines


def _text_accounting(report: dict, lang: str) -> list[str]:
    t = UI[lang]
    accounting = (report.get("latest") or {}).get("accounting")
    if not accounting:
        return []
    gap = accounting_gap(accounting)
    sign = "=" if gap == 0 else "≠" if gap is not None else "?"
    verdict = (f'✓ {t["balanced"]}' if gap == 0 else t["accounting_missing"] if gap is None
               else f'✗ {t["unbalanced"].format(diff=number(gap, lang))}')
    term = lambda k: f"{t[k]} {number(accounting.get(k), lang)}"  # noqa: E731
    equation = (f'{t["accounting"]}: {term("rows_in")} {sign} {term("rows_written")} + '
                f'{term("rows_quarantined")} + {term("duplicates_collapsed")}')
    one_line = f"{equation}  {verdict}"
    return [one_line] if len(one_line) <= TEXT_WIDTH else [equation, f"  {verdict}"]


def _text_freshness(report: dict, lang: str) -> list[str]:
    t = UI[lang]
    freshness = report.get("freshness") or {}
    ok = freshness.get("ok")
    lines = [f'{t["freshness"]}: {t["fresh_unknown"] if ok is None else t["fresh_ok"] if ok else t["fresh_late"]}']
    for moment_key, max_key, label in (("newest_event", "event_max_age", t["newest_event"]),
                                       ("last_success", "load_max_age", t["last_success"])):
        moment = freshness.get(moment_key)
        if not moment:
            continue
        notes = [t["age"].format(age=a) for a in [age(moment, report.get("generated_at"), lang)] if a]
        if freshness.get(max_key):
            notes.append(t["max_age"].format(age=_plain(freshness[max_key])))
        lines.append(f"  {label}: {when(_plain(moment))}" + (f' ({"; ".join(notes)})' if notes else ""))
    return lines


def _text_rules(report: dict, lang: str) -> list[str]:
    t = UI[lang]
    failed, _ = failing_first(report.get("rules") or [])
    if not failed:
        return [t["no_failing"]] if report.get("rules") else []
    lines = [f'{t["failing_rules"]} ({len(failed)})']
    for rule in failed:
        action = t.get(f'action_{rule.get("action")}', _plain(rule.get("action")))
        lines.append(f'  {_plain(rule.get("rule_id"))} — {_dim_name(rule.get("dimension"), lang)}, {action}, '
                     f'{_counts(rule, lang)}')
        lines += _wrap(_plain(message(rule, lang)), "      ")
        examples = [_clip(_plain(x)) for x in (rule.get("examples") or [])[:TEXT_EXAMPLES]]
        if examples:
            lines += _wrap(f'{t["examples"]}: ' + ", ".join(f'"{x}"' for x in examples), "      ")
    return lines


def _text_quarantine(report: dict, lang: str) -> list[str]:
    t = UI[lang]
    quarantine = report.get("quarantine") or {}
    if not quarantine.get("open_rows"):
        return [t["no_quarantine"]] if quarantine else []
    lines = [f'{t["quarantine"]}: ' + t["open_rows"].format(n=number(quarantine["open_rows"], lang),
                                                             table=_plain(quarantine.get("table")))]
    by_rule = quarantine.get("by_rule") or []
    width = max((len(_plain(b.get("rule_id"))) for b in by_rule), default=0) + 2
    for b in by_rule:
        lines.append(f'  {_plain(b.get("rule_id")):<{width}}{number(b.get("rows"), lang):>8}  '
                     f'{_dim_name(b.get("dimension"), lang)}')
    return lines


def render_text(report: dict, lang: str = "vi") -> str:
    """What `lake quality <dataset>` prints: plain text, no colours, lines of about 100 characters at most."""
    t = _ui(lang)
    blocks = [_text_header(report, lang), _text_scores(report, lang), _text_accounting(report, lang),
              _text_freshness(report, lang), _text_rules(report, lang), _text_quarantine(report, lang)]
    if report.get("site_path"):
        blocks.append([f'{t["html_page"]}: {_plain(report["site_path"])}'])
    return "\n\n".join("\n".join(block) for block in blocks if block) + "\n"
