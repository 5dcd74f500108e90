"""The double-random draw (双随机一公开): random enterprises, each paired with two random
inspectors, published and re-checkable by anyone.

The generator is NumPy's PCG64 (``numpy.random.Generator(numpy.random.PCG64(seed))``). The
candidates are sorted by management code and the roster by username before anything is drawn,
so the same seed, candidates and roster always give the same pairs: first ``n`` distinct
candidate positions (``choice(..., replace=False)``, then put in code order), then for each
drawn enterprise in that order two distinct positions among the inspectors eligible for it.

回避: an inspector is never paired with an enterprise in a cell they own — the owner of the
enterprise's current cell at the draw time (``gw_cell_owner``, falling back to the parent's
owner as every "who was responsible" answer does), compared with the person the account is.

The record keeps the seed, the filter, the candidates (each with its owner then) and the roster
(each account with its person then), so ``verify`` recomputes the pairs from the record alone.
"""
from __future__ import annotations

import json

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import ValidationError

GENERATOR = "numpy.PCG64"


class NotFound(LookupError):
    def __init__(self, kind: str, name):
        super().__init__(f"{kind} {name}")
        self.kind, self.name = kind, name


def candidates(session: Session, place_id: int, *, industries=None, grades=None,
               specialty=None) -> list[dict]:
    """Enterprises now in the place's subtree matching the filter, by management code, each
    with the person who owns its cell now (None when nobody does)."""
    rows = session.execute(text("""
        WITH RECURSIVE down(id) AS (
            SELECT id FROM cell WHERE id = :place
            UNION
            SELECT c.id FROM cell c JOIN down ON c.parent_id = down.id
        )
        SELECT e.management_code AS code, (gw_cell_owner(ec.cell_id, now())).person_id AS owner
        FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE ec.cell_id IN (SELECT id FROM down)
          AND (CAST(:industries AS text[]) IS NULL OR e.industry = ANY(:industries))
          AND (CAST(:grades AS text[]) IS NULL OR e.grade = ANY(:grades))
          AND (CAST(:specialty AS text) IS NULL OR e.specialty = :specialty)
        ORDER BY e.management_code"""), {
        "place": place_id, "industries": industries or None, "grades": grades or None,
        "specialty": specialty})
    return [{"code": r.code, "owner": r.owner} for r in rows]


def roster(session: Session, place_id: int, usernames: list[str] | None = None) -> list[dict]:
    """The accounts that may be drawn, by username, each with the person it is. Default: the
    active accounts holding the inspector role at a cell in the place's subtree. A username
    that is no account is refused by name."""
    if usernames is not None:
        rows = session.execute(text("""
            SELECT username, person_id FROM app_user WHERE username = ANY(:u)"""),
            {"u": list(usernames)}).all()
        found = {r.username for r in rows}
        for name in usernames:
            if name not in found:
                raise ValidationError("roster", f"there is no user {name}", "no_such_user",
                                      name=name)
    else:
        rows = session.execute(text("""
            WITH RECURSIVE down(id) AS (
                SELECT id FROM cell WHERE id = :place
                UNION
                SELECT c.id FROM cell c JOIN down ON c.parent_id = down.id
            )
            SELECT DISTINCT u.username, u.person_id FROM app_user u
            JOIN user_role r ON r.user_id = u.id
            WHERE u.active AND r.role = 'inspector' AND r.cell_id IN (SELECT id FROM down)"""),
            {"place": place_id}).all()
    return sorted(({"username": r.username, "person": r.person_id} for r in rows),
                  key=lambda r: r["username"])


def pair(seed: int, candidates: list[dict], roster: list[dict], n: int) -> list[dict]:
    """The draw itself, a pure function of its record: ``[{enterprise, inspectors}]``."""
    candidates = sorted(candidates, key=lambda c: c["code"])
    roster = sorted(roster, key=lambda r: r["username"])
    if n > len(candidates):
        raise ValidationError("enterprises", f"{n} asked for; {len(candidates)} enterprises "
                              "match the filter", "too_many_drawn", n=n, count=len(candidates))
    rng = np.random.Generator(np.random.PCG64(seed))
    picked = sorted(int(i) for i in rng.choice(len(candidates), size=n, replace=False))
    pairs = []
    for i in picked:
        enterprise = candidates[i]
        eligible = [r["username"] for r in roster
                    if enterprise["owner"] is None or r["person"] != enterprise["owner"]]
        if len(eligible) < 2:
            raise ValidationError(
                "roster", f"fewer than two inspectors may visit enterprise "
                f"{enterprise['code']} (an inspector does not visit the cells they own)",
                "too_few_inspectors", enterprise=enterprise["code"])
        two = rng.choice(len(eligible), size=2, replace=False)
        pairs.append({"enterprise": enterprise["code"],
                      "inspectors": [eligible[int(j)] for j in two]})
    return pairs


def draw(session: Session, place_code: str, n: int, seed: int, *, usernames=None,
         industries=None, grades=None, specialty=None, username: str | None = None) -> dict:
    """Draw and record it (in the caller's transaction); the answer of ``get``."""
    place_id = session.execute(text(
        "SELECT id FROM cell WHERE code = :c AND retired_at IS NULL"), {"c": place_code}).scalar()
    if place_id is None:
        raise ValidationError("place", f"there is no cell {place_code}", "no_such_cell",
                              cell=place_code)
    cands = candidates(session, place_id, industries=industries, grades=grades,
                       specialty=specialty)
    people = roster(session, place_id, usernames)
    pairs = pair(seed, cands, people, n)
    filter_ = {"place": place_code, "enterprises": n, "industries": industries or None,
               "grades": grades or None, "specialty": specialty}
    draw_id = session.execute(text("""
        INSERT INTO draw (username, seed, generator, filter, enterprises, roster, pairs)
        VALUES (:u, :seed, :gen, CAST(:f AS jsonb), CAST(:e AS jsonb), CAST(:r AS jsonb),
                CAST(:p AS jsonb)) RETURNING id"""), {
        "u": username, "seed": str(seed), "gen": GENERATOR,
        "f": json.dumps(filter_, ensure_ascii=False), "e": json.dumps(cands),
        "r": json.dumps(people), "p": json.dumps(pairs, ensure_ascii=False)}).scalar()
    return {"id": draw_id, "seed": seed, "pairs": pairs}


def load(session: Session, draw_id: int) -> dict:
    row = session.execute(text("""
        SELECT id, drawn_at, username, seed, generator, filter, enterprises, roster, pairs
        FROM draw WHERE id = :i"""), {"i": draw_id}).one_or_none()
    if row is None:
        raise NotFound("draw", draw_id)
    return dict(row._mapping)


def get(session: Session, draw_id: int) -> dict:
    r = load(session, draw_id)
    return {"id": r["id"], "seed": int(r["seed"]), "pairs": r["pairs"]}


def verify(session: Session, draw_id: int) -> bool:
    """Re-run the draw from its record alone; True when it gives the recorded pairs."""
    r = load(session, draw_id)
    try:
        again = pair(int(r["seed"]), r["enterprises"], r["roster"],
                     int(r["filter"]["enterprises"]))
    except (ValidationError, KeyError, TypeError, ValueError):
        return False
    return again == r["pairs"]
