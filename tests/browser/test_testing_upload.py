"""Product testing in headless Chromium, at a desk (1920×1080, Chinese): an administrator goes
from the cases to the testing page, chooses the laboratory's XLSX in the file chooser, imports
it and reads the summary; from the failed batch's row opens a case, its cause taken from the
batch, and lands on the case with its first step. Nothing outside the server, no console
error, no failed request."""
import datetime as dt
import io
import uuid

import openpyxl
import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import new_page, screenshot, serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
DESK = {"width": 1920, "height": 1080}


@pytest.fixture(scope="module")
def server(database_url):
    """A demo city of its own: the import adds batches, rectifications and a case."""
    for base, db_url in serve_demo("_testing"):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


def lab_file(tmp_path, codes, reports) -> str:
    day = dt.date.today() - dt.timedelta(days=7)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["报告编号", "企业管理编码", "产品名称", "批号", "抽样日期", "检验类别",
                  "抽查级别", "检验机构", "检验结论", "不合格项目"])
    sheet.append([reports[0], codes[0], "电线电缆", "20260301", day, "监督抽查", "省",
                  "河北省产品质量监督检验研究院", "合格", ""])
    sheet.append([reports[1], codes[1], "塑料管材", "20260302", day, "监督抽查", "市",
                  "沧州市检验检测中心", "不合格", "纵向回缩率、静液压强度"])
    sheet.append([reports[2], codes[0], "燃气灶具", "B-17", day, "定期监督检验", "",
                  "沧州市检验检测中心", "合格", ""])
    path = tmp_path / "检验结果.xlsx"
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_an_admin_uploads_the_laboratory_file_and_opens_a_case(browser, server, tmp_path):
    base, engine = server
    with engine.connect() as conn:
        codes = list(conn.execute(text("""
            SELECT e.management_code FROM enterprise e
            JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
            WHERE ec.cell_id IS NOT NULL ORDER BY e.management_code LIMIT 2""")).scalars())
    tag = uuid.uuid4().hex[:8].upper()
    reports = [f"JY-{tag}-{i}" for i in (1, 2, 3)]
    context, page = new_page(browser, base, DESK, locale="zh-CN")
    try:
        sign_in(page, base, "admin", "demo-admin-2026", "/?lang=zh_Hans_CN")
        with page.expect_navigation():
            page.click("nav.menu a.cases-link")
        assert "案件" in page.inner_text("h1")
        with page.expect_navigation():
            page.click("#testing-import")
        assert page.inner_text("h1") == "产品检验结果"
        page.set_input_files("#results-file", lab_file(tmp_path, codes, reports))
        with page.expect_navigation():
            page.click("#do-import")
        result = page.inner_text("#import-result")
        assert "新录入批次：3" in result and "不合格批次：1" in result
        assert "新开整改：1" in result
        row = page.locator(f"#failed-batches tr[data-report='{reports[1]}']")
        assert codes[1] in row.inner_text()
        screenshot(page, "testing-upload-desk-zh.png")
        with page.expect_navigation():
            row.locator("a.open-case").click()
        assert "/cases/new?spot_check=" in page.url
        assert reports[1] in page.inner_text("#case-source")
        assert "纵向回缩率、静液压强度" in page.input_value("textarea[name=cause]")
        assert page.input_value("input[name=enterprise]") == codes[1]
        with page.expect_navigation():
            page.click("#open-case")
        assert "/cases/AJ-" in page.url
        page.wait_for_selector("#case-status[data-status='open']", state="attached")
        assert reports[1] in page.inner_text("#case-summary")
        assert page.locator("#case-steps tr.step").count() == 1
        assert page.locator("#step-form").is_visible()
        screenshot(page, "testing-case-desk-zh.png")
        assert page.log.problems() == []
    finally:
        context.close()
    with engine.connect() as conn:
        stored = conn.execute(text("""
            SELECT count(*) FILTER (WHERE passed = 0), count(*) FROM spot_check
            WHERE report_number = ANY(:r)"""), {"r": reports}).one()
        assert tuple(stored) == (1, 3)
