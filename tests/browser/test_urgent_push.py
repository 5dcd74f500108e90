"""An urgent event reaches every responsible person's open page without a reload, and no one
else's, then escalates when nobody acknowledges it (issue 15, "Done when").

The demo city, served by a server of its own; pages open in headless Chromium, each its own
browser context and login: the demo inspector (the owner of 130984-Z01-01) on a phone, the
station's grid manager (its chief) at the map wall, an inspector of another station (not
responsible) and the city's leader (the account is the city's owner, 属地: the next level up).
The city's grid manager raises a special-equipment accident in Z01-01 with the raise form. The
inspector's and the chief's pages show the banner (and the wall its marker) by themselves; the
other inspector's does not, nor the leader's. Then the event is made eleven minutes old and its
escalation check due: the server's own job worker escalates it and the leader's open page shows
the banner at level 2. The leader acknowledges it with a click, the inspector taps "I'm on site"
(the phone's location 100 m away); every page follows, no request leaves the server, no
console error."""
import time

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import new_page, screenshot, serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1440, "height": 900}
CELL = "130984-Z01-01"
DESCRIPTION = "商场自动扶梯逆行，三人摔伤（浏览器测试）"
PASSWORDS = {"inspector": "demo-inspector-2026", "manager": "demo-manager-2026",
             "leader": "demo-leader-2026", "citymanager": "demo-citymanager-2026",
             "inspector2": "demo-inspector2-2026"}
SPOT: dict = {}


def _prepare(session):
    """The leader's account is the city's owner; an inspector of another station's cell."""
    from gis import people
    from gis.users import create_user

    mayor = session.execute(text("""
        SELECT p.code FROM responsibility r JOIN person p ON p.id = r.person_id
        JOIN cell c ON c.id = r.cell_id
        WHERE c.level = 1 AND r.role = 'owner' AND r.valid @> now()""")).scalar_one()
    people.link_account(session, "leader", None)
    people.link_account(session, "leader", mayor)
    other = session.execute(text("""
        SELECT c.code, (gw_cell_owner(c.id, now())).person_id FROM cell c
        WHERE c.level = 3 AND c.kind = 'territorial' AND c.retired_at IS NULL
          AND c.code NOT LIKE '130984-Z01-%' ORDER BY c.code LIMIT 1""")).one()
    create_user(session, "inspector2", PASSWORDS["inspector2"], role="inspector",
                place=other[0], person_id=other[1], display_name="另一巡查员")
    lon, lat = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM cell_current
                                      WHERE code = :c) x"""), {"c": CELL}).one()
    SPOT.update(lon=round(lon, 6), lat=round(lat, 6))


@pytest.fixture(scope="module")
def server(database_url):
    for base, db_url in serve_demo("_urgent", _prepare):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


def _open(browser, base, who, path, viewport, **options):
    context, page = new_page(browser, base, viewport, **options)
    sign_in(page, base, who, PASSWORDS[who], path)
    page.wait_for_selector("body[data-urgent-stream='ready']", state="attached",
                           timeout=15000)
    return context, page


def _banner(number, **attrs):
    extra = "".join(f"[data-{k}='{v}']" for k, v in attrs.items())
    return f"#urgent-alerts .urgent-banner[data-number='{number}']{extra}"


def test_an_urgent_event_reaches_the_responsible_pages_and_escalates(browser, server):
    base, engine = server
    contexts = []
    try:
        inspector_ctx, inspector = _open(
            browser, base, "inspector", "/", PHONE, touch=True, device_scale_factor=2,
            geolocation={"longitude": SPOT["lon"], "latitude": SPOT["lat"] + 0.0009},
            permissions=["geolocation"])
        contexts.append(inspector_ctx)
        chief_ctx, chief = _open(browser, base, "manager", "/map", DESK)
        contexts.append(chief_ctx)
        other_ctx, other = _open(browser, base, "inspector2", "/", DESK)
        contexts.append(other_ctx)
        leader_ctx, leader = _open(browser, base, "leader", "/map", DESK)
        contexts.append(leader_ctx)

        # The city's grid manager raises it with the form (typed coordinates).
        raiser_ctx, raiser = new_page(browser, base, DESK)
        contexts.append(raiser_ctx)
        sign_in(raiser, base, "citymanager", PASSWORDS["citymanager"], "/urgent/new")
        raiser.select_option("select[name=event_type]", "special_equipment")
        raiser.fill("textarea[name=description]", DESCRIPTION)
        raiser.fill("input[name=address]", "河间市商场（浏览器测试）")
        raiser.fill("#raise-lon", str(SPOT["lon"]))
        raiser.fill("#raise-lat", str(SPOT["lat"]))
        with raiser.expect_navigation():
            raiser.click("#raise-submit")
        number = raiser.url.rsplit("/", 1)[1]
        assert number.startswith("YJ-")
        raised_at = time.monotonic()

        # Everyone responsible sees it, without a reload; the chief's wall draws it too.
        inspector.wait_for_selector(_banner(number, status="raised", level=1), timeout=10000)
        chief.wait_for_selector(_banner(number, status="raised"), timeout=10000)
        chief.wait_for_selector(f".urgent-dot[data-number='{number}']", state="attached",
                                timeout=10000)
        seconds = time.monotonic() - raised_at
        assert DESCRIPTION in inspector.inner_text(_banner(number))
        assert inspector.get_attribute("body", "data-urgent-sound") in ("playing", "blocked")
        # The leader's wall shows the marker (the city is theirs to watch) but no banner yet:
        # they are not responsible at level 1. The other inspector sees nothing at all.
        leader.wait_for_selector(f".urgent-dot[data-number='{number}']", state="attached",
                                 timeout=10000)
        time.sleep(3)
        assert other.query_selector_all("#urgent-alerts .urgent-banner") == []
        assert other.query_selector_all(".urgent-dot") == []
        assert leader.query_selector_all(_banner(number)) == []
        screenshot(inspector, "urgent-banner-phone.png")
        screenshot(chief, "urgent-wall-chief.png")

        # Ten minutes pass with nobody acknowledging: the escalation check the raise queued
        # becomes due, and the server's own job worker escalates it to the city.
        with engine.begin() as conn:
            conn.execute(text("""
                UPDATE urgent_event SET raised_at = raised_at - interval '11 minutes'
                WHERE number = :n"""), {"n": number})
            conn.execute(text("""
                UPDATE job SET run_after = now() WHERE kind = 'urgent_escalate'
                  AND payload ->> 'event' = (SELECT id::text FROM urgent_event
                                             WHERE number = :n)"""), {"n": number})
        leader.wait_for_selector(_banner(number, level=2), timeout=30000)
        inspector.wait_for_selector(_banner(number, level=2), timeout=10000)
        assert other.query_selector_all("#urgent-alerts .urgent-banner") == []
        screenshot(leader, "urgent-escalated-leader.png")

        # The leader acknowledges it with a click; the inspector's phone follows.
        leader.click(_banner(number) + " .urgent-ack")
        leader.wait_for_selector(_banner(number, status="acknowledged"), timeout=10000)
        inspector.wait_for_selector(_banner(number, status="acknowledged"), timeout=10000)
        # The inspector taps "I'm on site": the phone's location goes with it.
        inspector.tap(_banner(number) + " .urgent-on-site")
        inspector.wait_for_selector(_banner(number, status="on_site"), timeout=15000)
        chief.wait_for_selector(f".urgent-dot[data-number='{number}'][data-status='on_site']",
                                state="attached", timeout=10000)

        with engine.connect() as conn:
            event = conn.execute(text("""
                SELECT id, status, level, acknowledged_by, on_site_by, on_site_distance_m
                FROM urgent_event WHERE number = :n"""), {"n": number}).one()
            steps = conn.execute(text(
                "SELECT step FROM urgent_step WHERE event_id = :e ORDER BY at, id"),
                {"e": event.id}).scalars().all()
            web = {(r.role, r.level): r for r in conn.execute(text("""
                SELECT role, level, delivered_at FROM urgent_alert
                WHERE event_id = :e AND channel = 'web'"""), {"e": event.id})}
        assert (event.status, event.level) == ("on_site", 2)
        assert (event.acknowledged_by, event.on_site_by) == ("leader", "inspector")
        assert 90 < event.on_site_distance_m < 110
        assert steps[:3] == ["raised", "alerted", "escalated"]
        assert "acknowledged" in steps and steps[-1] == "on_site"
        assert {"owner", "station_chief", "township_leader", "professional_owner"} == {
            r for r, level in web if level == 1}
        assert web[("owner", 2)].delivered_at  # the leader's (the mayor's) open page
        assert web[("owner", 1)].delivered_at and web[("station_chief", 1)].delivered_at
        with engine.connect() as conn:
            via = conn.execute(text("""
                SELECT via FROM audit_log WHERE action = 'urgent_escalated' AND target = :t"""),
                {"t": f"urgent {number}"}).scalar()
        assert via == "job"
        for page in (inspector, chief, other, leader, raiser):
            assert page.log.problems() == [], page.url
        print(f"banner on the responsible pages {seconds:.2f} s after the form was sent")
    finally:
        for context in contexts:
            context.close()


def _no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def test_an_inspector_raises_and_closes_an_event_on_a_phone(browser, server):
    """The raise form and an event's page at 390×844: the place from the phone's location,
    arrival and closure by taps; the list shows the minutes."""
    base, engine = server
    context, page = new_page(browser, base, PHONE, touch=True, device_scale_factor=2,
                             geolocation={"longitude": SPOT["lon"], "latitude": SPOT["lat"]},
                             permissions=["geolocation"])
    try:
        sign_in(page, base, "inspector", PASSWORDS["inspector"], "/urgent")
        with page.expect_navigation():
            page.locator("#raise-urgent").tap()
        page.wait_for_selector("body[data-urgent-cells='drawn']", state="attached")
        _no_sideways_scroll(page)
        page.select_option("select[name=event_type]", "product_harm")
        page.fill("textarea[name=description]", "儿童玩具小零件脱落被误吞（浏览器测试）")
        page.locator("#use-location").tap()
        for _ in range(50):  # wait_for_function takes no string under the CSP
            if page.input_value("#raise-lon"):
                break
            time.sleep(0.1)
        assert abs(float(page.input_value("#raise-lon")) - SPOT["lon"]) < 1e-5
        screenshot(page, "urgent-raise-phone.png")
        with page.expect_navigation():
            page.locator("#raise-submit").tap()
        number = page.url.rsplit("/", 1)[1]
        # The inspector owns the cell: their own page shows the banner too.
        page.wait_for_selector(_banner(number, status="raised"), state="attached",
                               timeout=10000)
        _no_sideways_scroll(page)
        assert page.inner_text("#urgent-alerted").count("网格责任人") >= 1
        with page.expect_navigation():
            page.locator("#on-site").tap()
        assert "距事发地 0 米" in page.inner_text("#urgent-steps")
        page.fill("textarea[name=outcome]", "已下架同批次玩具，通知家长就医（浏览器测试）")
        with page.expect_navigation():
            page.locator("#close-event").tap()
        assert page.get_attribute("#urgent-status", "data-status") == "closed"
        page.wait_for_selector(_banner(number), state="detached", timeout=10000)
        screenshot(page, "urgent-event-phone.png")
        _no_sideways_scroll(page)
        page.goto(base + "/urgent?status=all")
        assert page.locator(f"tr[data-number='{number}'][data-status='closed']").count() == 1
        _no_sideways_scroll(page)
        assert page.log.problems() == []
    finally:
        context.close()
