"""The quality report: HTML site (vi + en) and `lake quality` text from plain report dicts (milliseconds)."""

import copy
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lakehouse.quality import quality_report as qr

GENERATED = "2026-11-27T10:00:00+00:00"


def rule(rule_id, dimension, action, success, unexpected, total, examples=(), check="not_null", columns=("x",),
         vi="Thông báo", en="Message"):
    return {"rule_id": rule_id, "check": check, "columns": list(columns), "dimension": dimension, "action": action,
            "message_vi": vi, "message_en": en, "success": success, "element_count": total,
            "unexpected_count": unexpected, "examples": list(examples)}


def run(batch_id, dung, du, sach, song, overall):
    return {"batch_id": batch_id, "checked_at": f"{batch_id.split('@')[1]}T09:58:00+00:00",
            "dung": dung, "du": du, "sach": sach, "song": song, "overall": overall}


HEALTHY = {
    "dataset": "citizens", "domain": "citizens", "layer": "silver",
    "description": "Sổ đăng ký công dân: one row per citizen",
    "table": "lake.silver.citizens", "generated_at": GENERATED,
    "latest": {"batch_id": "citizens@2026-11-27", "checked_at": "2026-11-27T09:58:00+00:00", "status": "published",
               "scores": {"dung": 99.2, "du": 100.0, "sach": 100.0, "song": None, "overall": 99.6},
               "accounting": {"rows_in": 512, "rows_written": 505, "rows_quarantined": 6,
                              "duplicates_collapsed": 1}},
    "trend": [run("citizens@2026-11-25", 97.0, 100.0, 100.0, None, 98.5),
              run("citizens@2026-11-26", 98.0, 100.0, 99.0, None, 99.0),
              run("citizens@2026-11-27", 99.2, 100.0, 100.0, None, 99.6)],
    "rules": [rule("cccd__citizen_id", "dung", "quarantine", False, 3, 512, ["079285001234", "12345"], check="cccd",
                   columns=("citizen_id", "date_of_birth", "sex"),
                   vi="Số CCCD không hợp lệ (sai mã tỉnh, năm sinh hoặc giới tính)",
                   en="Invalid CCCD number (province, birth year or sex code does not match)"),
              rule("not_null__full_name", "du", "quarantine", True, 0, 512,
                   vi="Họ và tên không được để trống", en="Full name must not be empty")],
    "quarantine": {"table": "lake.quarantine.citizens__quarantine", "open_rows": 6,
                   "by_rule": [{"rule_id": "cccd__citizen_id", "dimension": "dung", "rows": 3},
                               {"rule_id": "cast__date_of_birth", "dimension": "dung", "rows": 3}],
                   "sample": [{"rule_id": "cccd__citizen_id", "dimension": "dung", "reason": "mã tỉnh 999 & sai",
                               "record": '{"citizen_id": "<script>alert(1)</script>", "name": "Nguyễn Văn A"}',
                               "batch_id": "citizens@2026-11-27", "quarantined_at": "2026-11-27T09:57:00+00:00"}],
                   "csv": "quarantine/citizens.csv"},
    "freshness": {"checked_at": "2026-11-27T09:58:00+00:00", "newest_event": "2026-11-27T09:40:00+00:00",
                  "event_max_age": "2h", "last_success": "2026-11-27T04:10:00+00:00", "load_max_age": "1d",
                  "ok": True},
    "data_docs": "gx/index.html",
}

BLOCKED = {
    "dataset": "enterprises", "domain": "business", "layer": "silver",
    "description": 'Doanh nghiệp "đang hoạt động" <b>& chi nhánh</b>',
    "table": "lake.silver.enterprises", "generated_at": GENERATED,
    "latest": {"batch_id": "enterprises@2026-11-27", "checked_at": "2026-11-27T08:00:00+00:00", "status": "blocked",
               "scores": {"dung": 62.5, "du": 88.0, "sach": 96.0, "song": 50.0, "overall": 74.1},
               # unbalanced on purpose: 1000 ≠ 900 + 80 + 10
               "accounting": {"rows_in": 1000, "rows_written": 900, "rows_quarantined": 80,
                              "duplicates_collapsed": 10}},
    "trend": [run("enterprises@2026-11-26", 90.0, 95.0, 97.0, 100.0, 95.5),
              run("enterprises@2026-11-27", 62.5, 88.0, 96.0, 50.0, 74.1)],
    "rules": [rule("tax_code__format", "dung", "warn", False, 5, 1000, ["01-0123", "abc"]),
              rule("row_count__min", "du", "fail", False, None, None, vi="Quá ít dòng so với lần trước",
                   en="Too few rows compared with the previous batch"),
              rule("unique__tax_code", "sach", "quarantine", True, 0, 1000),
              rule("not_null__name", "du", "quarantine", None, None, None)],
    "quarantine": {"table": "lake.quarantine.enterprises__quarantine", "open_rows": 80,
                   "by_rule": [{"rule_id": "o'brien__name", "dimension": "dung", "rows": 80}],
                   "sample": [], "csv": None},
    "freshness": {"checked_at": "2026-11-27T08:00:00+00:00", "newest_event": "2026-11-24T08:00:00+00:00",
                  "event_max_age": "1d", "last_success": None, "load_max_age": None, "ok": False},
    "data_docs": None,
}

NEVER = {
    "dataset": "air_quality_readings", "domain": "environment", "layer": "silver", "description": None,
    "table": "lake.silver.air_quality_readings", "generated_at": GENERATED,
    "latest": None, "trend": [], "rules": [], "quarantine": None,
    "freshness": {"checked_at": None, "newest_event": None, "event_max_age": None, "last_success": None,
                  "load_max_age": None, "ok": None},
    "data_docs": None,
}

REPORTS = [HEALTHY, BLOCKED, NEVER]
NAMES = [r["dataset"] for r in REPORTS]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    index = qr.render_site(copy.deepcopy(REPORTS), out)
    return out, index


def read(out: Path, lang: str, page: str) -> str:
    return (out / qr.PAGE_DIR[lang] / page).read_text(encoding="utf-8")


def all_pages(out: Path):
    return sorted(out.rglob("*.html"))


class Checker(HTMLParser):
    """Keeps a stack of open elements and records every mismatch, link and the <html lang>."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.hrefs, self.lang, self.opened = [], [], [], None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag == "a" and "href" in attrs:
            self.hrefs.append(attrs["href"])
        self.opened[tag] = self.opened.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def parse(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    return checker


# ---- the site -------------------------------------------------------------------

def test_site_has_an_index_and_a_page_per_dataset_in_both_languages(site):
    out, index = site
    assert index == out / "index.html"
    expected = {"index.html", *(f"{n}.html" for n in NAMES)}
    assert {p.name for p in out.glob("*.html")} == expected
    assert {p.name for p in (out / "en").glob("*.html")} == expected


def test_every_page_parses_with_balanced_tags_and_the_right_lang(site):
    out, _ = site
    for path in all_pages(out):
        checker = parse(path.read_text(encoding="utf-8"))
        assert not checker.errors, (path, checker.errors[:3])
        assert not checker.stack, (path, checker.stack)
        assert checker.lang == ("en" if path.parent.name == "en" else "vi")
        for tag in ("table", "section", "details", "svg"):
            assert text_count(path, f"<{tag}") == text_count(path, f"</{tag}>"), (path, tag)


def text_count(path: Path, needle: str) -> int:
    return path.read_text(encoding="utf-8").count(needle)


def test_every_dataset_is_linked_from_both_indexes_and_internal_links_resolve(site):
    out, _ = site
    for lang in qr.LANGS:
        hrefs = parse(read(out, lang, "index.html")).hrefs
        for name in NAMES:
            assert f"{name}.html" in hrefs
    for path in all_pages(out):
        for href in parse(path.read_text(encoding="utf-8")).hrefs:
            assert not href.startswith(("/", "http:", "https:", "file:")), (path, href)
            target = (path.parent / href.split("#")[0]).resolve()
            if target.parent in (out.resolve(), (out / "en").resolve()):   # a page of the site, not CSV or Docs
                assert target.exists(), (path, href)


def test_language_switch_points_to_the_same_page_in_the_other_language(site):
    out, _ = site
    assert 'href="en/citizens.html" hreflang="en"' in read(out, "vi", "citizens.html")
    assert 'href="../citizens.html" hreflang="vi"' in read(out, "en", "citizens.html")
    assert 'href="../index.html" hreflang="vi"' in read(out, "en", "index.html")


def test_links_to_csv_and_data_docs_are_relative_to_the_site_folder(site):
    out, _ = site
    assert 'href="quarantine/citizens.csv"' in read(out, "vi", "citizens.html")
    assert 'href="../quarantine/citizens.csv"' in read(out, "en", "citizens.html")
    assert 'href="../gx/index.html"' in read(out, "en", "citizens.html")
    assert "gx/index.html" not in read(out, "vi", "enterprises.html")  # no Data Docs, no link


def test_input_values_are_escaped(site):
    out, _ = site
    for lang in qr.LANGS:
        page = read(out, lang, "citizens.html")
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "mã tỉnh 999 &amp; sai" in page
        page = read(out, lang, "enterprises.html")
        assert "<b>& chi" not in page
        assert "&quot;đang hoạt động&quot; &lt;b&gt;&amp; chi nhánh&lt;/b&gt;" in page


def test_vietnamese_pages_speak_vietnamese_and_english_pages_english(site):
    out, _ = site
    vi, en = read(out, "vi", "citizens.html"), read(out, "en", "citizens.html")
    for text in ("Đúng", "Đủ", "Sạch", "Sống", "Số CCCD không hợp lệ", "Đối soát số dòng", "đã công bố"):
        assert text in vi
    for text in ("Correct", "Complete", "Clean", "Current", "Invalid CCCD number", "Row accounting", "published"):
        assert text in en
    assert "Số CCCD không hợp lệ" not in en and "Invalid CCCD number" not in vi
    assert "Nguyễn Văn A" in vi and "Nguyễn Văn A" in en  # data is shown as given in both
    for path in all_pages(out):
        text = path.read_text(encoding="utf-8")
        assert '<meta charset="utf-8">' in text
        assert unicodedata.is_normalized("NFC", text), path


def test_index_shows_scores_statuses_and_is_sorted_by_domain_then_dataset(site):
    out, _ = site
    vi, en = read(out, "vi", "index.html"), read(out, "en", "index.html")
    assert [m for m in re.findall(r'<a href="(\w+)\.html">', en)] == ["enterprises", "citizens", "air_quality_readings"]
    assert '<td class="score good">99.2</td>' in en and '<td class="score good">99,2</td>' in vi
    assert '<td class="score poor">62.5</td>' in en and '<td class="score fair">88.0</td>' in en
    assert '<td class="score none" title="no rules in this dimension">–</td>' in en   # citizens: no "song" rules
    assert '<td class="score none" title="never validated">–</td>' in en              # air quality
    assert "blocked" in en and "bị chặn" in vi and "late" in en and "trễ hạn" in vi
    assert "<svg" in en and "<polyline" in en
    assert "3 datasets · 1 blocked batches · 1 late · 86 rows in quarantine" in en


def test_dataset_page_shows_scores_counts_accounting_and_quarantine(site):
    out, _ = site
    page = read(out, "en", "citizens.html")
    assert "<b>99.2</b>" in page and "<b>99.6</b>" in page
    assert "rows in <b>512</b> = written <b>505</b> + quarantined <b>6</b> + duplicates collapsed <b>1</b>" in page
    assert "✓ balances" in page and 'class="equation"' in page
    assert "3 / 512 (0.6%)" in page
    assert "6 open rows in lake.quarantine.citizens__quarantine" in page
    assert ("SELECT * FROM lake.quarantine.citizens__quarantine WHERE replayed_at IS NULL "
            "AND rule_id = &#x27;cccd__citizen_id&#x27;"
            in page)
    assert "20 min before the report" in page and "at most 2h" in page
    assert "5 h before the report" in page


def test_unbalanced_accounting_is_flagged_in_red(site):
    out, _ = site
    en, vi = read(out, "en", "enterprises.html"), read(out, "vi", "enterprises.html")
    assert 'class="equation bad"' in en
    assert "rows in <b>1,000</b> ≠ written <b>900</b>" in en
    assert "does not balance: off by 10 rows" in en
    assert "dòng vào <b>1.000</b> ≠" in vi and "lệch 10 dòng" in vi
    assert qr.accounting_gap(BLOCKED["latest"]["accounting"]) == 10
    assert qr.accounting_gap(HEALTHY["latest"]["accounting"]) == 0
    assert qr.accounting_gap({"rows_in": 1, "rows_written": None}) is None


def test_failing_rules_come_first_most_severe_and_passing_ones_are_collapsed(site):
    out, _ = site
    page = read(out, "en", "enterprises.html")
    failing, _, passing = page.partition("<details>")
    assert failing.index("row_count__min") < failing.index("tax_code__format")      # fail before warn
    assert "table-level" in failing and "fail (blocks the batch)" in failing
    assert '<code class="ex">01-0123</code>' in failing
    assert "unique__tax_code" in passing and "not evaluated" in passing
    assert "unique__tax_code" not in failing


def test_sql_literals_double_quotes():
    assert qr.quarantine_sql("lake.quarantine.t", "o'brien") == \
        "SELECT * FROM lake.quarantine.t WHERE replayed_at IS NULL AND rule_id = 'o''brien'"


def test_never_validated_dataset_renders_without_error(site):
    out, _ = site
    for lang in qr.LANGS:
        page = read(out, lang, "air_quality_readings.html")
        assert qr.UI[lang]["never_validated"] in page
        assert qr.UI[lang]["no_quarantine"] in page
    text = qr.render_text(NEVER, "en")
    assert "never validated" in text and "Freshness: unknown" in text


def test_colour_levels_come_from_the_thresholds():
    assert [qr.level(s) for s in (100, qr.GOOD, 94.9, qr.FAIR, 79.9, 0, None)] == \
        ["good", "good", "fair", "fair", "poor", "poor", "none"]


def test_dataset_names_that_cannot_name_a_page_are_refused(tmp_path):
    for bad in ("../x", "index", "a/b", ""):
        with pytest.raises(ValueError, match="cannot name a page"):
            qr.render_site([{**NEVER, "dataset": bad}], tmp_path)
    with pytest.raises(ValueError, match="more than one report for citizens.html"):
        qr.render_site([HEALTHY, HEALTHY], tmp_path)


def test_links_with_other_schemes_are_not_linked(tmp_path):
    qr.render_site([{**NEVER, "data_docs": "javascript:alert(1)"}], tmp_path)
    assert "javascript:" not in (tmp_path / "air_quality_readings.html").read_text(encoding="utf-8")


# ---- terminal text --------------------------------------------------------------

def test_text_has_scores_trend_accounting_freshness_and_failing_rules():
    text = qr.render_text({**BLOCKED, "site_path": "/srv/quality/enterprises.html"}, "en")
    assert text.startswith("enterprises · lake.silver.enterprises · business/silver\n")
    assert "— blocked\n  a rule with action “fail” failed" in text
    for label, score in (("Correct (accurate)", "62.5"), ("Complete (nothing missing)", "88.0"),
                         ("Clean (no duplicates, standard formats)", "96.0"), ("Overall (combined score)", "74.1")):
        assert re.search(rf"{re.escape(label)} +{re.escape(score)}", text), label
    assert "Overall trend (2 runs): ▇▂  95.5 → 74.1" in text
    assert ("rows in 1,000 ≠ written 900 + quarantined 80 + duplicates collapsed 10\n"
            "  ✗ does not balance: off by 10 rows") in text
    assert "Freshness: late" in text and "3 days before the report" in text
    assert text.index("row_count__min") < text.index("tax_code__format")
    assert "row_count__min — Complete, fail (blocks the batch), table-level" in text
    assert 'Example values: "01-0123", "abc"' in text
    assert "unique__tax_code" not in text
    assert "80 open rows in lake.quarantine.enterprises__quarantine" in text
    assert "HTML page: /srv/quality/enterprises.html" in text
    assert all(len(line) <= qr.TEXT_WIDTH for line in text.splitlines())


def test_text_in_vietnamese_with_at_most_three_examples_and_no_terminal_escapes():
    report = copy.deepcopy(HEALTHY)
    report["rules"][0]["examples"] = ["a", "b", "\x1b[31mred", "d", "x" * 200]
    text = qr.render_text(report)
    assert "Đúng (chính xác)" in text and "99,2" in text and "99,6" in text
    assert "Sống (cập nhật kịp thời)" in text and "không có quy tắc cho tiêu chí này" in text
    assert "cccd__citizen_id — Đúng, cách ly, 3 / 512 (0,6%)" in text
    assert "Số CCCD không hợp lệ" in text
    assert 'Giá trị ví dụ: "a", "b", "\\x1b[31mred"' in text and '"d"' not in text
    assert "\x1b" not in text
    assert "dòng vào 512 = đã ghi 505 + cách ly 6 + trùng lặp đã gộp 1  ✓ khớp" in text
    assert "cast__date_of_birth" in text
    assert unicodedata.is_normalized("NFC", text)


def test_text_sparkline_uses_blocks_and_marks_missing_runs():
    assert qr.text_sparkline([80.0, 90.0, None, 100.0]) == "▁▅·█"
    assert qr.text_sparkline([]) == ""


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="language 'fr'"):
        qr.render_text(HEALTHY, "fr")


# ---- UI strings -----------------------------------------------------------------

def test_ui_strings_have_the_same_keys_in_both_languages_and_are_nfc():
    assert set(qr.UI) == set(qr.LANGS)
    assert qr.UI["vi"].keys() == qr.UI["en"].keys()
    for lang, strings in qr.UI.items():
        for key, value in strings.items():
            assert unicodedata.is_normalized("NFC", value), (lang, key)
            assert set(re.findall(r"{(\w+)}", value)) == set(re.findall(r"{(\w+)}", qr.UI["en"][key])), (lang, key)


# ---- the encoding a batch was read in -------------------------------------------------------------------

def test_each_batch_shows_the_encoding_its_files_were_read_in_and_the_confidence():
    detected = copy.deepcopy(HEALTHY)
    detected["latest"]["encoding"] = {"encoding": "tcvn3", "declared": "auto", "confidence": 0.93}
    assert "Encoding: tcvn3 (detected, confidence 0.93)" in qr.render_text(detected, "en")
    assert "Bảng mã: tcvn3 (tự nhận biết, độ tin cậy 0,93)" in qr.render_text(detected, "vi")
    page = qr.render_dataset(detected, "en")
    assert "<th>Encoding</th><td>tcvn3 (detected, confidence 0.93)</td>" in page
    declared = copy.deepcopy(HEALTHY)
    declared["latest"]["encoding"] = {"encoding": "windows-1258", "declared": "windows-1258", "confidence": None}
    assert "Encoding: windows-1258 (as declared)" in qr.render_text(declared, "en")
    workbook = copy.deepcopy(HEALTHY)
    workbook["latest"]["encoding"] = {"encoding": "tcvn3,vni", "declared": "auto", "confidence": None, "by": "font"}
    assert "Encoding: tcvn3,vni (by the cells' fonts)" in qr.render_text(workbook, "en")
    assert "Bảng mã: tcvn3,vni (theo phông chữ của các ô)" in qr.render_text(workbook, "vi")
    assert "Encoding" not in qr.render_text(HEALTHY, "en")  # none recorded (not a CSV or xlsx source)


def test_the_encoding_is_read_from_the_bronze_run_logs_extra_fields():
    import json

    from lakehouse.engine.filecheck import Detection
    from lakehouse.engine.filecheck.encodings import batch_fields
    from lakehouse.quality.scorecard import encoding_of

    extra = json.dumps({"files": 2, **batch_fields("auto", {"landing/a.csv": Detection("vni", 0.88)})})
    assert encoding_of(extra) == {"encoding": "vni", "declared": "auto", "confidence": 0.88, "by": None}
    book = json.dumps(batch_fields("tcvn3", {"landing/b.xlsx": Detection("tcvn3", by_font=True)}))
    assert encoding_of(book) == {"encoding": "tcvn3", "declared": "tcvn3", "confidence": None, "by": "font"}
    assert encoding_of(json.dumps({"files": 0})) is None and encoding_of(None) is None
