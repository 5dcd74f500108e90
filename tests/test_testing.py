"""Product testing (gis/testing.py): the laboratory's XLSX or Excel's GBK CSV, Chinese or English
headers, full-width forms; every bad row named and nothing written; re-importing changes
nothing, a corrected report is updated and said; a failed batch opens one rectification and is
a quality warning; supervision sampling and periodic testing are never pooled; who may."""
import datetime as dt

import openpyxl
import pytest
from sqlalchemy import text

from gis import dates, testing
from gis.errors import ImportRefused
from gis.policy import Grant
from gis.validation import ValidationError
from gis.wall import Window, map_figures, record_rows
from tests.factories import login, small_world

TODAY = dates.today("Asia/Shanghai")
DAY = TODAY - dt.timedelta(days=10)
HEADER = ["报告编号", "企业管理编码", "产品名称", "批号", "抽样日期", "检验类别", "抽查级别",
          "检验机构", "检验结论", "不合格项目"]
ROWS = [
    ["BG-2026-001", "E1", "电线电缆", "20260301", DAY, "监督抽查", "国家", "河北省产品质量监督检验研究院",
     "合格", ""],
    ["BG-2026-002", "E2", "燃气灶具", "B-17", DAY, "定期监督检验", "", "沧州市检验检测中心",
     "合格", ""],
    ["BG-2026-003", "E1", "塑料管材", "20260302", DAY, "监督抽查", "市", "沧州市检验检测中心",
     "不合格", "纵向回缩率，静液压强度"],
]


@pytest.fixture
def world(session):
    small_world(session, valid_from=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400))
    return session


def xlsx(path, header=HEADER, rows=ROWS):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def gbk_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def stored(session):
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT k.report_number, e.management_code, k.kind, k.level, k.product, k.batch_number,
               k.checked_on, k.laboratory, k.batches, k.passed, k.failed_items
        FROM spot_check k JOIN enterprise e ON e.id = k.enterprise_id
        ORDER BY k.report_number"""))]


def rectifications(session):
    return session.execute(text("""
        SELECT r.problem, r.deadline, r.status, k.report_number, e.management_code
        FROM rectification r JOIN spot_check k ON k.id = r.spot_check_id
        JOIN enterprise e ON e.id = r.enterprise_id ORDER BY r.id""")).all()


def run(session, source, **kw):
    return testing.import_batches(session, source, today=TODAY, username="lab", **kw)


def test_a_laboratory_xlsx_with_chinese_headers_is_one_row_a_batch(world, tmp_path):
    summary = run(world, xlsx(tmp_path / "结果.xlsx"))
    assert (summary.inserted, summary.updated, summary.unchanged) == (3, 0, 0)
    rows = stored(world)
    assert [(r["report_number"], r["management_code"], r["kind"], r["level"], r["batches"],
             r["passed"]) for r in rows] == [
        ("BG-2026-001", "E1", "spot_check", "national", 1, 1),
        ("BG-2026-002", "E2", "periodic", "city", 1, 1),
        ("BG-2026-003", "E1", "spot_check", "city", 1, 0)]
    assert rows[2]["failed_items"] == "纵向回缩率、静液压强度"
    assert rows[0]["checked_on"] == DAY and rows[0]["laboratory"].startswith("河北省")
    assert [o.report_number for o in summary.failed] == ["BG-2026-003"]


def test_a_failed_batch_opens_one_rectification_due_after_the_sampling_date(world, tmp_path):
    summary = run(world, xlsx(tmp_path / "r.xlsx"), deadline_days=15)
    assert summary.rectifications == 1
    (r,) = rectifications(world)
    assert (r.report_number, r.management_code, r.status) == ("BG-2026-003", "E1", "open")
    assert r.deadline == DAY + dt.timedelta(days=15)
    assert "塑料管材" in r.problem and "纵向回缩率、静液压强度" in r.problem
    # Imported again: still one.
    assert run(world, xlsx(tmp_path / "r.xlsx")).rectifications == 0
    assert len(rectifications(world)) == 1
    # A deadline the file gives wins.
    rows = [["BG-9", "E2", "灶具", "", DAY, "定期监督检验", "", "", "不合格", "热效率",
             DAY + dt.timedelta(days=5)]]
    run(world, xlsx(tmp_path / "d.xlsx", HEADER + ["整改期限"], rows))
    assert rectifications(world)[-1].deadline == DAY + dt.timedelta(days=5)


def test_excel_gbk_csv_with_full_width_forms(world, tmp_path):
    header = ["报告编号", "企业名称", "产品名称", "抽样日期", "检验类别", "抽查级别", "检验结论",
              "不合格项目"]
    rows = [["ＢＧ－００７", "enterprise E2", "电热水壶", "2026年3月5日", "监督抽查", "省级",
             "不 合 格", "标志和说明；泄漏电流"],
            ["BG-008", "ｅｎｔｅｒｐｒｉｓｅ Ｅ１", "电饭锅", "２０２６/３/６", "定期监督检验", "",
             "合格", ""]]
    summary = run(world, gbk_csv(tmp_path / "excel.csv", header, rows))
    assert summary.inserted == 2
    got = {r["report_number"]: r for r in stored(world)}
    assert set(got) == {"BG-007", "BG-008"}
    assert (got["BG-007"]["management_code"], got["BG-007"]["level"],
            got["BG-007"]["passed"]) == ("E2", "provincial", 0)
    assert got["BG-007"]["failed_items"] == "标志和说明、泄漏电流"
    assert got["BG-007"]["checked_on"] == dt.date(2026, 3, 5)
    assert got["BG-008"]["management_code"] == "E1"
    assert got["BG-008"]["checked_on"] == dt.date(2026, 3, 6)


def test_english_headers_and_rows_given_as_dicts(world):
    summary = run(world, [
        {"Report_Number": "EN-1", "management_code": "E1", "product": "cable",
         "sampled_on": "2026-03-01", "kind": "spot_check", "level": "national",
         "result": "pass"},
        {"Report_Number": "EN-2", "management_code": "E2", "product": "stove",
         "sampled_on": "2026-03-02", "kind": "periodic", "result": "fail",
         "failed_items": "efficiency"}])
    assert (summary.inserted, summary.rectifications) == (2, 1)


def test_every_bad_row_is_named_with_its_field_and_nothing_is_written(world, tmp_path):
    rows = [ROWS[0],
            ["BG-X1", "NOPE", "电线", "", DAY, "监督抽查", "国家", "", "合格", ""],
            ["BG-X2", "E1", "电线", "", "2026-02-30", "抽样", "国家", "", "合格", ""],
            ["BG-X3", "E1", "电线", "", DAY, "监督抽查", "", "", "不合格", ""],
            ["BG-2026-001", "E2", "管材", "", DAY, "定期监督检验", "", "", "合格", ""],
            ["", "E1", "", "", TODAY + dt.timedelta(days=1), "定期监督检验", "", "", "合格",
             "标签"]]
    with pytest.raises(ImportRefused) as exc:
        run(world, xlsx(tmp_path / "bad.xlsx", rows=rows))
    found = sorted((p.row, p.error.field, p.error.code) for p in exc.value.problems)
    assert found == [
        (3, "management_code", "no_such_target"),
        (4, "kind", "choices"),
        (4, "sampled_on", "not_date"),
        (5, "failed_items", "failed_items_required"),
        (5, "level", "level_required"),
        (6, "report_number", "repeats_row"),
        (7, "failed_items", "failed_items_passed"),
        (7, "product", "required"),
        (7, "report_number", "required"),
        (7, "sampled_on", "after_today")]
    assert "row 3 (BG-X1)" in str(exc.value)
    assert stored(world) == [] and rectifications(world) == []


def test_a_missing_column_is_named(world, tmp_path):
    header = [h for h in HEADER if h != "检验结论"]
    with pytest.raises(ImportRefused) as exc:
        run(world, xlsx(tmp_path / "h.xlsx", header, [r[:8] + r[9:] for r in ROWS]))
    (problem,) = exc.value.problems
    assert problem.error.code == "missing_columns" and "检验结论" in problem.error.params["columns"]
    without_enterprise = [h for h in HEADER if h != "企业管理编码"]
    with pytest.raises(ImportRefused) as exc:
        run(world, xlsx(tmp_path / "e.xlsx", without_enterprise, [r[:1] + r[2:] for r in ROWS]))
    assert "企业名称" in exc.value.problems[0].error.params["columns"]


def test_importing_again_changes_nothing_and_a_corrected_report_is_updated(world, tmp_path):
    run(world, xlsx(tmp_path / "a.xlsx"))
    before = stored(world)
    again = run(world, xlsx(tmp_path / "a.xlsx"))
    assert (again.inserted, again.updated, again.unchanged, again.rectifications) == (0, 0, 3, 0)
    assert stored(world) == before
    corrected = [list(r) for r in ROWS]
    corrected[1][8:10] = ["不合格", "热效率"]
    corrected[0][2] = "电线电缆（阻燃）"
    summary = run(world, xlsx(tmp_path / "b.xlsx", rows=corrected))
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 2, 1)
    changed = {o.report_number: o.changed for o in summary.batches if o.changed}
    assert changed == {"BG-2026-001": ["product"], "BG-2026-002": ["failed_items", "result"]}
    assert any("BG-2026-002" in n and "failed_items, result" in n for n in summary.notes)
    assert summary.rectifications == 1
    assert [r.report_number for r in rectifications(world)] == ["BG-2026-003", "BG-2026-002"]


def test_spot_checks_and_periodic_testing_are_never_pooled(world, tmp_path):
    run(world, xlsx(tmp_path / "a.xlsx"))
    window = Window.last(30, TODAY, "Asia/Shanghai")
    figures = map_figures(world, cells=None, window=window, today=TODAY)
    assert (figures["spot_check_batches"], figures["spot_check_passed"]) == (2, 1)
    assert (figures["periodic_batches"], figures["periodic_passed"]) == (1, 1)
    assert figures["spot_check_pass_rate"] == 0.5 and figures["periodic_pass_rate"] == 1.0
    # Failed batches are quality warnings of either programme: a count, never a pass rate.
    assert figures["failed_batches"] == 1
    totals, rows = record_rows(world, "failed_batches", cells=None, window=window, today=TODAY)
    assert totals["failed"] == 1 and "pass_rate" not in totals
    assert rows[0]["report_number"] == "BG-2026-003" and rows[0]["rectification_id"]


def test_one_batch_by_hand_checks_every_field(world):
    good = {"report_number": "H-1", "management_code": "E1", "product": "电线",
            "sampled_on": DAY.isoformat(), "kind": "spot_check", "level": "city",
            "result": "fail", "failed_items": "导体电阻"}
    outcome = testing.record_batch(world, good, today=TODAY)
    assert (outcome.status, outcome.passed, outcome.rectification_opened) == (
        "inserted", False, True)
    assert testing.record_batch(world, good, today=TODAY).status == "unchanged"
    for change, field, code in (
            ({"kind": "抽检"}, "kind", "choices"),
            ({"level": ""}, "level", "level_required"),
            ({"result": "ok"}, "result", "choices"),
            ({"sampled_on": "03/05/2026"}, "sampled_on", "not_date"),
            ({"management_code": "E9"}, "management_code", "no_such_target"),
            ({"report_number": "H 1"}, "report_number", "pattern"),
            ({"product": "x" * 201}, "product", "max_length"),
            ({"deadline": (DAY - dt.timedelta(days=1)).isoformat()}, "deadline", "before"),
            ({"colour": "red"}, "colour", "unknown_field")):
        with pytest.raises(ValidationError) as exc:
            testing.record_batch(world, {**good, **change}, today=TODAY)
        assert (exc.value.field, exc.value.code) == (field, code), change


def test_grid_managers_record_testing_in_their_grid_only(world):
    s1 = (Grant("grid_manager", tuple(world.execute(text(
        "SELECT gw_cell_path(id) FROM cell WHERE code = 'S1'")).scalar())),)
    with pytest.raises(ImportRefused) as exc:
        run(world, [dict(zip(HEADER, r)) for r in ROWS], grants=s1)
    assert [(p.row, p.error.code) for p in exc.value.problems] == [(3, "testing_not_allowed")]
    with pytest.raises(testing.NotAllowed):
        testing.record_batch(world, {"report_number": "H-2", "management_code": "E2",
                                     "product": "灶具", "sampled_on": DAY, "kind": "periodic",
                                     "result": "pass"}, today=TODAY, grants=s1)
    summary = run(world, [dict(zip(HEADER, r)) for r in (ROWS[0], ROWS[2])], grants=s1)
    assert summary.inserted == 2


def test_the_command_imports_and_audits(runner, world, tmp_path):
    path = xlsx(tmp_path / "lab.xlsx")
    result = runner.invoke(args=["testing", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "testing: inserted 3, updated 0, unchanged 0; failed batches 1" in result.output
    assert "BG-2026-003 failed: rectification" in result.output
    entry = world.execute(text("""
        SELECT action, target, detail FROM audit_log ORDER BY id DESC LIMIT 1""")).one()
    assert entry.action == "testing_imported" and entry.detail["inserted"] == 3
    bad = xlsx(tmp_path / "bad.xlsx", rows=[ROWS[0][:5] + ["抽样"] + ROWS[0][6:]])
    result = runner.invoke(args=["testing", "import", str(bad)])
    assert result.exit_code == 1 and "row 2 (BG-2026-001): kind" in result.output


def test_the_upload_page_for_admins_and_grid_managers(client, world, tmp_path):
    login(client, "c1-inspector")
    assert client.get("/testing/import").status_code == 403
    client.post("/logout")
    login(client, "s1-manager")
    assert client.get("/testing/import").status_code == 200
    with open(xlsx(tmp_path / "lab.xlsx"), "rb") as fh:
        answer = client.post("/testing/import?lang=zh_Hans_CN",
                             data={"file": (fh, "检验结果.xlsx")})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 403 and "第 3 行：企业管理编码：" in page
    assert stored(world) == []
    client.post("/logout")
    login(client, "admin")
    with open(tmp_path / "lab.xlsx", "rb") as fh:
        answer = client.post("/testing/import", data={"file": (fh, "lab.xlsx")})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'id="import-result"' in page
    sid = world.execute(text(
        "SELECT id FROM spot_check WHERE report_number = 'BG-2026-003'")).scalar()
    assert f"/cases/new?spot_check={sid}" in page
    entry = world.execute(text("""
        SELECT username, action, target FROM audit_log ORDER BY id DESC LIMIT 1""")).one()
    assert tuple(entry) == ("admin", "testing_imported", "file lab.xlsx")


def test_a_picture_is_not_a_table(client, world):
    import io

    login(client, "admin")
    answer = client.post("/testing/import", data={"file": (io.BytesIO(b"\x89PNG\r\n\x00\x00"),
                                                           "results.xlsx")})
    assert answer.status_code == 400 and stored(world) == []


def test_one_batch_through_the_form_and_the_api(client, world):
    login(client, "s1-manager")
    form = {"report_number": "F-1", "management_code": "E1", "product": "电线",
            "sampled_on": DAY.isoformat(), "kind": "spot_check", "level": "provincial",
            "result": "fail", "failed_items": "绝缘厚度", "laboratory": "", "batch_number": "",
            "deadline": ""}
    answer = client.post("/testing/batches", data=form)
    assert answer.status_code == 200 and 'id="batch-result"' in answer.get_data(as_text=True)
    assert len(rectifications(world)) == 1
    refused = client.post("/testing/batches?lang=zh_Hans_CN", data={**form, "level": ""})
    assert refused.status_code == 400 and "监督抽查须填写" in refused.get_data(as_text=True)
    other = client.post("/testing/batches", data={**form, "report_number": "F-2",
                                                  "management_code": "E2"})
    assert other.status_code == 403
    body = {k: v for k, v in form.items() if v}
    assert client.post("/api/v1/testing/batches", json=body).status_code == 200
    created = client.post("/api/v1/testing/batches", json={**body, "report_number": "F-3"})
    assert created.status_code == 201 and created.get_json()["rectification_opened"] is True
    assert client.post("/api/v1/testing/batches", json={**body, "passed": 1}
                       ).status_code == 400
