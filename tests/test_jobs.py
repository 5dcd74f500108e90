"""The background job queue in PostgreSQL (gis/jobs.py): big uploads answer 202 and a real
worker finishes them; failures end "failed" naming the row with nothing written; two workers
never run the same job; a job of a dead worker is picked up again.

Workers need committed rows, which the rolled-back test transaction cannot give them, so these
tests use a database of their own (the test database's name plus ``_jobs``)."""
from __future__ import annotations

import io
import threading
import time

import pytest
from sqlalchemy import text

from gis import jobs
from tests.conftest import TEST_SECRET_KEY, migrated_database

HEADER = "management_code,name,grade,lon,lat\n"


def admin_headers(session, username="job-admin", role="admin", place=None) -> dict:
    """A user with ``role`` and a bearer token for them, in ``session``'s transaction."""
    from gis.users import create_token, create_user

    create_user(session, username, "secret-pass-1", role=role, place=place)
    _id, token = create_token(session, username)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def jobs_url(database_url):
    return migrated_database("_jobs")


@pytest.fixture
def queue_app(jobs_url):
    from app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": jobs_url, "SECRET_KEY": TEST_SECRET_KEY,
                      "WTF_CSRF_ENABLED": False, "IMPORT_BACKGROUND_BYTES": 20,
                      "JOB_POLL_SECONDS": 0.5})
    yield app
    app.extensions["gridwatch.engine"].dispose()


@pytest.fixture
def db(queue_app):
    """Committed work on the jobs database."""
    sessions = queue_app.extensions["gridwatch.sessions"]

    def run(work):
        with sessions() as session:
            result = work(session)
            session.commit()
            return result

    return run


@pytest.fixture
def workers(queue_app):
    started = []

    def start(count=1, **kwargs):
        kwargs.setdefault("poll_seconds", 0.5)
        new = jobs.start_threads(queue_app.extensions["gridwatch.engine"], count, **kwargs)
        started.extend(new)
        return new

    yield start
    for w in started:
        w.stop.set()
    time.sleep(0.6)


def unique(prefix: str) -> str:
    return f"{prefix}{time.time_ns() % 10**9}"


def wait_for(client, url, headers, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url, headers=headers).get_json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"job not finished: {body}")


def test_big_upload_is_queued_and_a_worker_imports_it_as_the_user(queue_app, db, workers):
    user = unique("imp")
    headers = db(lambda s: admin_headers(s, user))
    code = unique("JQ")
    data = (HEADER + f"{code}-1,甲,B,116.03,38.46\n{code}-2,乙,C,116.04,38.46\n").encode()
    client = queue_app.test_client()
    response = client.post("/api/v1/imports/enterprises", headers=headers,
                           data={"file": (io.BytesIO(data), "big.csv")})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and body["status_url"] == f"/api/v1/jobs/{body['job']}"
    workers(1)
    done = wait_for(client, body["status_url"], headers)
    assert done["status"] == "done", done
    assert done["result"]["inserted"] == 2
    assert db(lambda s: s.execute(text(
        "SELECT count(*) FROM enterprise WHERE management_code LIKE :c"),
        {"c": f"{code}-%"}).scalar()) == 2
    audit = db(lambda s: s.execute(text(
        "SELECT username, via, detail->>'job' FROM audit_log "
        "WHERE action = 'enterprises_imported' AND username = :u"), {"u": user}).all())
    assert audit == [(user, "api", str(body["job"]))]
    # Done jobs do not keep the uploaded file.
    assert db(lambda s: s.execute(text("SELECT file IS NULL FROM job WHERE id = :i"),
                                  {"i": body["job"]}).scalar())


def test_failing_file_ends_failed_naming_the_row_and_writes_nothing(queue_app, db, workers):
    headers = db(lambda s: admin_headers(s, unique("imp")))
    code = unique("JF")
    data = (HEADER + f"{code}-8,甲,B,116.03,38.46\n{code}-9,乙,Z,116.03,38.46\n").encode("gbk")
    client = queue_app.test_client()
    body = client.post("/api/v1/imports/enterprises", headers=headers,
                       data={"file": (io.BytesIO(data), "bad.csv")}).get_json()
    workers(1)
    failed = wait_for(client, body["status_url"], headers)
    assert failed["status"] == "failed"
    assert f"row 3 ({code}-9)" in failed["error"] and "grade 'Z'" in failed["error"]
    assert db(lambda s: s.execute(text(
        "SELECT count(*) FROM enterprise WHERE management_code LIKE :c"),
        {"c": f"{code}-%"}).scalar()) == 0


def test_a_refused_file_says_why_in_the_readers_language(queue_app, db, workers):
    headers = db(lambda s: admin_headers(s, unique("imp")))
    wide = (",".join(f"c{i}" for i in range(300)) + "\n").encode()
    client = queue_app.test_client()
    body = client.post("/api/v1/imports/enterprises", headers=headers,
                       data={"file": (io.BytesIO(wide), "wide.csv")}).get_json()
    workers(1)
    failed = wait_for(client, body["status_url"] + "?lang=zh_Hans_CN", headers)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("第 1 行：") and "300" in failed["error"]


def test_a_job_is_shown_to_who_queued_it_and_admins_only(queue_app, db):
    owner = unique("own")
    owner_headers = db(lambda s: admin_headers(s, owner))
    other_admin = db(lambda s: admin_headers(s, unique("adm")))
    stranger = unique("ldr")

    def leader(s):
        s.execute(text("INSERT INTO cell (code, name, level) VALUES (:c, 'city', 1) "
                       "ON CONFLICT DO NOTHING"), {"c": "JOBCITY"})
        return admin_headers(s, stranger, role="leader", place="JOBCITY")

    stranger_headers = db(leader)
    client = queue_app.test_client()
    data = (HEADER + "X,甲,B,116.03,38.46\n" * 10).encode()
    url = client.post("/api/v1/imports/enterprises", headers=owner_headers,
                      data={"file": (io.BytesIO(data), "e.csv")}).get_json()["status_url"]
    assert client.get(url, headers=owner_headers).status_code == 200
    assert client.get(url, headers=other_admin).status_code == 200
    assert client.get(url, headers=stranger_headers).status_code == 404
    assert client.get(url).status_code == 401


def _enqueue_many(db, n, kind="enterprise_import"):
    def work(s):
        return [jobs.enqueue(s, kind, {"kind": "csv"}, file=(HEADER).encode(),
                             file_name=f"{i}.csv", username="t") for i in range(n)]
    return db(work)


def test_two_workers_never_run_the_same_job(queue_app, db, workers, monkeypatch):
    runs: list[tuple[int, str]] = []
    lock = threading.Lock()

    def slow(session, job, context):
        with lock:
            runs.append((job["id"], threading.current_thread().name))
        time.sleep(0.05)
        return {"ok": True}

    monkeypatch.setitem(jobs.RUNNERS, "test_slow", slow)
    ids = _enqueue_many(db, 24, kind="test_slow")
    workers(4)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = db(lambda s: s.execute(text(
            "SELECT status, count(*) FROM job WHERE id = ANY(:i) GROUP BY status"),
            {"i": ids}).all())
        if statuses == [("done", 24)]:
            break
        time.sleep(0.1)
    assert statuses == [("done", 24)]
    ran = [job_id for job_id, _thread in runs]
    assert sorted(ran) == sorted(ids)  # each exactly once
    assert len({thread for _id, thread in runs}) > 1  # and the work was shared
    assert db(lambda s: s.execute(text(
        "SELECT max(attempts) FROM job WHERE id = ANY(:i)"), {"i": ids}).scalar()) == 1


def test_a_job_held_by_a_live_worker_is_not_claimed_but_one_of_a_dead_worker_is(queue_app, db):
    engine = queue_app.extensions["gridwatch.engine"]
    db(lambda s: s.execute(text("UPDATE job SET status = 'done' WHERE status <> 'done'")))
    [job_id] = _enqueue_many(db, 1)
    first = jobs.Worker(engine, name="first")
    assert first.claim() == (job_id, 1)
    second = jobs.Worker(engine, name="second")
    assert second.claim() is None  # "running", and its worker alive
    first.close()  # the worker dies: its connection, and so its lock, are gone
    assert second.run_once() == job_id
    job = db(lambda s: jobs.get(s, job_id))
    assert (job["status"], job["attempts"], job["worker"]) == ("done", 2, "second")
    # A late finish by the first worker cannot overwrite what the second recorded.
    assert first.execute(job_id, 1) == "lost"
    second.close()


def test_a_job_whose_workers_keep_dying_is_failed(queue_app, db):
    engine = queue_app.extensions["gridwatch.engine"]
    db(lambda s: s.execute(text("UPDATE job SET status = 'done' WHERE status <> 'done'")))
    [job_id] = _enqueue_many(db, 1)
    for i in range(2):
        dying = jobs.Worker(engine, name=f"dying-{i}", max_attempts=2)
        assert dying.claim() == (job_id, i + 1)
        dying.close()
    last = jobs.Worker(engine, max_attempts=2)
    assert last.claim() is None
    last.close()
    job = db(lambda s: jobs.get(s, job_id))
    assert job["status"] == "failed" and "gave up after 2 attempts" in job["error"]


def test_cli_jobs_work_once_and_list(queue_app, db):
    db(lambda s: s.execute(text("UPDATE job SET status = 'done' WHERE status <> 'done'")))
    [job_id] = _enqueue_many(db, 1)
    runner = queue_app.test_cli_runner()
    result = runner.invoke(args=["jobs", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert f"job {job_id}: done" in result.output
    listed = runner.invoke(args=["jobs", "list", "--limit", "5"])
    assert listed.exit_code == 0
    assert listed.output.startswith(f"{job_id}\tenterprise_import\tdone\tt\t0.csv\t")


def test_worker_wakes_on_notify_without_waiting_for_the_poll(queue_app, db, workers):
    db(lambda s: s.execute(text("UPDATE job SET status = 'done' WHERE status <> 'done'")))
    workers(1, poll_seconds=60)
    time.sleep(0.3)  # the worker is now waiting on LISTEN
    started = time.monotonic()
    [job_id] = _enqueue_many(db, 1)
    while db(lambda s: jobs.get(s, job_id))["status"] != "done":
        assert time.monotonic() - started < 10
        time.sleep(0.05)
