"""Open311 GeoReport v2 (app/open311.py) as a client sees it: a script posts a request
form-encoded with its api_key (a hotline account's token), then reads every endpoint in JSON and
in XML (parsed), with the standard's filters and the page/page_size extension; errors come in
the standard's shape in both formats; no read ever carries the complainant's name, phone or
e-mail."""
import datetime as dt
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from gis import people
from gis.users import create_token, create_user
from tests.factories import PASSWORD, login, small_world

UTC = dt.timezone.utc
PERSONAL = ("13912345678", "open311@example.org", "Zhang", "San")


@pytest.fixture
def world(session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC))
    owner = people.create_person(session, {"code": "RY1", "name": "王一"})["id"]
    people.assign(session, people.target(session, "owner", "S1-01"), owner,
                  dt.datetime(2026, 1, 1, tzinfo=UTC))
    create_user(session, "hotline-system", PASSWORD, role="hotline", place="C")
    return create_token(session, "hotline-system", "hotline")[1]


def form(**values):
    """A body as Open311 clients send it: application/x-www-form-urlencoded."""
    return {"data": urlencode(values), "content_type": "application/x-www-form-urlencoded"}


def post(client, token, fmt="json", **values):
    return client.post(f"/open311/v2/requests.{fmt}", **form(api_key=token, **values))


REQUEST = {"service_code": "special_equipment", "lat": "38.45", "long": "116.02",
           "address_string": "河间市某镇工业路", "description": "电梯运行异响，疑似未检验",
           "email": PERSONAL[1], "phone": PERSONAL[0], "first_name": PERSONAL[2],
           "last_name": PERSONAL[3], "media_url": "https://example.org/photo.jpg",
           "attribute[equipment]": "elevator", "attribute[enterprise]": "E1",
           "jurisdiction_id": "130984", "device_id": "phone-1"}


def xml_of(response):
    assert response.content_type.startswith("text/xml"), response.content_type
    return ET.fromstring(response.data)


def no_personal_data(response):
    body = response.get_data(as_text=True)
    assert not any(p in body for p in PERSONAL), body
    for key in ("email", "phone", "first_name", "last_name", "account_id"):
        assert f'"{key}"' not in body and f"<{key}>" not in body


def test_a_scripted_client_posts_then_reads_every_endpoint(client, session, world):
    # Services: JSON and XML agree.
    services = client.get("/open311/v2/services.json")
    assert services.status_code == 200
    codes = {s["service_code"]: s for s in services.get_json()}
    assert {"quality", "special_equipment", "other"} <= set(codes)
    assert codes["special_equipment"]["metadata"] is True and codes["other"]["metadata"] is False
    assert codes["quality"]["type"] == "realtime" and codes["quality"]["group"] == "产品质量"
    root = xml_of(client.get("/open311/v2/services.xml"))
    assert root.tag == "services"
    assert {s.findtext("service_code") for s in root.findall("service")} == set(codes)
    assert root.find("service[service_code='other']/metadata").text == "false"
    # A definition with attributes, and one without.
    definition = client.get("/open311/v2/services/special_equipment.json").get_json()
    assert definition["service_code"] == "special_equipment"
    equipment = {a["code"]: a for a in definition["attributes"]}["equipment"]
    assert equipment["datatype"] == "singlevaluelist" and equipment["variable"] is True
    assert "elevator" in [v["key"] for v in equipment["values"]]
    root = xml_of(client.get("/open311/v2/services/special_equipment.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == \
        "special_equipment"
    keys = [v.findtext("key") for v in root.findall("attributes/attribute/values/value")]
    assert "elevator" in keys
    assert client.get("/open311/v2/services/other.json").get_json() == {
        "service_code": "other", "attributes": []}

    # POST, form-encoded, the token as api_key.
    created = post(client, world, **REQUEST)
    assert created.status_code == 200, created.get_data(as_text=True)
    [answer] = created.get_json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None and "S1-01" in answer["service_notice"]
    number = answer["service_request_id"]
    stored = session.execute(text("""
        SELECT k.source, c.code, k.phone, k.email, k.first_name, k.last_name, k.urgent,
               k.attributes, e.management_code, k.due_at - k.received_at AS allowed
        FROM complaint k JOIN cell c ON c.id = k.cell_id
        LEFT JOIN enterprise e ON e.id = k.enterprise_id WHERE k.number = :n"""),
        {"n": number}).one()
    assert (stored.source, stored.code, stored.phone, stored.email) == (
        "open311", "S1-01", PERSONAL[0], PERSONAL[1])
    assert (stored.first_name, stored.last_name, stored.urgent) == (PERSONAL[2], PERSONAL[3],
                                                                    True)
    assert stored.attributes == {"equipment": "elevator", "enterprise": "E1"}
    assert stored.management_code == "E1" and stored.allowed == dt.timedelta(hours=24)
    audit = session.execute(text("SELECT username, via FROM audit_log WHERE action = "
                                 "'complaint_received'")).one()
    assert tuple(audit) == ("hotline-system", "api")
    # XML POST, and a Bearer header instead of api_key.
    other = client.post("/open311/v2/requests.xml", headers={"Authorization": f"Bearer {world}"},
                        **form(service_code="quality", lat="38.45", long="116.15",
                               description="电线绝缘层破损"))
    root = xml_of(other)
    assert root.tag == "service_requests" and root.find("request/account_id") is not None
    second = root.findtext("request/service_request_id")
    assert second and second != number

    # One request, JSON and XML: the standard's fields, nothing personal.
    one = client.get(f"/open311/v2/requests/{number}.json")
    assert one.status_code == 200
    no_personal_data(one)
    [row] = one.get_json()
    assert row["service_request_id"] == number and row["status"] == "open"
    assert row["service_code"] == "special_equipment" and row["service_name"] == "特种设备安全"
    assert row["description"] == REQUEST["description"]
    assert "S1-01" in row["agency_responsible"] and "王一" in row["agency_responsible"]
    assert row["address"] == REQUEST["address_string"]
    assert (row["lat"], row["long"]) == (38.45, 116.02)
    assert row["media_url"] == REQUEST["media_url"]
    requested = dt.datetime.fromisoformat(row["requested_datetime"])
    expected = dt.datetime.fromisoformat(row["expected_datetime"])
    assert row["requested_datetime"].endswith("+08:00") and expected - requested == \
        dt.timedelta(hours=24)
    assert dt.datetime.fromisoformat(row["updated_datetime"]) >= requested
    one_xml = client.get(f"/open311/v2/requests/{number}.xml")
    no_personal_data(one_xml)
    request = xml_of(one_xml).find("request")
    assert request.findtext("service_request_id") == number
    assert request.findtext("status") == "open"
    assert float(request.findtext("lat")) == 38.45 and request.findtext("long") == "116.02"
    assert request.findtext("expected_datetime") == row["expected_datetime"]

    # Closing it: closed, with the note as status_notes.
    login(client, "c1-inspector")
    assert client.patch(f"/api/v1/complaints/{number}",
                        json={"status": "closed", "note": "已责令企业停用电梯"}).status_code == 200
    client.post("/logout")
    [row] = client.get(f"/open311/v2/requests/{number}.json").get_json()
    assert (row["status"], row["status_notes"]) == ("closed", "已责令企业停用电梯")

    # The list: filters by id, service, status and dates, in both formats.
    listed = client.get("/open311/v2/requests.json")
    no_personal_data(listed)
    assert {r["service_request_id"] for r in listed.get_json()} >= {number, second}
    by_ids = client.get(f"/open311/v2/requests.json?service_request_id={number},{second}")
    assert {r["service_request_id"] for r in by_ids.get_json()} == {number, second}
    by_service = client.get("/open311/v2/requests.json?service_code=quality,labelling")
    assert [r["service_request_id"] for r in by_service.get_json()] == [second]
    assert [r["service_request_id"] for r in client.get(
        "/open311/v2/requests.json?status=closed").get_json()] == [number]
    assert number not in {r["service_request_id"] for r in client.get(
        "/open311/v2/requests.json?status=open").get_json()}
    root = xml_of(client.get("/open311/v2/requests.xml?status=open,closed"))
    assert {r.findtext("service_request_id") for r in root.findall("request")} >= {number,
                                                                                  second}
    now = dt.datetime.now(UTC)
    past = {"start_date": (now - dt.timedelta(days=60)).isoformat(),
            "end_date": (now - dt.timedelta(days=30)).isoformat()}
    assert client.get("/open311/v2/requests.json", query_string=past).get_json() == []
    assert len(xml_of(client.get("/open311/v2/requests.xml", query_string=past))) == 0
    recent = {"start_date": (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert len(client.get("/open311/v2/requests.json", query_string=recent).get_json()) >= 2


def test_pages_of_requests(client, session, world):
    numbers = [post(client, world, service_code="quality", lat="38.45", long="116.02",
                    description=f"第{i}件").get_json()[0]["service_request_id"]
               for i in range(5)]
    seen = []
    for page in (1, 2, 3):
        rows = client.get(f"/open311/v2/requests.json?service_code=quality&page_size=2"
                          f"&page={page}").get_json()
        assert len(rows) == (2 if page < 3 else 1)
        seen += [r["service_request_id"] for r in rows]
    assert sorted(seen) == sorted(numbers) and len(set(seen)) == 5
    root = xml_of(client.get("/open311/v2/requests.xml?service_code=quality&page_size=2&page=3"))
    assert len(root.findall("request")) == 1
    assert client.get("/open311/v2/requests.json?page=4&page_size=2&service_code=quality"
                      ).get_json() == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_come_in_the_open311_shape(client, session, world, fmt):
    def error(response, status):
        assert response.status_code == status, response.get_data(as_text=True)
        if fmt == "json":
            [e] = response.get_json()
            assert set(e) == {"code", "description"} and e["code"] == status
            return e["description"]
        root = xml_of(response)
        assert root.tag == "errors" and root.find("error/code").text == str(status)
        return root.findtext("error/description")

    good = {"service_code": "quality", "lat": "38.45", "long": "116.02", "description": "差"}
    assert "api_key" in error(client.post(f"/open311/v2/requests.{fmt}", **form(**good)), 401)
    error(client.post(f"/open311/v2/requests.{fmt}", **form(api_key="gw_nonsense", **good)),
          401)
    assert "service_code" in error(post(client, world, fmt, **{**good, "service_code": "nope"}),
                                   404)
    assert error(post(client, world, fmt, **{k: v for k, v in good.items()
                                             if k != "description"}), 400)
    assert "long" in error(post(client, world, fmt, **{**good, "long": "east"}), 400)
    assert "lat" in error(post(client, world, fmt, **{k: v for k, v in good.items()
                                                      if k not in ("lat", "long")}), 400)
    assert "attribute[equipment]" in error(post(client, world, fmt, **{
        **good, "service_code": "special_equipment", "attribute[equipment]": "rocket"}), 400)
    assert "colour" in error(post(client, world, fmt, **{**good, "colour": "red"}), 400)
    error(client.get(f"/open311/v2/services/nope.{fmt}"), 404)
    error(client.get(f"/open311/v2/requests/TS-1999-000001.{fmt}"), 404)
    error(client.get(f"/open311/v2/requests.{fmt}?status=pending"), 400)
    error(client.get(f"/open311/v2/requests.{fmt}?page_size=100000"), 400)
    error(client.get(f"/open311/v2/requests.{fmt}?start_date=2026-01-01&end_date=2026-06-01"),
          400)
    error(client.get(f"/open311/v2/requests.{fmt}?start_date=yesterday"), 400)
    # A user without intake_complaint: 403, in the same shape.
    token = create_token(session, "c1-inspector", "phone")[1]
    error(post(client, token, fmt, **good), 403)


def test_a_session_posts_with_its_csrf_token_a_token_without(app, client, session, world):
    app.config["WTF_CSRF_ENABLED"] = True
    login_page = client.get("/login").get_data(as_text=True)
    csrf = login_page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": "city-leader", "password": PASSWORD,
                                "csrf_token": csrf})
    good = {"service_code": "quality", "lat": "38.45", "long": "116.02", "description": "差"}
    refused = client.post("/open311/v2/requests.json", **form(**good))
    assert refused.status_code == 400 and refused.get_json()[0]["code"] == 400
    page = client.get("/complaints").get_data(as_text=True)
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    assert client.post("/open311/v2/requests.json",
                       **form(csrf_token=csrf, **good)).status_code == 200
    # A token call carries no cookie, so no CSRF token either.
    assert app.test_client().post("/open311/v2/requests.json",
                                  **form(api_key=world, **good)).status_code == 200


def test_reads_can_be_closed_to_the_public(app, client, session, world):
    number = post(client, world, service_code="quality", lat="38.45", long="116.15",
                  description="x").get_json()[0]["service_request_id"]
    app.config["OPEN311_PUBLIC_READS"] = False
    answer = client.get("/open311/v2/requests.json")
    assert answer.status_code == 401 and answer.get_json()[0]["code"] == 401

    def numbers():
        return {r["service_request_id"] for r in client.get(
            "/open311/v2/requests.json").get_json()}

    login(client, "c1-inspector")  # reads S1 only: the new complaint is in S2-01
    assert numbers() == {"K1"}
    assert client.get(f"/open311/v2/requests/{number}.json").status_code == 404
    login(client, "admin")
    assert numbers() == {"K1", number}
    # Services stay public.
    client.post("/logout")
    assert client.get("/open311/v2/services.json").status_code == 200


def test_anonymous_reads_are_limited_per_address(app, client, session, world):
    from gis.ratelimit import Rate

    app.extensions["gridwatch_read_rates"]["bulk"] = Rate(burst=2, per_minute=1)
    assert client.get("/open311/v2/requests.json").status_code == 200
    assert client.get("/open311/v2/requests.json").status_code == 200
    third = client.get("/open311/v2/requests.xml")
    assert third.status_code == 429 and int(third.headers["Retry-After"]) >= 1
    assert xml_of(third).findtext("error/code") == "429"
    other = app.test_client()
    assert other.get("/open311/v2/requests.json",
                     environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_a_hotline_account_and_its_token_from_the_command_line(client, runner, session, world):
    made = runner.invoke(args=["users", "create", "hotline-2", "--password", "long-pass-12",
                               "--role", "hotline", "--place", "C"])
    assert made.exit_code == 0, made.output
    token = runner.invoke(args=["users", "token", "hotline-2"]).output.strip().splitlines()[-1]
    sent = post(client, token, service_code="metrology", lat="38.45", long="116.15",
                description="加油机计量不准")
    assert sent.status_code == 200
    # The role takes complaints in and nothing else.
    login(client, "hotline-2", "long-pass-12")
    assert client.patch("/api/v1/complaints/K1", json={"status": "assigned"}).status_code == 403


def test_an_urgent_matter_raises_an_urgent_event_that_alerts_the_owner(client, session, world):
    """特种设备安全 is an urgent service: the hotline's request also raises an urgent event at
    its place, linked to the complaint, alerting the cell's owner at once; a matter that is
    not urgent raises none."""
    answer = post(client, world, **REQUEST).get_json()[0]
    number = session.execute(text("""
        SELECT number FROM complaint WHERE number = :n OR :n LIKE number || '%'"""),
        {"n": answer["service_request_id"]}).scalar()
    event = session.execute(text("""
        SELECT e.number, e.kind, e.specialty, p.name FROM urgent_event e
        JOIN complaint k ON k.id = e.complaint_id
        JOIN urgent_alert a ON a.event_id = e.id JOIN person p ON p.id = a.person_id
        WHERE k.number = :n AND a.role = 'owner'"""), {"n": number}).one()
    assert event[1:] == ("hotline", "special_equipment", "王一")
    audit = session.execute(text("""
        SELECT count(*) FROM audit_log WHERE action = 'urgent_raised' AND target = :t"""),
        {"t": f"urgent {event[0]}"}).scalar()
    assert audit == 1
    before = session.execute(text("SELECT count(*) FROM urgent_event")).scalar()
    post(client, world, **{**REQUEST, "service_code": "quality"})
    assert session.execute(text("SELECT count(*) FROM urgent_event")).scalar() == before
