"""Urgent events (gis/urgent.py, app/urgent.py): who is alerted for a point (the cell's owner,
the station chief, the township leader, the owner of the professional grid of the event's
specialty, and nobody else) as things stood at that moment; escalation after the set time and
not before, up the cell's path, stopped by an acknowledgement; arrival on site with the
distance from the phone; text messages through a fake SMS gateway, failures recorded; the API,
the pages, the push (its snapshot, and LISTEN/NOTIFY across connections) and the job queue's
delayed escalation check."""
from __future__ import annotations

import datetime as dt
import json
import queue
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import shapely
from sqlalchemy import text

from gis import people, urgent
from gis.cells import CellRecord, upsert_cells
from tests.conftest import TEST_SECRET_KEY, migrated_database
from tests.factories import login, multi, small_world

HERE = (116.02, 38.45)  # in S1-01, township 东城镇, professional cells PSE-01 and PF
ELSEWHERE = (116.15, 38.45)  # in S2-01
T0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)


def _cell(code, level, geom, parent, kind="territorial", specialty=None):
    return CellRecord(code=code, name=f"cell {code}", level=level, geom=multi(geom),
                      kind=kind, specialty=specialty, parent_code=parent, where=code)


def _person(session, code, name, phone=None, owner_of=None, chief_of=None, township=None,
            account=None, since=T0):
    pid = people.create_person(session, {"code": code, "name": name, "phone": phone})["id"]
    for role, place in (("owner", owner_of), ("station_chief", chief_of),
                        ("township_leader", township)):
        if place:
            people.assign(session, people.target(session, role, place), pid, since)
    if account:
        people.link_account(session, account, None)
        people.link_account(session, account, code)
    return pid


@pytest.fixture
def world(session):
    """small_world's city with people answering for everything around HERE (codes RY-…):
    OWN owns S1-01 (the account c1-inspector), CHIEF is S1's chief (s1-manager), TOWN leads
    the township (no account), SE owns the special-equipment cell PSE-01 (no account; a
    landline only), FOOD owns the food grid PF, OTHER owns S2-01 (c2-inspector), MAYOR owns
    the city, S1L is the account s1-leader (a leader at S1), LEAD the account city-leader."""
    small_world(session, valid_from=T0)
    upsert_cells(session, [
        _cell("PSE", 2, shapely.box(116.0, 38.4, 116.2, 38.5), "C", "professional",
              "special_equipment"),
        _cell("PSE-01", 3, shapely.box(116.0, 38.4, 116.1, 38.5), "PSE", "professional",
              "special_equipment"),
        _cell("PF", 2, shapely.box(116.0, 38.4, 116.2, 38.5), "C", "professional", "food")],
        valid_from=T0)
    session.execute(text("""
        INSERT INTO township (code, name, geom) VALUES
            ('130984001000', '东城镇', ST_Multi(ST_MakeEnvelope(116.0, 38.4, 116.1, 38.5, 4326))),
            ('130984002000', '西城镇', ST_Multi(ST_MakeEnvelope(116.1, 38.4, 116.2, 38.5, 4326)))"""))
    ids = {
        "OWN": _person(session, "RY-OWN", "责任人", "13900000001", owner_of="S1-01",
                       account="c1-inspector"),
        "CHIEF": _person(session, "RY-CHIEF", "所长", "13900000002", chief_of="S1",
                         account="s1-manager"),
        "TOWN": _person(session, "RY-TOWN", "镇长", "13900000003", township="130984001000"),
        "SE": _person(session, "RY-SE", "特种设备科长", "0317-3600000", owner_of="PSE-01"),
        "FOOD": _person(session, "RY-FOOD", "食品科长", "13900000005", owner_of="PF"),
        "OTHER": _person(session, "RY-OTHER", "另一责任人", "13900000006", owner_of="S2-01",
                         account="c2-inspector"),
        "MAYOR": _person(session, "RY-MAYOR", "市长", "13900000007", owner_of="C"),
        "S1L": _person(session, "RY-S1L", "所领导", "13900000008", account="s1-leader"),
        "LEAD": _person(session, "RY-LEAD", "局领导", "13900000009", account="city-leader"),
    }
    return ids


def _raise(session, kind="special_equipment", where=HERE, specialty=None, at=None,
           rules=urgent.Rules(), **kw):
    return urgent.raise_event(session, kind, *where, "电梯困人，两人受伤", specialty,
                              "c1-inspector", at=at, rules=rules, **kw)


def _alerted(session, number, channel="web") -> dict:
    return {code: (role, level) for code, role, level in session.execute(text("""
        SELECT p.code, a.role, a.level FROM urgent_alert a
        JOIN urgent_event e ON e.id = a.event_id JOIN person p ON p.id = a.person_id
        WHERE e.number = :n AND a.channel = :c"""), {"n": number, "c": channel})}


# --- who is alerted ---------------------------------------------------------------------------

def test_everyone_responsible_for_the_point_is_alerted_and_nobody_else(session, world):
    raised = _raise(session)
    assert raised["cell_code"] == "S1-01" and not raised["outside"]
    assert _alerted(session, raised["number"]) == {
        "RY-OWN": ("owner", 1), "RY-SE": ("professional_owner", 1),
        "RY-CHIEF": ("station_chief", 1), "RY-TOWN": ("township_leader", 1)}
    # No message channel: no text messages at all.
    assert _alerted(session, raised["number"], "sms") == {}
    failures = dict(session.execute(text("""
        SELECT p.code, a.failure FROM urgent_alert a JOIN person p ON p.id = a.person_id
        JOIN urgent_event e ON e.id = a.event_id WHERE e.number = :n"""),
        {"n": raised["number"]}).all())
    assert failures["RY-SE"] == urgent.NO_ACCOUNT and failures["RY-OWN"] is None
    steps = session.execute(text("""
        SELECT s.step FROM urgent_step s JOIN urgent_event e ON e.id = s.event_id
        WHERE e.number = :n ORDER BY s.id"""), {"n": raised["number"]}).scalars().all()
    assert steps == ["raised", "alerted"]
    assert raised["number"].startswith(f"YJ-{dt.date.today().year}-")


def test_the_specialty_chooses_the_professional_grid(session, world):
    food = _raise(session, "product_harm", specialty="food")
    assert _alerted(session, food["number"])["RY-FOOD"] == ("professional_owner", 1)
    assert "RY-SE" not in _alerted(session, food["number"])
    hotline = _raise(session, "hotline")
    assert set(_alerted(session, hotline["number"])) == {"RY-OWN", "RY-CHIEF", "RY-TOWN"}


def test_another_cell_alerts_its_own_people(session, world):
    raised = _raise(session, where=ELSEWHERE)
    alerted = _alerted(session, raised["number"])
    assert alerted["RY-OTHER"] == ("owner", 1)
    assert "RY-OWN" not in alerted and "RY-TOWN" not in alerted and "RY-CHIEF" not in alerted


def test_who_is_alerted_is_who_answered_at_that_moment(session, world):
    now = urgent.db_now(session)
    new = _person(session, "RY-NEW", "新责任人", "13900000010", owner_of="S1-01",
                  since=now - dt.timedelta(hours=1))
    before = _raise(session, at=now - dt.timedelta(hours=2))
    after = _raise(session, at=now)
    assert _alerted(session, before["number"])["RY-OWN"] == ("owner", 1)
    assert "RY-NEW" not in _alerted(session, before["number"])
    assert _alerted(session, after["number"])["RY-NEW"] == ("owner", 1)
    assert "RY-OWN" not in _alerted(session, after["number"])
    assert new


def test_a_point_outside_every_cell_alerts_the_city(session, world):
    raised = _raise(session, where=(116.5, 38.45))
    assert raised["outside"] and raised["cell_code"] is None
    assert _alerted(session, raised["number"]) == {"RY-MAYOR": ("owner", 1),
                                                   "RY-LEAD": ("leader", 1)}


# --- escalation ------------------------------------------------------------------------------

def test_unacknowledged_it_escalates_after_the_set_time_and_not_before(session, world):
    raised = _raise(session)
    at = session.execute(text("SELECT raised_at FROM urgent_event WHERE id = :e"),
                         {"e": raised["id"]}).scalar()
    minutes = lambda n: at + dt.timedelta(minutes=n)  # noqa: E731
    assert urgent.escalate(session, minutes(9.9)) == []
    [first] = urgent.escalate(session, minutes(10))
    assert (first["level"], first["place"]) == (2, "S1")  # the station's grid: its leader
    assert {k: v for k, v in _alerted(session, raised["number"]).items() if v[1] == 2} == {
        "RY-S1L": ("leader", 2)}
    assert urgent.escalate(session, minutes(19.9)) == []  # ten minutes after the last alerting
    [second] = urgent.escalate(session, minutes(20))
    assert (second["level"], second["place"]) == (3, "C")
    assert {k: v for k, v in _alerted(session, raised["number"]).items() if v[1] == 3} == {
        "RY-MAYOR": ("owner", 3), "RY-LEAD": ("leader", 3)}
    assert urgent.escalate(session, minutes(60)) == []  # the top: nobody further
    event = urgent.get_event(session, raised["number"])
    assert event["level"] == 3 and event["status"] == "raised"
    escalations = [(s["level"], s["note"], round(s["seconds"] / 60)) for s in event["steps"]
                   if s["step"] == "escalated"]
    assert escalations == [(2, "S1", 10), (3, "C", 20)]


def test_a_place_with_nobody_new_is_passed_over(session, world):
    people.link_account(session, "s1-leader", None)  # S1 has nobody beyond its chief now
    raised = _raise(session)
    at = session.execute(text("SELECT raised_at FROM urgent_event WHERE id = :e"),
                         {"e": raised["id"]}).scalar()
    [first] = urgent.escalate(session, at + dt.timedelta(minutes=10))
    assert (first["level"], first["place"]) == (2, "C")


def test_an_acknowledgement_stops_the_escalation(session, world):
    raised = _raise(session)
    at = session.execute(text("SELECT raised_at FROM urgent_event WHERE id = :e"),
                         {"e": raised["id"]}).scalar()
    done = urgent.acknowledge(session, raised["number"], "s1-manager",
                              at=at + dt.timedelta(minutes=3))
    assert done == {"number": raised["number"], "status": "acknowledged", "changed": True}
    assert urgent.acknowledge(session, raised["number"], "s1-manager")["changed"] is False
    assert urgent.escalate(session, at + dt.timedelta(minutes=30)) == []
    event = urgent.get_event(session, raised["number"])
    assert (event["acknowledged_by"], event["level"]) == ("s1-manager", 1)


def test_the_acknowledgement_time_is_a_setting(session, world):
    raised = _raise(session, rules=urgent.Rules(ack_minutes=2))
    at = session.execute(text("SELECT raised_at FROM urgent_event WHERE id = :e"),
                         {"e": raised["id"]}).scalar()
    fast = urgent.Rules(ack_minutes=2)
    assert urgent.escalate(session, at + dt.timedelta(minutes=1.5), fast) == []
    assert len(urgent.escalate(session, at + dt.timedelta(minutes=2), fast)) == 1
    job = session.execute(text("""
        SELECT run_after FROM job WHERE kind = 'urgent_escalate'
          AND payload ->> 'event' = :e"""), {"e": str(raised["id"])}).scalar()
    assert job == at + dt.timedelta(minutes=2)


def test_the_escalation_check_is_queued_and_runs_as_a_job(session, world):
    raised = _raise(session)
    [job] = session.execute(text("""
        SELECT id, payload, run_after, status FROM job WHERE kind = 'urgent_escalate'""")).all()
    at = session.execute(text("SELECT raised_at FROM urgent_event WHERE id = :e"),
                         {"e": raised["id"]}).scalar()
    assert job.payload == {"event": raised["id"]} and job.status == "queued"
    assert job.run_after == at + dt.timedelta(minutes=10)
    # Eleven minutes on (the event moved back in time), the job's runner escalates it, audits
    # it and queues the next check.
    session.execute(text("""
        UPDATE urgent_event SET raised_at = raised_at - interval '11 minutes' WHERE id = :e"""),
        {"e": raised["id"]})
    from gis import jobs

    result = jobs.RUNNERS["urgent_escalate"](session, {"payload": job.payload},
                                              jobs.JobContext(settings={"URGENT_ACK_MINUTES": 10}))
    assert result == {"escalated": [raised["number"]]}
    entry = session.execute(text("""
        SELECT action, target, via, detail FROM audit_log ORDER BY id DESC LIMIT 1""")).one()
    assert entry.action == "urgent_escalated" and entry.via == "job"
    assert entry.target == f"urgent {raised['number']}" and entry.detail["level"] == 2
    assert session.execute(text(
        "SELECT count(*) FROM job WHERE kind = 'urgent_escalate'")).scalar() == 2


# --- handling ---------------------------------------------------------------------------------

def test_arrival_on_site_keeps_the_distance_from_the_phone(session, world):
    raised = _raise(session)
    done = urgent.on_site(session, raised["number"], "c1-inspector", HERE[0], HERE[1] + 0.001)
    assert done["status"] == "on_site" and 110 < done["distance_m"] < 112.5
    event = urgent.get_event(session, raised["number"])
    assert event["on_site_by"] == "c1-inspector" and 110 < event["on_site_distance_m"] < 112.5
    assert event["acknowledged_by"] == "c1-inspector"  # arriving acknowledges it too
    [step] = [s for s in event["steps"] if s["step"] == "on_site"]
    assert 110 < step["distance_m"] < 112.5 and step["lat"] == pytest.approx(HERE[1] + 0.001)
    # Without a location from the phone: recorded, without a distance.
    later = urgent.on_site(session, raised["number"], "s1-manager")
    assert later["distance_m"] is None
    assert urgent.get_event(session, raised["number"])["on_site_by"] == "c1-inspector"


def test_a_closed_event_takes_no_more_steps(session, world):
    raised = _raise(session)
    with pytest.raises(urgent.ValidationError):
        urgent.close(session, raised["number"], "s1-manager", "  ")
    assert urgent.close(session, raised["number"], "s1-manager", "已救出，设备停用")["status"] \
        == "closed"
    for step in (lambda: urgent.acknowledge(session, raised["number"], "c1-inspector"),
                 lambda: urgent.on_site(session, raised["number"], "c1-inspector"),
                 lambda: urgent.close(session, raised["number"], "c1-inspector", "再次")):
        with pytest.raises(urgent.UrgentRefused):
            step()
    at = session.execute(text("SELECT raised_at FROM urgent_event WHERE id = :e"),
                         {"e": raised["id"]}).scalar()
    assert urgent.escalate(session, at + dt.timedelta(hours=1)) == []


def test_bad_input_is_refused_by_field(session, world):
    with pytest.raises(urgent.ValidationError) as kind:
        _raise(session, kind="fire")
    assert kind.value.field == "event_type"
    with pytest.raises(urgent.ValidationError) as description:
        urgent.raise_event(session, "hotline", *HERE, " ", None, "x")
    assert description.value.field == "description"
    with pytest.raises(urgent.ValidationError) as complaint:
        _raise(session, complaint="NO-SUCH")
    assert complaint.value.field == "complaint"


# --- text messages ----------------------------------------------------------------------------

class Gateway:
    """A fake SMS gateway on 127.0.0.1 recording what it is sent; ``status`` it answers."""

    def __init__(self, status=200):
        self.requests: list[dict] = []
        self.status = status
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append({"path": self.path, "headers": dict(self.headers),
                                         "body": json.loads(body)})
                answer = json.dumps({"id": f"m{len(gateway.requests)}"} if gateway.status < 300
                                    else {"error": "quota exceeded"}).encode()
                self.send_response(gateway.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"

    def settings(self, **more) -> dict:
        return {"SMS_GATEWAY": "http", "SMS_GATEWAY_URL": self.url,
                "SMS_GATEWAY_TOKEN": "gw-token", "SMS_GATEWAY_TIMEOUT_SECONDS": 5} | more


@pytest.fixture
def gateway():
    fake = Gateway()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _send_queued(session, settings) -> list[dict]:
    results = []
    for (payload,) in session.execute(text(
            "SELECT payload FROM job WHERE kind = 'urgent_messages' ORDER BY id")).all():
        results.append(urgent.run_message_job(session, payload, settings))
    return results


def test_text_messages_go_through_the_gateway(session, world, gateway):
    settings = gateway.settings()
    raised = _raise(session, rules=urgent.Rules.from_settings(settings))
    assert set(_alerted(session, raised["number"], "sms")) == {
        "RY-OWN", "RY-SE", "RY-CHIEF", "RY-TOWN"}
    results = _send_queued(session, settings)
    assert sorted(r["sent"] for r in results) == [True, True, True]  # RY-SE has a landline
    phones = sorted(r["body"]["phone"] for r in gateway.requests)
    assert phones == ["13900000001", "13900000002", "13900000003"]
    request = gateway.requests[0]
    assert request["path"] == "/send" and request["headers"]["Authorization"] == "Bearer gw-token"
    assert raised["number"] in request["body"]["text"] and "电梯困人" in request["body"]["text"]
    rows = dict(session.execute(text("""
        SELECT p.code, coalesce(a.failure, 'delivered ' || (a.delivered_at IS NOT NULL))
        FROM urgent_alert a JOIN person p ON p.id = a.person_id
        WHERE a.event_id = :e AND a.channel = 'sms'"""), {"e": raised["id"]}).all())
    assert rows == {"RY-OWN": "delivered true", "RY-CHIEF": "delivered true",
                    "RY-TOWN": "delivered true", "RY-SE": urgent.NO_MOBILE}
    # A job run twice sends nothing twice.
    assert not any(r["sent"] for r in _send_queued(session, settings))
    assert len(gateway.requests) == 3


def test_a_failing_gateway_is_recorded_and_the_web_alert_stands(session, world, gateway):
    gateway.status = 500
    settings = gateway.settings()
    raised = _raise(session, rules=urgent.Rules.from_settings(settings))
    results = _send_queued(session, settings)
    assert [r["failure"] for r in results] == ['HTTP 500: {"error": "quota exceeded"}'] * 3
    unreachable = gateway.settings(SMS_GATEWAY_URL="http://127.0.0.1:9/send")
    session.execute(text("UPDATE urgent_alert SET failure = NULL WHERE channel = 'sms'"
                         " AND failure LIKE 'HTTP%'"))
    assert all(r["failure"].startswith("gateway unreachable")
               for r in _send_queued(session, unreachable) if r["sent"] is False
               and r.get("failure"))
    web = session.execute(text("""
        SELECT count(*) FROM urgent_alert WHERE event_id = :e AND channel = 'web'
          AND failure IS NULL"""), {"e": raised["id"]}).scalar()
    assert web == 2  # RY-OWN's and RY-CHIEF's accounts: the gateway changed nothing there


def test_message_channels(gateway):
    from gis import messaging

    assert messaging.channel({}).name == "none" and not messaging.channel({}).enabled
    with pytest.raises(ValueError):
        messaging.channel({"SMS_GATEWAY": "carrier-pigeon"})
    with pytest.raises(ValueError):
        messaging.channel({"SMS_GATEWAY": "http", "SMS_GATEWAY_URL": "ftp://x"})
    sent = messaging.channel(gateway.settings()).send("13900000001", "测试")
    assert sent.ok and sent.message_id == "m1"
    assert gateway.requests[0]["body"] == {"phone": "13900000001", "text": "测试"}


# --- the API and the pages --------------------------------------------------------------------

RAISE = {"event_type": "special_equipment", "lon": HERE[0], "lat": HERE[1],
         "description": "锅炉泄漏", "address": "河间市工业路 8 号"}


def test_the_api_raises_lists_and_handles_an_event(client, session, world):
    login(client, "c1-inspector")
    created = client.post("/api/v1/urgent", json=RAISE)
    assert created.status_code == 201, created.get_json()
    event = created.get_json()
    number = event["number"]
    assert created.headers["Location"] == f"/urgent/{number}"
    assert event["status"] == "raised" and event["cell"]["code"] == "S1-01"
    assert {(a["person"], a["role"]) for a in event["alerts"]} == {
        ("RY-OWN", "owner"), ("RY-SE", "professional_owner"), ("RY-CHIEF", "station_chief"),
        ("RY-TOWN", "township_leader")}
    assert [s["step"] for s in event["steps"]] == ["raised", "alerted"]
    audit = session.execute(text("""
        SELECT action, target, detail FROM audit_log WHERE action LIKE 'urgent%'
        ORDER BY id DESC LIMIT 1""")).one()
    assert audit.action == "urgent_raised" and audit.detail["alerted"] == 4
    assert audit.detail["place"] == "S1-01" and audit.detail["event_type"] == "special_equipment"
    listed = client.get("/api/v1/urgent?status=open").get_json()["events"]
    assert [(e["number"], e["mine"], e["my_role"], e["may_handle"]) for e in listed] == [
        (number, True, "owner", True)]
    client.post("/logout")

    login(client, "s2-manager")  # another station's: neither alerted nor in the area
    assert client.get("/api/v1/urgent").get_json()["events"] == []
    assert client.get(f"/api/v1/urgent/{number}").status_code == 403
    assert client.post(f"/api/v1/urgent/{number}/acknowledge").status_code == 403
    client.post("/logout")

    login(client, "s1-manager")
    acked = client.post(f"/api/v1/urgent/{number}/acknowledge")
    assert acked.status_code == 200 and acked.get_json()["acknowledged_by"] == "s1-manager"
    there = client.post(f"/api/v1/urgent/{number}/on-site",
                        json={"lon": HERE[0], "lat": HERE[1] + 0.0005})
    assert there.get_json()["status"] == "on_site"
    assert 50 < there.get_json()["on_site_distance_m"] < 60
    bad = client.post(f"/api/v1/urgent/{number}/close", json={"outcome": ""})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "outcome"
    closed = client.post(f"/api/v1/urgent/{number}/close", json={"outcome": "已处置"})
    assert closed.get_json()["status"] == "closed"
    again = client.post(f"/api/v1/urgent/{number}/acknowledge")
    assert again.status_code == 409 and number in again.get_json()["error"]["message"]
    actions = session.execute(text("""
        SELECT action FROM audit_log WHERE target = :t ORDER BY id"""),
        {"t": f"urgent {number}"}).scalars().all()
    assert actions == ["urgent_raised", "urgent_acknowledged", "urgent_on_site", "urgent_closed"]
    assert client.get("/api/v1/urgent?status=open").get_json()["events"] == []
    assert [e["number"] for e in client.get("/api/v1/urgent?status=closed")
            .get_json()["events"]] == [number]


def test_an_alerted_person_handles_it_wherever_their_role_is(client, session, world):
    from gis.users import create_user

    create_user(session, "town", "secret-pass-1", role="inspector", place="S2-01",
                person_id=world["TOWN"])
    raised = _raise(session)
    login(client, "town", "secret-pass-1")
    assert client.get(f"/api/v1/urgent/{raised['number']}").status_code == 200
    assert client.post(f"/api/v1/urgent/{raised['number']}/acknowledge").status_code == 200


def test_the_api_says_what_is_wrong(client, world):
    login(client, "c1-inspector")
    swapped = client.post("/api/v1/urgent", json=RAISE | {"lon": HERE[1], "lat": HERE[0]})
    assert swapped.status_code == 400 and swapped.get_json()["error"]["field"] == "lon"
    kind = client.post("/api/v1/urgent", json=RAISE | {"event_type": "fire"})
    assert kind.status_code == 400 and "事件类型" in kind.get_json()["error"]["message"]
    assert client.post("/api/v1/urgent", json=RAISE | {"extra": 1}).status_code == 400
    missing = client.get("/api/v1/urgent/YJ-2026-9999")
    assert missing.status_code == 404 and "应急事件" in missing.get_json()["error"]["message"]


def test_the_pages_raise_show_and_handle_an_event(client, session, world):
    login(client, "c1-inspector")
    form = client.get("/urgent/new")
    assert form.status_code == 200 and 'name="event_type"' in form.get_data(as_text=True)
    refused = client.post("/urgent/new", data=RAISE | {"description": ""})
    assert refused.status_code == 400 and 'id="raise-problem"' in refused.get_data(as_text=True)
    assert "河间市工业路 8 号" in refused.get_data(as_text=True)  # what was typed comes back
    raised = client.post("/urgent/new", data=RAISE)
    assert raised.status_code == 302
    number = raised.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/urgent/{number}").get_data(as_text=True)
    assert "锅炉泄漏" in page and 'data-role="professional_owner"' in page
    assert 'id="acknowledge-form"' in page and "RY-SE" in page
    listing = client.get("/urgent").get_data(as_text=True)
    assert f'data-number="{number}"' in listing and 'data-mine="1"' in listing
    assert client.post(f"/urgent/{number}/acknowledge").status_code == 302
    assert client.post(f"/urgent/{number}/on-site",
                       data={"lon": str(HERE[0]), "lat": str(HERE[1])}).status_code == 302
    assert client.post(f"/urgent/{number}/close", data={"outcome": "处置完毕"}).status_code == 302
    page = client.get(f"/urgent/{number}").get_data(as_text=True)
    assert 'data-step="closed"' in page and 'id="acknowledge-form"' not in page
    assert client.post(f"/urgent/{number}/close", data={"outcome": "x"}).status_code == 409


def test_every_logged_in_page_carries_the_push(client, world):
    login(client, "c1-inspector")
    html = client.get("/").get_data(as_text=True)
    assert 'id="urgent-texts"' in html and "/static/urgent.js" in html
    texts = json.loads(html.split('id="urgent-texts">', 1)[1].split("</script>", 1)[0])
    assert texts["stream"] == "/urgent/stream" and texts["words"]["kinds"]["hotline"]
    client.post("/logout")
    assert "urgent.js" not in client.get("/login").get_data(as_text=True)


def test_the_sound_is_a_wave_made_here(client):
    answer = client.get("/urgent/alert.wav")
    assert answer.status_code == 200 and answer.mimetype == "audio/wav"
    assert answer.data[:4] == b"RIFF" and answer.data[8:12] == b"WAVE"


# --- the push ---------------------------------------------------------------------------------

def _stream(client, url="/urgent/stream") -> list[tuple[str, dict]]:
    body = client.get(url).get_data(as_text=True)
    assert body.startswith("retry: ")
    out = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line
                     and not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_the_stream_sends_what_concerns_the_reader(client, app, session, world):
    # The test client is a server without threads: the stream answers at once (poll mode).
    raised = _raise(session)
    login(client, "c1-inspector")
    [(kind, snapshot)] = _stream(client)
    assert kind == "snapshot" and snapshot["person"] is True
    [event] = snapshot["events"]
    assert (event["number"], event["mine"], event["my_role"]) == (raised["number"], True, "owner")
    assert event["url"] == f"/urgent/{raised['number']}"
    delivered = session.execute(text("""
        SELECT delivered_at IS NOT NULL FROM urgent_alert a JOIN person p ON p.id = a.person_id
        WHERE a.event_id = :e AND p.code = 'RY-OWN' AND a.channel = 'web'"""),
        {"e": raised["id"]}).scalar()
    assert delivered  # an open page of theirs showed it
    client.post("/logout")
    login(client, "c2-inspector")  # not alerted; S1-01 is not in their area either
    assert _stream(client)[0][1]["events"] == []
    assert _stream(client, "/urgent/stream?area=1")[0][1]["events"] == []
    client.post("/logout")
    login(client, "admin")  # reads everything: the wall's marker, no banner
    assert _stream(client)[0][1]["events"] == []
    [wall] = _stream(client, "/urgent/stream?area=1")[0][1]["events"]
    assert wall["mine"] is False and wall["may_handle"] is True


# --- committed work: LISTEN/NOTIFY and the worker ------------------------------------------------

@pytest.fixture(scope="module")
def committed_app(database_url):
    from app import create_app
    url = migrated_database("_urgent")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": TEST_SECRET_KEY,
                      "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["gridwatch.engine"].dispose()


def test_every_process_hears_a_change_when_it_commits(committed_app):
    from app.urgent import Hub

    engine = committed_app.extensions["gridwatch.engine"]
    hub = Hub(engine)
    try:
        heard = hub.subscribe()
        assert hub.listening.is_set()
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_notify(:c, :p)"),
                         {"c": urgent.CHANNEL, "p": json.dumps({"event": 7, "step": "raised"})})
            with pytest.raises(queue.Empty):  # not before the commit
                heard.get(timeout=0.3)
            conn.commit()
        assert json.loads(heard.get(timeout=5)) == {"event": 7, "step": "raised"}
    finally:
        hub.stop.set()


def test_a_delayed_job_waits_for_its_time(committed_app):
    from gis import jobs

    sessions = committed_app.extensions["gridwatch.sessions"]
    with sessions() as session:
        session.execute(text("DELETE FROM job"))
        later = jobs.enqueue(session, "urgent_escalate", {"event": 0},
                             run_after=urgent.db_now(session) + dt.timedelta(minutes=10))
        session.commit()
    worker = jobs.Worker(committed_app.extensions["gridwatch.engine"],
                         context=jobs.JobContext(settings={"URGENT_ACK_MINUTES": 10}))
    try:
        assert worker.run_once() is None  # not yet
        with sessions() as session:
            session.execute(text("UPDATE job SET run_after = now() - interval '1 second' "
                                 "WHERE id = :j"), {"j": later})
            session.commit()
        assert worker.run_once() == later
        with sessions() as session:
            assert jobs.get(session, later)["status"] == "done"
    finally:
        worker.close()


def test_the_pages_hold_no_untranslated_english(client, session, world, gateway):
    from tests.test_i18n import english_words

    settings = gateway.settings()
    raised = _raise(session, rules=urgent.Rules.from_settings(settings))
    _send_queued(session, settings)
    urgent.on_site(session, raised["number"], "c1-inspector")
    login(client, "c1-inspector")
    for path in ("/urgent", "/urgent?status=all", "/urgent/new", f"/urgent/{raised['number']}"):
        html = client.get(path + ("&" if "?" in path else "?") + "lang=zh_Hans_CN").get_data(
            as_text=True)
        # The event's number is a code (in the page's title too, where translate="no" is not).
        assert english_words(html.replace(raised["number"], "")) == set(), path
    push = json.loads(html.split('id="urgent-texts">', 1)[1].split("</script>", 1)[0])
    words = " ".join(list(push["t"].values()) + [w for group in push["words"].values()
                                                  for w in group.values()])
    assert english_words(re.sub(r"%\(\w+\)s", "", words)) == set()


def test_who_may_raise_and_handle(session, world):
    from gis import policy
    from gis.users import create_user, grants, user_id

    create_user(session, "hotline-desk", "secret-pass-1", role="hotline", place="C")
    hotline = grants(session, user_id(session, "hotline-desk"))
    path = urgent.locate(session, *HERE)["path"]
    assert policy.can(hotline, "raise_urgent", path)
    assert not policy.can_handle_urgent(hotline, path, alerted=False)
    other = grants(session, user_id(session, "c2-inspector"))
    assert not policy.can(other, "raise_urgent", path)
    assert not policy.can_handle_urgent(other, path, alerted=False)
    assert policy.can_handle_urgent(other, path, alerted=True)
    neighbour = urgent.locate(session, 116.07, 38.45)["path"]  # S1-02, the same station
    assert policy.can(grants(session, user_id(session, "c1-inspector")), "raise_urgent",
                      neighbour)
    outside = urgent.locate(session, 116.5, 38.45)
    assert outside["outside"] and outside["path"] == urgent.locate(session, *HERE)["path"][:1]


def test_the_command_line_raises_escalates_and_lists(runner, session, world):
    raised = runner.invoke(args=["urgent", "raise", "--type", "hotline", "--lon", "116.02",
                                 "--lat", "38.45", "--description", "热线：燃气灶爆裂",
                                 "--user", "c1-inspector"])
    assert raised.exit_code == 0, raised.output
    number, cell, alerted = raised.output.strip().split("\t")
    assert cell == "S1-01" and alerted == "3 alerted"
    refused = runner.invoke(args=["urgent", "raise", "--type", "hotline", "--lon", "116.02",
                                  "--lat", "38.45", "--description", "x", "--user",
                                  "c2-inspector"])
    assert refused.exit_code != 0 and "may not" in refused.output
    listed = runner.invoke(args=["urgent", "list"])
    assert listed.output.startswith(f"{number}\traised\t1\t")
    session.execute(text("UPDATE urgent_event SET raised_at = raised_at - interval '1 hour'"))
    escalated = runner.invoke(args=["urgent", "escalate"])
    assert escalated.output.strip() == f"{number}\tlevel 2\tS1"
    entry = session.execute(text("""
        SELECT username, via FROM audit_log WHERE action = 'urgent_escalated'""")).one()
    assert tuple(entry) == ("cli", "cli")
    assert session.execute(text("""
        SELECT username FROM audit_log WHERE action = 'urgent_raised'""")).scalar() \
        == "c1-inspector"
