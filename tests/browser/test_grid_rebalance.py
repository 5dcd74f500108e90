"""A grid manager asks the grid editor for a balance suggestion (均衡建议) in headless Chromium,
as a person does: the demo city with a new park in one cell (unbalanced on purpose), real
clicks on "suggest balance", the suggestion previewed as ordinary village moves, committed with
a comment (every cell still one piece in PostGIS, every workload within the tolerance), then
reverted from the cell's history; at 1920×1080, and the card works on a 390×844 phone."""
import os

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import ARTIFACTS, new_page, screenshot, serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
GRID = "130984-Z01"
DESK = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}


def _park(session):
    from gis.demo.park import add_park

    add_park(session, f"{GRID}-05", enterprises=12)


@pytest.fixture(scope="module")
def served(database_url):
    """The demo city with a park of 12 grade-D enterprises in Z01-05, in a database of its own
    (these tests commit and revert)."""
    for base, db_url in serve_demo("_rebalance", _park):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


def state(engine):
    """(workloads of the grid's cells, pieces of each cell's villages, of each boundary)."""
    from gis import rebalance
    from gis.db import make_session_factory, transaction

    with transaction(make_session_factory(engine)) as session:
        problem = rebalance.load_problem(session, GRID, rebalance.Options())
        loads = rebalance.workloads(problem)
        pieces = dict(session.execute(text("""
            SELECT c.code, ST_NumGeometries(ST_Union(v.geom))
            FROM cell_current c JOIN cell p ON p.id = c.parent_id
            JOIN village v ON ST_Covers(c.geom, ST_PointOnSurface(v.geom))
            WHERE p.code = :g GROUP BY c.code"""), {"g": GRID}).all())
        outlines = dict(session.execute(text("""
            SELECT c.code, ST_NumGeometries(c.geom) FROM cell_current c
            JOIN cell p ON p.id = c.parent_id WHERE p.code = :g"""), {"g": GRID}).all())
        session.rollback()
    return loads, pieces, outlines


def open_editor(page, base):
    sign_in(page, base, "manager", "demo-manager-2026", f"/grid/{GRID}/edit")
    if "/edit" not in page.url:
        page.goto(f"{base}/grid/{GRID}/edit")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)


def suggest(page):
    page.click("#balance-card summary")
    page.click("#suggest-balance")
    page.wait_for_selector("body[data-balance]:not([data-balance='pending'])",
                           state="attached", timeout=30000)
    return page.get_attribute("body", "data-balance")


def test_suggest_preview_commit_and_revert(browser, served):
    from gis import rebalance

    base, engine = served
    before, _pieces, _outlines = state(engine)
    assert rebalance.max_deviation(before) > 0.2  # the park put the grid out of balance
    context, page = new_page(browser, base, DESK)
    open_editor(page, base)
    moves = suggest(page)
    assert moves.isdigit() and int(moves) >= 1, page.inner_text("#balance-result")
    summary = page.inner_text("#balance-result")
    assert "调整" in summary and "→" in summary
    assert page.locator("#balance-moves li").count() == int(moves)
    # The suggestion is the editor's village moves: previewed and validated like a manual one.
    page.wait_for_selector("body[data-preview]:not([data-preview='pending'])",
                           state="attached", timeout=30000)
    assert page.get_attribute("body", "data-preview") == "valid"
    assert page.locator("#effect tbody tr[data-cell]").count() >= 2
    screenshot(page, "grid-rebalance-suggested.png")
    page.fill("#comment", "均衡工作量：新建园区后调整")
    page.click("#commit")
    page.wait_for_selector("body[data-committed]", state="attached", timeout=30000)
    change = page.get_attribute("body", "data-committed")
    assert change.isdigit(), page.inner_text("#commit-result")
    after, pieces, outlines = state(engine)
    assert rebalance.max_deviation(after) <= 0.1
    assert set(pieces.values()) == {1} and set(outlines.values()) == {1}
    assert page.inner_text("#balance-result") == ""  # it was for the grid before the commit
    screenshot(page, "grid-rebalance-committed.png")
    # Reverted from the history of a cell the change touched: the workloads are back.
    with engine.connect() as conn:
        cell = conn.execute(text("""
            SELECT c.code FROM cell_version v JOIN cell c ON c.id = v.cell_id
            WHERE v.change_id = :i ORDER BY c.code LIMIT 1"""), {"i": int(change)}).scalar()
    page.goto(f"{base}/cells/{cell}/history")
    page.fill("form.revert input[name=comment]", "撤销均衡调整")
    with page.expect_navigation():
        page.click("form.revert button[type=submit]")
    assert "撤销均衡调整" in page.inner_text("#versions")
    back, _pieces, _outlines = state(engine)
    assert back == pytest.approx(before, abs=0.01)
    assert page.log.problems() == []
    context.close()


def test_the_card_works_on_a_phone(browser, served):
    base, _engine = served
    context, page = new_page(browser, base, PHONE, touch=True, device_scale_factor=2)
    open_editor(page, base)
    page.tap("#balance-card summary")
    page.fill("#balance-max-moves", "1")
    page.tap("#suggest-balance")
    page.wait_for_selector("body[data-balance]:not([data-balance='pending'])",
                           state="attached", timeout=30000)
    assert page.get_attribute("body", "data-balance") == "1"
    card = page.locator("#balance-card").bounding_box()
    assert card["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "grid-rebalance-phone.png")
    page.locator("#balance-card").screenshot(path=os.path.join(ARTIFACTS,
                                                              "grid-rebalance-phone-card.png"))
    assert page.log.problems() == []
    context.close()
