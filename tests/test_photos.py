"""Photos of inspections and rectifications: judged by content (never by name), kept once by
hash, located by EXIF and compared with the enterprise, added only by who may record an
inspection there, served only to who may read the enterprise, audited."""
import datetime as dt
import hashlib
import io
import json
import re
import struct
import zlib

import pytest
from PIL import Image
from sqlalchemy import text

from gis import photos
from tests.factories import login, small_world

CJK = re.compile(r"[\u3400-\u9fff]")
# E1 (small_world) stands at 116.02, 38.45.
NEAR = (116.0201, 38.4501)  # about 14 m away
FAR = (116.02, 38.46)  # about 1.1 km north


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def jpeg(colour=(200, 30, 30), at=None, size=(64, 48), refs=("N", "E")) -> bytes:
    """A real JPEG; ``at`` (lon, lat) written as EXIF GPS."""
    img = Image.new("RGB", size, colour)
    exif = Image.Exif()
    if at is not None:
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = refs[0], _dms(at[1])
        gps[3], gps[4] = refs[1], _dms(at[0])
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def png(colour=(10, 120, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, "PNG")
    return buf.getvalue()


def webp(colour=(10, 40, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, "WEBP")
    return buf.getvalue()


def noise_jpeg(side=200) -> bytes:
    import random

    rnd = random.Random(1)
    img = Image.frombytes("RGB", (side, side), bytes(rnd.getrandbits(8)
                                                     for _ in range(side * side * 3)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's
    shape: the decoder would be asked for all of them)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


# --- the domain: content, EXIF, store --------------------------------------------------------

def test_the_type_is_judged_by_the_magic_bytes():
    assert photos.sniff(jpeg()) == "image/jpeg"
    assert photos.sniff(png()) == "image/png"
    assert photos.sniff(webp()) == "image/webp"
    assert photos.sniff(b"GIF89a" + b"\x00" * 20) is None
    assert photos.sniff(b"hello, this is text") is None
    assert photos.sniff(b"") is None


def test_check_decodes_and_refuses_what_is_no_photo():
    assert photos.check(png(), 10_000) == ("image/png", None)
    assert photos.check(webp(), 10_000) == ("image/webp", None)
    with pytest.raises(photos.PhotoRefused) as exc:
        photos.check(b"just text", 10_000, "notes.jpg")
    assert exc.value.code == "not_image" and exc.value.file_name == "notes.jpg"
    # JPEG's first bytes, then nothing a decoder can read.
    with pytest.raises(photos.PhotoRefused) as exc:
        photos.check(b"\xff\xd8\xff\xe0" + b"garbage" * 50, 10_000, "half.jpg")
    assert exc.value.code == "damaged"
    # A real JPEG cut in half.
    whole = noise_jpeg(64)
    with pytest.raises(photos.PhotoRefused) as exc:
        photos.check(whole[:len(whole) // 2], None)
    assert exc.value.code == "damaged"
    with pytest.raises(photos.PhotoRefused) as exc:
        photos.check(png(), 10)
    assert exc.value.code == "too_large" and exc.value.params["limit"] == 10


@pytest.mark.parametrize("width, height", [(8000, 8000), (20000, 20000)])
def test_a_decompression_bomb_is_refused_before_decoding(width, height):
    data = png_declaring(width, height)
    assert len(data) < 200
    with pytest.raises(photos.PhotoRefused) as exc:
        photos.check(data, 10_000, "bomb.png")
    assert exc.value.code == "too_many_pixels"


def test_exif_gps_is_read_as_lon_lat_with_south_and_west_negative():
    _type, at = photos.check(jpeg(at=NEAR), None)
    assert at == pytest.approx(NEAR, abs=1e-6)
    _type, at = photos.check(jpeg(at=(73.5, 33.25), refs=("S", "W")), None)
    assert at == pytest.approx((-73.5, -33.25), abs=1e-6)
    assert photos.check(jpeg(), None)[1] is None
    # A camera without a fix writes 0, 0: no location.
    assert photos.check(jpeg(at=(0.0, 0.0)), None)[1] is None


def test_the_disk_store_keeps_the_same_content_once(tmp_path):
    store = photos.DiskStore(tmp_path / "photos")
    data = jpeg()
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.put(data) == sha
    files = [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]
    assert files == [tmp_path / "photos" / sha[:2] / f"{sha[2:]}.jpg"]
    assert store.exists(sha) and store.open(sha).read_bytes() == data
    assert not store.exists("0" * 64) and not store.exists("../../etc/passwd")
    with pytest.raises(KeyError):
        store.open("../" + sha[3:])
    assert store.open(store.put(webp())).suffix == ".webp"


def test_file_names_are_kept_as_a_last_part_without_control_characters():
    assert photos.clean_file_name("C:\\fotos\\门头.jpg") == "门头.jpg"
    assert photos.clean_file_name("../../x\x00y.png") == "xy.png"
    assert photos.clean_file_name("") is None
    assert len(photos.clean_file_name("a" * 300 + ".jpg")) == 200


def test_the_factory_makes_the_store_from_the_settings(tmp_path, database_url):
    from app import create_app
    from tests.conftest import TEST_SECRET_KEY

    app = create_app({"TESTING": True, "DATABASE_URL": database_url,
                      "SECRET_KEY": TEST_SECRET_KEY, "PHOTO_DIR": str(tmp_path / "p")})
    try:
        store = app.extensions["gridwatch_photos"]
        assert isinstance(store, photos.DiskStore) and store.root == tmp_path / "p"
        relative = create_app({"TESTING": True, "DATABASE_URL": database_url,
                               "SECRET_KEY": TEST_SECRET_KEY, "PHOTO_DIR": "pics"})
        assert relative.extensions["gridwatch_photos"].root.parts[-2:] == (
            "instance", "pics")
        relative.extensions["gridwatch.engine"].dispose()
    finally:
        app.extensions["gridwatch.engine"].dispose()


# --- the API ---------------------------------------------------------------------------------

@pytest.fixture
def store(app, tmp_path):
    """The app's store replaced by one in a temporary folder (any store with the interface
    may replace it)."""
    s = photos.DiskStore(tmp_path / "photos")
    app.extensions["gridwatch_photos"] = s
    return s


def _stored_files(store) -> list:
    return sorted(p for p in store.root.rglob("*") if p.is_file()) if store.root.exists() else []


def add_inspection(session, enterprise="E1", day=dt.date(2026, 11, 20), **columns) -> int:
    """An inspection written directly (by c1-inspector's person unless told otherwise)."""
    if "inspector_id" not in columns:
        columns["inspector_id"] = session.execute(text(
            "SELECT person_id FROM app_user WHERE username = 'c1-inspector'")).scalar()
    values = {"results": {"Q01": "pass", "Q02": "fail"}, "problems_found": 1,
              "rectification_status": "open", **columns}
    cols = ", ".join(values)
    params = ", ".join(f"CAST(:{c} AS jsonb)" if c in ("results", "notes") else f":{c}"
                       for c in values)
    return session.execute(text(f"""
        INSERT INTO inspection (enterprise_id, inspected_on, {cols})
        SELECT id, :day, {params} FROM enterprise WHERE management_code = :e
        RETURNING id"""), {"e": enterprise, "day": day, **{
            k: json.dumps(v) if isinstance(v, dict) else v for k, v in values.items()}}).scalar()


def add_rectification(session, inspection_id: int, item="Q02", deadline=dt.date(2026, 12, 20),
                      **columns) -> int:
    values = {"status": "open", **columns}
    cols = "".join(f", {c}" for c in values)
    params = "".join(f", :{c}" for c in values)
    return session.execute(text(f"""
        INSERT INTO rectification (enterprise_id, inspection_id, item_code, problem,
                                   deadline{cols})
        SELECT enterprise_id, id, :item, '灭火器过期', :deadline{params} FROM inspection
        WHERE id = :i RETURNING id"""), {"i": inspection_id, "item": item,
                                         "deadline": deadline, **values}).scalar()


@pytest.fixture
def world(session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    return session


def _upload(*files):
    return {"file": [(io.BytesIO(data), name) for data, name in files]}


def _post(client, url, *files, lang=None):
    return client.post(url, data=_upload(*files), content_type="multipart/form-data",
                       query_string={"lang": lang} if lang else None)


def _photo_count(session) -> int:
    return session.execute(text("SELECT count(*) FROM photo")).scalar()


def _audits(session, action="photo_added") -> list:
    return session.execute(text("""
        SELECT username, target, detail FROM audit_log WHERE action = :a ORDER BY id"""),
        {"a": action}).all()


def test_an_inspector_adds_photos_with_their_distance_from_the_enterprise(
        client, world, store):
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    near, far = jpeg(at=NEAR), jpeg(colour=(1, 2, 3), at=FAR)
    response = _post(client, f"/api/v1/inspections/{inspection}/photos",
                     (near, "near.jpg"), (far, "far.jpg"), (png(), "plan.png"),
                     (webp(), "gate.webp"))
    assert response.status_code == 201, response.get_data(as_text=True)
    added = response.get_json()["photos"]
    assert [p["media_type"] for p in added] == ["image/jpeg", "image/jpeg", "image/png",
                                                "image/webp"]
    assert added[0]["exif_location"] == pytest.approx({"lon": NEAR[0], "lat": NEAR[1]})
    assert added[0]["distance_m"] < 30 and added[0]["far_from_site"] is False
    assert 1000 < added[1]["distance_m"] < 1200 and added[1]["far_from_site"] is True
    assert added[2]["exif_location"] is None and added[2]["distance_m"] is None
    assert added[2]["far_from_site"] is None
    assert added[0]["sha256"] == hashlib.sha256(near).hexdigest()
    assert added[0]["size"] == len(near) and added[0]["url"] == f"/api/v1/photos/{added[0]['id']}"
    rows = world.execute(text("""
        SELECT file_name, username, inspection_id, ST_X(exif_location) AS lon FROM photo
        ORDER BY id""")).all()
    assert [(r.file_name, r.username, r.inspection_id) for r in rows] == [
        (n, "c1-inspector", inspection) for n in ("near.jpg", "far.jpg", "plan.png",
                                                   "gate.webp")]
    assert len(_stored_files(store)) == 4
    audits = _audits(world)
    assert [(a.username, a.target) for a in audits] == [
        ("c1-inspector", f"inspection {inspection}")] * 4
    assert audits[1].detail["photo"] == added[1]["id"]
    assert audits[1].detail["far_from_site"] is True
    assert audits[1].detail["file_name"] == "far.jpg"


def test_the_far_threshold_is_the_setting(app, client, world, store):
    app.config["FAR_FROM_SITE_METRES"] = 5
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    [photo] = _post(client, f"/api/v1/inspections/{inspection}/photos",
                    (jpeg(at=NEAR), "near.jpg")).get_json()["photos"]
    assert photo["far_from_site"] is True


def test_the_same_content_twice_is_one_file(client, world, store):
    first, second = add_inspection(world), add_inspection(world, day=dt.date(2026, 11, 21))
    login(client, "c1-inspector")
    data = jpeg(at=NEAR)
    a = _post(client, f"/api/v1/inspections/{first}/photos", (data, "a.jpg")).get_json()
    b = _post(client, f"/api/v1/inspections/{second}/photos", (data, "b.jpg")).get_json()
    assert a["photos"][0]["sha256"] == b["photos"][0]["sha256"]
    assert a["photos"][0]["id"] != b["photos"][0]["id"]
    assert len(_stored_files(store)) == 1
    # The phone resending the same photo of the same inspection: the photo it has already.
    again = _post(client, f"/api/v1/inspections/{first}/photos", (data, "a.jpg"))
    assert again.status_code == 201
    assert again.get_json()["photos"][0]["id"] == a["photos"][0]["id"]
    assert _photo_count(world) == 2 and len(_audits(world)) == 2


def test_a_text_file_named_jpg_is_refused_415_naming_it(client, world, store):
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    response = _post(client, f"/api/v1/inspections/{inspection}/photos",
                     (jpeg(), "good.jpg"), (b"this is not a photo\n", "notes.jpg"),
                     lang="zh_Hans_CN")
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert "notes.jpg" in error["message"] and CJK.search(error["message"])
    assert error["field"] == "file"
    # Nothing written: not the good photo before it either.
    assert _photo_count(world) == 0 and _stored_files(store) == [] and _audits(world) == []
    response = _post(client, f"/api/v1/inspections/{inspection}/photos",
                     (b"\xff\xd8\xff\xe0 broken", "broken.jpg"), lang="en")
    assert response.status_code == 415
    assert "broken.jpg" in response.get_json()["error"]["message"]


def test_a_file_too_large_is_refused_413_naming_it(app, client, world, store):
    app.config["PHOTO_MAX_BYTES"] = 5000
    big = noise_jpeg()
    assert len(big) > 5000
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    response = _post(client, f"/api/v1/inspections/{inspection}/photos",
                     (big, "门头照片.jpg"), lang="zh_Hans_CN")
    assert response.status_code == 413
    message = response.get_json()["error"]["message"]
    assert "门头照片.jpg" in message and CJK.search(message)
    english = _post(client, f"/api/v1/inspections/{inspection}/photos", (big, "gate.jpg"),
                    lang="en").get_json()["error"]["message"]
    assert "gate.jpg" in english and "MB" in english
    bomb = _post(client, f"/api/v1/inspections/{inspection}/photos",
                 (png_declaring(9000, 9000), "bomb.png"), lang="en")
    assert bomb.status_code == 413 and "bomb.png" in bomb.get_json()["error"]["message"]
    assert _photo_count(world) == 0 and _stored_files(store) == []


def test_no_file_or_an_unknown_field_is_a_400(client, world, store):
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    url = f"/api/v1/inspections/{inspection}/photos"
    response = client.post(url, data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "file"
    response = client.post(url, data={"photo": (io.BytesIO(jpeg()), "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "photo"
    assert client.post("/api/v1/inspections/987654/photos", data=_upload((jpeg(), "a.jpg")),
                       content_type="multipart/form-data").status_code == 404


def test_an_inspector_of_another_cell_is_refused_with_nothing_written(client, world, store):
    inspection = add_inspection(world)
    rectification = add_rectification(world, inspection)
    for username in ("c2-inspector", "s1-manager", "city-leader"):
        login(client, username)
        for url in (f"/api/v1/inspections/{inspection}/photos",
                    f"/api/v1/rectifications/{rectification}/photos"):
            response = _post(client, url, (jpeg(at=NEAR), "a.jpg"))
            assert response.status_code == 403, (username, url)
        client.post("/logout")
    assert _photo_count(world) == 0 and _stored_files(store) == [] and _audits(world) == []


def test_a_rectification_gets_photos_from_who_may_record_there(client, world, store):
    inspection = add_inspection(world)
    rectification = add_rectification(world, inspection)
    login(client, "c1-inspector")
    response = _post(client, f"/api/v1/rectifications/{rectification}/photos",
                     (jpeg(at=FAR), "fixed.jpg"))
    assert response.status_code == 201
    [photo] = response.get_json()["photos"]
    assert photo["far_from_site"] is True
    row = world.execute(text("SELECT inspection_id, rectification_id FROM photo")).one()
    assert tuple(row) == (None, rectification)
    [audit] = _audits(world)
    assert audit.target == f"rectification {rectification}"
    assert client.post("/api/v1/rectifications/987654/photos", data=_upload((jpeg(), "a.jpg")),
                       content_type="multipart/form-data").status_code == 404


def test_a_token_adds_photos_without_csrf(app, client, world, store):
    from gis.users import create_token

    app.config["WTF_CSRF_ENABLED"] = True
    inspection = add_inspection(world)
    token = create_token(world, "c1-inspector", "phone")[1]
    response = client.post(f"/api/v1/inspections/{inspection}/photos",
                           data=_upload((jpeg(), "a.jpg")), content_type="multipart/form-data",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.get_data(as_text=True)
    # A session without the CSRF token is refused.
    login(client, "c1-inspector")
    response = client.post(f"/api/v1/inspections/{inspection}/photos",
                           data=_upload((png(), "b.png")), content_type="multipart/form-data")
    assert response.status_code == 400 and _photo_count(world) == 1


def test_a_photo_is_served_only_to_who_may_read_the_enterprise(client, world, store):
    inspection = add_inspection(world)
    data = jpeg(at=NEAR)
    login(client, "c1-inspector")
    [photo] = _post(client, f"/api/v1/inspections/{inspection}/photos",
                    (data, "a.jpg")).get_json()["photos"]
    url = photo["url"]
    response = client.get(url)
    assert response.status_code == 200 and response.data == data
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response.headers["ETag"] == f'"{photo["sha256"]}"'
    again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    client.post("/logout")
    for username, status in (("s1-leader", 200), ("city-leader", 200), ("admin", 200),
                             ("c2-inspector", 403), ("s2-manager", 403)):
        login(client, username)
        assert client.get(url).status_code == status, username
        client.post("/logout")
    assert client.get(url).status_code == 401
    login(client, "admin")
    assert client.get("/api/v1/photos/987654").status_code == 404


def test_a_photo_is_served_with_its_stored_type_whatever_it_was_called(client, world, store):
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    data = png()
    [photo] = _post(client, f"/api/v1/inspections/{inspection}/photos",
                    (data, "looks-like.jpg")).get_json()["photos"]
    assert photo["media_type"] == "image/png"
    response = client.get(photo["url"])
    assert response.mimetype == "image/png" and response.data == data


class MemoryStore:
    """Any store with the interface will do."""

    def __init__(self):
        self.kept = {}

    def put(self, data):
        sha = hashlib.sha256(data).hexdigest()
        self.kept[sha] = data
        return sha

    def open(self, sha256):
        return self.kept[sha256]

    def exists(self, sha256):
        return sha256 in self.kept


def test_another_store_may_replace_the_disk(app, client, world):
    memory = app.extensions["gridwatch_photos"] = MemoryStore()
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    data = webp()
    [photo] = _post(client, f"/api/v1/inspections/{inspection}/photos",
                    (data, "a.webp")).get_json()["photos"]
    assert list(memory.kept.values()) == [data]
    response = client.get(photo["url"])
    assert response.status_code == 200 and response.data == data
    assert response.mimetype == "image/webp"


def test_the_audit_log_names_the_photo(client, world, store):
    inspection = add_inspection(world)
    login(client, "c1-inspector")
    _post(client, f"/api/v1/inspections/{inspection}/photos", (jpeg(at=FAR), "far.jpg"))
    client.post("/logout")
    login(client, "admin")
    html = client.get("/admin/audit", query_string={"lang": "zh_Hans_CN"}).get_data(
        as_text=True)
    assert 'data-action="photo_added"' in html and "far.jpg" in html


def test_a_cut_off_photo_is_refused_even_when_pillow_is_told_to_pad_it(monkeypatch):
    """WeasyPrint (the plates' PDFs) sets Pillow's global LOAD_TRUNCATED_IMAGES, after which
    Pillow decodes half a JPEG without complaint: the check must not depend on it."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = noise_jpeg(64)
    with pytest.raises(photos.PhotoRefused) as exc:
        photos.check(whole[:len(whole) // 2], None)
    assert exc.value.code == "damaged"
    assert photos.check(whole, None)[0] == "image/jpeg"
