"""Contributed files: format by content, the schema their values imply, the personal-data scan, the check report,
the events a contribution's state is folded from, and the spec an approval writes."""

import datetime as dt
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from lakehouse.config.spec import load_specs
from lakehouse.serving.contributions import scan, store

CLEAN = ("Mã trạm,Tên trạm,Tỉnh,Số chỗ,Ngày mở,Giá vé\n"
         "TX-001,Trạm xe buýt Kim Mã,1,40,2024-01-15,7000.5\n"
         "TX-002,Trạm Cầu Giấy,1,35,2024-02-01,7000\n"
         "TX-003,Bến xe Giáp Bát,1,,15/03/2024,9000\n").encode()


def test_the_format_comes_from_the_content_not_the_name():
    assert scan.sniff_format(b"PAR1\x15\x04") == "parquet"
    assert scan.sniff_format(b"PK\x03\x04rest") == "xlsx"
    assert scan.sniff_format(b'\xef\xbb\xbf  {"a": 1}\n') == "jsonl"
    assert scan.sniff_format(b"a;b\n1;2\n") == "csv"
    with pytest.raises(scan.ScanError, match="a Windows program, not a table"):
        scan.sniff_format(b"MZ\x90\x00\x03\x00")
    with pytest.raises(scan.ScanError, match="binary"):
        scan.sniff_format(b"\x01\x02\x00\x00data")
    assert scan.sniff_delimiter("a;b;c") == ";" and scan.sniff_delimiter("a\tb") == "\t"
    assert scan.sniff_delimiter("one column") == ","


def test_values_give_the_narrowest_type_and_codes_with_a_leading_zero_stay_text():
    assert scan.value_type(["1", "-20", "0"]) == "int"
    assert scan.value_type(["1", "3000000000"]) == "bigint"
    assert scan.value_type(["1", "2.5"]) == "double"
    assert scan.value_type(["001", "002"]) == "string"            # codes, not numbers
    assert scan.value_type(["2024-01-15", "15/03/2024"]) == "date"
    assert scan.value_type(["2024-02-30"]) == "string"           # not a day
    assert scan.value_type(["2024-01-15 08:30:00", "2024-01-15T09:00+07:00"]) == "timestamp"
    assert scan.value_type(["true", "False"]) == "boolean"
    assert scan.value_type([]) == "string"


def test_a_csv_is_read_with_its_header_folded_to_column_names_and_a_candidate_key():
    table = scan.read_table(CLEAN)
    columns = scan.infer_columns(table)
    assert [(c["name"], c["source"], c["type"], c["nulls"]) for c in columns] == [
        ("ma_tram", "Mã trạm", "string", 0), ("ten_tram", "Tên trạm", "string", 0), ("tinh", "Tỉnh", "int", 0),
        ("so_cho", "Số chỗ", "int", 1), ("ngay_mo", "Ngày mở", "date", 0), ("gia_ve", "Giá vé", "double", 0)]
    assert scan.candidate_key(columns, len(table.rows)) == ["ma_tram"]
    assert scan.personal_data(table, columns) == []
    assert scan.column_name("Mã trạm", {"ma_tram"}) == "ma_tram_2"
    assert scan.column_name("2024", set()) == "c_2024"


def test_what_lands_is_utf8_csv_under_the_column_names():
    table = scan.read_table('Mã;Ghi chú\nA-1;"có dấu ; và ""ngoặc"""\nA-2;\n'.encode("utf-8"))
    assert scan.canonical_csv(table, ["ma", "ghi_chu"]).decode() == 'ma,ghi_chu\nA-1,"có dấu ; và ""ngoặc"""\nA-2,\n'


def test_a_row_with_more_cells_than_the_header_is_refused_not_cut():
    with pytest.raises(scan.ScanError, match="row 2 has 3 cells but the header names 2 columns"):
        scan.read_table(b"a,b\n1,2\n3,4,5\n")
    assert scan.read_table(b"a,b\n1\n").rows == [["1", None]]   # a short row loses nothing


def test_json_lines_parquet_and_a_workbook_give_the_same_rows():
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [["TX-001", "1", "40"], ["TX-002", "1", None]]
    jsonl = b'{"id": "TX-001", "tinh": 1, "cho": 40}\n\n{"id": "TX-002", "tinh": 1}\n'
    assert scan.read_table(jsonl).rows == rows
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": ["TX-001", "TX-002"], "tinh": [1, 1], "cho": [40, None]}), sink)
    assert scan.read_table(sink.getvalue()).rows == rows
    book = openpyxl.Workbook()
    for line in (["id", "tinh", "cho"], ["TX-001", 1, 40], ["TX-002", 1, None], [None, None, None]):
        book.active.append(line)
    out = io.BytesIO()
    book.save(out)
    assert scan.read_table(out.getvalue()).rows == rows
    dated = openpyxl.Workbook()
    for line in (["ngay", "luc"], [dt.date(2023, 5, 1), dt.datetime(2023, 5, 1, 8, 30)]):
        dated.active.append(line)
    out = io.BytesIO()
    dated.save(out)
    assert scan.read_table(out.getvalue()).rows == [["2023-05-01", "2023-05-01 08:30:00"]]   # a date cell is a day
    report = openpyxl.Workbook()
    for line in (["BÁO CÁO TÌNH HÌNH"], ["Tháng 12/2026"], [], ["ma_tinh", "so_ho_so"], [1, 917], [4, 175]):
        report.active.append(line)
    out = io.BytesIO()
    report.save(out)
    table = scan.read_table(out.getvalue())   # a report's title rows above its table
    assert (table.header, table.rows, table.header_row) == (["ma_tinh", "so_ho_so"], [["1", "917"], ["4", "175"]], 4)


def kinds(text: bytes) -> dict:
    table = scan.read_table(text)
    return {(f.column, f.kind): (f.rows, f.first_rows) for f in scan.personal_data(table, scan.infer_columns(table))}


def test_personal_data_is_found_in_its_columns_and_inside_free_text_without_showing_it():
    found = kinds("Họ tên,Số CCCD,Điện thoại,Ghi chú,Số tiền\n"
                  "Nguyễn Văn An,001203001234,0912345678,gọi 0987 654 321 hoặc an@example.vn,1500000000\n"
                  "Trần Thị Bình,079185002345,+84 912 345 679,,2500000000\n".encode())
    assert scan.Finding("Ghi chú", "email", 1, [1]).message["en"] == (
        "column 'Ghi chú' holds e-mail addresses in 1 row (row 1)")
    assert found == {("Họ tên", "name"): (2, [1, 2]), ("Số CCCD", "cccd"): (2, [1, 2]),
                     ("Điện thoại", "phone"): (2, [1, 2]), ("Ghi chú", "email"): (1, [1]),
                     ("Ghi chú", "phone"): (1, [1])}   # amounts of ten digits are not tax codes
    finding = scan.Finding("Số CCCD", "cccd", 2, [1, 2])
    assert "001203001234" not in json.dumps(finding.as_dict(), ensure_ascii=False)
    assert finding.message["en"] == "column 'Số CCCD' holds citizen ID numbers (CCCD) in 2 rows (rows 1, 2)"


def test_id_and_tax_numbers_need_a_leading_zero_a_telling_column_or_a_branch_number():
    found = kinds(b"so_cmnd,mst,population,branch\n123456789,3700000001,123456789,0100109106-001\n")
    assert set(found) == {("so_cmnd", "cmnd"), ("mst", "tax_code"), ("branch", "tax_code")}
    assert kinds("Tên doanh nghiệp,Mã số\nCông ty TNHH Hoa Sen,0312345678\n".encode()) == {
        ("Mã số", "tax_code"): (1, [1])}


def test_a_column_of_peoples_names_is_found_by_its_values_too():
    names = "Chủ hộ kinh doanh\nLê Văn Tám\nPhạm Thị Hoa\nCửa hàng số 5\n".encode()
    assert kinds(names) == {("Chủ hộ kinh doanh", "name"): (3, [1, 2, 3])}
    by_values = "người liên hệ\nLê Văn Tám\nPhạm Thị Hoa\nĐỗ Minh\n".encode()
    assert kinds(by_values) == {("người liên hệ", "name"): (3, [1, 2, 3])}
    assert kinds("Tên trạm\nTrạm Kim Mã\nBến xe Giáp Bát\n".encode()) == {}
    assert kinds("Tên đường\nLê Duẩn\nTrần Hưng Đạo\n".encode()) == {}      # streets named after people


def test_the_check_report_refuses_what_bronze_would_and_blocks_personal_data():
    clean = store.check(CLEAN, "tram.csv")
    assert clean["status"] == "review" and clean["format"] == "csv" and clean["rows"] == 3
    assert clean["key"] == ["ma_tram"] and clean["personal_data"] == []
    blocked = store.check("Họ tên,CCCD\nNguyễn Văn An,001203001234\n".encode(), "x.csv")
    assert blocked["status"] == "blocked"
    assert [c.get("personal") for c in blocked["columns"]] == [True, True]
    assert store.check(b"\x7fELF\x02\x01\x01\x00" + bytes(200), "a.csv")["status"] == "refused"
    empty_header = store.check(b"a,b\n", "a.csv")
    assert empty_header["status"] == "refused" and empty_header["refusal"]["en"]
    broken = store.check(b'{"a": 1}\nnot json\n', "a.jsonl")
    assert broken["status"] == "refused" and "line 2" in broken["refusal"]["en"]


def test_a_contributed_dataset_is_named_from_its_title_in_whole_words():
    c = SimpleNamespace(updates=None, title="Điểm Wi-Fi công cộng miễn phí của thành phố Hồ Chí Minh năm 2025")
    assert store.spec_name(c) == "contributed_diem_wi_fi_cong_cong_mien_phi_cua_thanh_pho_ho"
    assert store.spec_name(SimpleNamespace(updates=None, title="Số liệu 2025")) == "contributed_so_lieu_2025"
    assert store.spec_name(SimpleNamespace(updates="contributed_x", title="…")) == "contributed_x"


def test_a_contributions_state_is_the_fold_of_its_events():
    submitted = {"event": "submitted", "code": "dg-0123456789", "at": "t1", "by": "dn", "title": "Trạm xe",
                 "description": "d" * 10, "license": "CC-BY-4.0", "organisation": "Công ty A", "contact": "a@b.vn",
                 "filename": "x.csv", "format": "csv", "bytes": 10, "sha256": "00", "submitted_at": "t1",
                 "submitted_by": "dn", "status": "review", "updates": None}
    state = store.fold([submitted, {"event": "approved", "code": "dg-0123456789", "at": "t2", "by": "steward",
                                    "dataset": "contributed_tram_xe"},
                        {"event": "published", "code": "dg-0123456789", "at": "t3", "by": "steward"},
                        {"event": "rejected", "code": "dg-9999999999", "at": "t4", "by": "s", "reason": "?"}])
    c = state["dg-0123456789"]
    assert (c.status, c.dataset, c.decided_by) == ("published", "contributed_tram_xe", "steward")
    assert [h[0] for h in c.history] == ["submitted", "approved", "published"]
    assert list(state) == ["dg-0123456789"]          # an event of an unknown contribution is ignored


def test_an_approval_writes_a_valid_open_spec_with_its_provenance(tmp_path, monkeypatch):
    datasets = tmp_path / "datasets"
    (datasets / "x").mkdir(parents=True)
    monkeypatch.setenv("LAKE_DATASETS_DIR", str(datasets))
    settings = SimpleNamespace(state_dir=tmp_path / "state")
    checked = store.check(CLEAN, "tram.csv")
    (store.folder(settings) / "dg-0123456789").mkdir()
    (store.folder(settings) / "dg-0123456789" / "report.json").write_text(json.dumps(checked))
    store._append(store.folder(settings) / "events.jsonl", {
        "event": "submitted", "code": "dg-0123456789", "at": "2026-12-01T00:00:00+00:00", "by": "dn",
        "title": "Trạm xe buýt Hà Nội", "description": "Danh sách trạm xe buýt", "license": "CC0-1.0",
        "organisation": "Công ty Vận tải A", "contact": "lienhe@vantai-a.vn", "filename": "tram.csv",
        "format": "csv", "bytes": len(CLEAN), "sha256": "00", "submitted_at": "2026-12-01T00:00:00+00:00",
        "submitted_by": "dn", "status": "review"})
    c, path = store.approve(settings, "dg-0123456789", "steward")
    assert path == datasets / "contributed" / "contributed_tram_xe_buyt_ha_noi.yaml"
    spec = load_specs()["contributed_tram_xe_buyt_ha_noi"]
    assert (spec.domain, spec.classification, spec.catalogs, spec.license) == (
        "contributed", "open", ["open_data"], "CC0-1.0")
    assert spec.contributed_by.organisation == "Công ty Vận tải A" and spec.keys == ["ma_tram"]
    assert spec.column("ngay_mo").type == "date" and "'Mã trạm'" in spec.column("ma_tram").description
    assert (spec.source.format, spec.source.encoding, spec.source.pattern) == ("csv", "utf-8", "*.csv")
    assert spec.keywords.vi == ["trạm", "buýt", "nội"] and spec.title.en == "Trạm xe buýt Hà Nội"
    assert c.status == "approved"
    with pytest.raises(store.ContributionError, match="approved, not awaiting review"):
        store.approve(settings, "dg-0123456789", "steward")
    c2 = "dg-0123456780"
    (store.folder(settings) / c2).mkdir()
    (store.folder(settings) / c2 / "report.json").write_text(json.dumps(checked))
    store._append(store.folder(settings) / "events.jsonl", {
        "event": "submitted", "code": c2, "at": "t", "by": "dn", "title": "Trạm khác", "description": "d" * 10,
        "license": "CC0-1.0", "organisation": "A", "contact": "a@b.vn", "filename": "x.csv", "format": "csv",
        "bytes": 1, "sha256": "00", "submitted_at": "t", "submitted_by": "dn", "status": "review"})
    with pytest.raises(store.ContributionError, match="lower-case letters"):   # never a path out of the folder
        store.approve(settings, c2, "steward", "name: ../../x\ndomain: contributed\n")
    assert store.get(settings, c2).status == "review"
    with pytest.raises(store.ContributionError, match="approved, not awaiting review"):
        store.approve(settings, "dg-0123456789", "steward")
    with pytest.raises(store.ContributionError, match="only a contribution not yet approved"):
        store.reject(settings, "dg-0123456789", "steward", "too late now")


CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
# readable tables: the corpus's columns (ma_ho_so, ho_ten, …) are people's names, so they are blocked, or await
# review where ho_ten is the missing column; a file is read by its content, so text renamed .parquet is a CSV
READABLE = {
    "blocked": {"csv_cp1258_declared_utf8.csv", "csv_utf8_declared_cp1258.csv", "csv_wrong_delimiter.csv",
                "csv_none_of_declared.csv", "csv_mixed_line_endings.csv", "csv_quoted_newlines.csv",
                "csv_good_cp1258.csv", "csv_good_utf8_bom.csv", "jsonl_csv_renamed.jsonl",
                "parquet_text_renamed.parquet",
                "parquet_none_of_declared.parquet", "parquet_wrong_type.parquet", "xlsx_csv_renamed.xlsx",
                "xlsx_none_of_declared.xlsx", "xlsx_header_row_wrong.xlsx", "xlsx_sheet_missing.xlsx",
                "xlsx_good_title_rows.xlsx"},   # a workbook's title rows are skipped: its header is found
    "review": {"csv_missing_required.csv", "parquet_missing_required.parquet", "xlsx_missing_required.xlsx"},
}


def test_every_other_file_of_the_bad_input_corpus_is_refused_at_intake_with_a_reason():
    """The reliability work's corpus of broken files: what bronze refuses for what the file is (binary, empty,
    damaged, a zip bomb, a program or a PDF whatever its name, no rows …), intake refuses too; and also a row
    with more cells than its header or a line that is not JSON, which bronze would quarantine row by row."""
    import yaml

    listed = [f["file"] for f in yaml.safe_load((CORPUS / "manifest.yaml").read_text())["files"]
              if (CORPUS / f["file"]).exists()]
    got = {name: store.check((CORPUS / name).read_bytes(), name) for name in listed}
    readable = READABLE["blocked"] | READABLE["review"]
    assert {n for n, r in got.items() if r["status"] == "blocked"} == READABLE["blocked"]
    assert {n for n, r in got.items() if r["status"] == "review"} == READABLE["review"]
    refused = {n: r for n, r in got.items() if n not in readable}
    assert len(refused) >= 35 and all(r["status"] == "refused" for r in refused.values())
    assert all(r["refusal"]["en"] and r["refusal"]["vi"] for r in refused.values())
    assert refused["xlsx_zip_bomb.xlsx"]["refusal"]["code"] == "zip_bomb"
    assert "a PDF document, not a table" in refused["doc_good.pdf"]["refusal"]["en"]
    assert "a script, not a table" in refused["doc_script_renamed.pdf"]["refusal"]["en"]


def test_a_public_data_request_is_listed_with_its_status_and_the_stewards_answer(tmp_path):
    from lakehouse.serving.contributions import wishes

    settings = SimpleNamespace(state_dir=tmp_path)
    first = wishes.ask(settings, "Lịch xe buýt theo giờ", "Để làm ứng dụng tra cứu cho người khiếm thị")
    second = wishes.ask(settings, "Điểm thu gom rác", "Bản đồ khu phố", "Nhóm sinh viên", "sv@example.vn")
    with pytest.raises(store.ContributionError, match="not an e-mail"):
        wishes.ask(settings, "Dữ liệu khác", "Một lý do đủ dài", contact="không phải thư")
    answered = wishes.answer(settings, first.id, "planned", "Sẽ công bố trong quý 1", "steward")
    assert (answered.status, answered.answer, answered.answered_by) == ("planned", "Sẽ công bố trong quý 1",
                                                                        "steward")
    assert [r.id for r in wishes.requests(settings)] == [second.id, first.id]   # open ones first
    with pytest.raises(store.ContributionError, match="one of planned, published, declined"):
        wishes.answer(settings, second.id, "maybe", "Một câu trả lời", "steward")
    with pytest.raises(store.ContributionError, match="no data request"):
        wishes.answer(settings, "dr-0000000000", "declined", "Không có", "steward")


def test_the_cli_names_what_is_missing(tmp_path, monkeypatch, capsys):
    from lakehouse import cli

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    for argv, said in ((["approve", "dg-0123456789", "--spec", str(tmp_path / "nope.yaml")], "nope.yaml: no such file"),
                       (["show", "dg-0123456789"], "no contribution dg-0123456789"),
                       (["show", "../x"], "is not a tracking code"),
                       (["approve"], "needs a tracking code"),
                       (["submit", str(tmp_path / "nope.csv")], "nope.csv: no such file")):
        with pytest.raises(SystemExit):
            cli.main(["contributions", *argv])
        assert said in capsys.readouterr().err
