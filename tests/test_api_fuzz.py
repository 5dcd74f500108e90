"""schemathesis against the live application and a real PostGIS: every operation of the
OpenAPI document (app/openapi.py) in its examples, coverage and fuzzing phases, with a fixed
seed and a bounded number of examples. No answer may be a 5xx, and every answer must match the
document: its status, its media type and its schema (errors in the one ``Error`` shape).

The requests run through the WSGI application as an administrator with an API token, on the
small world of tests/factories.py, in the test's transaction (rolled back at the end).
docs/reliability.md ("API contract and fuzzing") says what it found.
"""
from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from gis import people
from gis.users import create_token
from tests.factories import small_world

UTC = dt.timezone.utc
SEED = 20261130
# Fuzzing examples per operation; the coverage phase adds its boundary cases (about 10-60 per
# operation) and the examples phase one or two. ~75 operations run in about a minute.
MAX_EXAMPLES = 6
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance")


def config(token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        # One worker: every request shares the test's database transaction.
        "workers": 1,
        # Identity: the WSGI client would not unzip the map layers' gzip.
        "headers": {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "no-shrink": True, "mode": "all", "allow-x00": False,
                       "database": "none"},
        "checks": {"enabled": False, **{c: {"enabled": True} for c in CHECKS}},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    })


@pytest.fixture
def api_schema(app, session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC))
    owner = people.create_person(session, {"code": "RY1", "name": "王一"})["id"]
    people.assign(session, people.target(session, "owner", "S1-01"), owner,
                  dt.datetime(2026, 1, 1, tzinfo=UTC))
    token = create_token(session, "admin", "fuzz")[1]
    # Hundreds of reads in a minute: the read limits (tests/test_rate_limit.py) would answer
    # most of them 429, which says nothing about the views behind them.
    from gis.ratelimit import Rate

    app.extensions["gridwatch_read_rates"] = {k: Rate(burst=0, per_minute=0)
                                              for k in app.extensions["gridwatch_read_rates"]}
    return schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", app, config=config(token),
        headers={"Authorization": f"Bearer {token}"})


def run(schema) -> tuple[list[str], dict]:
    """Run schemathesis' engine over every operation; the failures (one line each, with the
    request) and how many cases each phase ran."""
    from schemathesis.engine import Status, events, from_schema

    failures: list[str] = []
    counts: dict[str, int] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            phase = getattr(event.phase, "value", str(event.phase))
            counts[phase] = counts.get(phase, 0) + len(recorder.cases)
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    key = f"{interaction.response.status_code}"
                    counts[key] = counts.get(key, 0) + 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE or check.failure_info is None:
                        continue
                    case = recorder.cases[case_id].value
                    interaction = recorder.interactions.get(case_id)
                    status = interaction.response.status_code if (
                        interaction and interaction.response) else None
                    failures.append(
                        f"{recorder.label} [{phase}] {check.name} -> {status}: "
                        f"{check.failure_info.failure.title}; {case.path_parameters} "
                        f"{case.query} {str(case.body)[:200]}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            failures.append(f"error: {getattr(event, 'label', '')} "
                            f"{getattr(event, 'value', getattr(event, 'exception', ''))!r}")
    return failures, counts


@pytest.mark.slow
def test_api_answers_by_its_contract(api_schema):
    failures, counts = run(api_schema)
    print("schemathesis cases by phase and answers by status:", counts)
    assert counts.get("examples") or counts.get("coverage")
    assert not failures, "\n".join(sorted(set(failures)))
