"""Reference data the bureau sets: inspection intervals by supervision grade, and the checklist
(31 items in the pilot city) every inspection is recorded against."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import ValidationError


def set_grade_intervals(session: Session, intervals: dict[str, int]) -> None:
    for grade, days in intervals.items():
        session.execute(text("""
            INSERT INTO grade_interval (grade, interval_days) VALUES (:g, :d)
            ON CONFLICT (grade) DO UPDATE SET interval_days = EXCLUDED.interval_days"""),
            {"g": grade, "d": days})


def grade_intervals(session: Session) -> dict[str, int]:
    return dict(session.execute(text(
        "SELECT grade, interval_days FROM grade_interval ORDER BY grade")).all())


def add_checklist_item(session: Session, code: str, title: str, category: str | None) -> int:
    if session.execute(text("SELECT 1 FROM checklist_item WHERE code = :c"), {"c": code}).scalar():
        raise ValidationError("code", f"checklist item {code!r} exists already", "item_exists",
                              item=code)
    return session.execute(text("""
        INSERT INTO checklist_item (code, title, category, sort_order)
        VALUES (:c, :t, :k, (SELECT coalesce(max(sort_order), 0) + 1 FROM checklist_item))
        RETURNING id"""), {"c": code, "t": title, "k": category}).scalar()


def checklist(session: Session) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text(
        "SELECT code, title, category, active FROM checklist_item ORDER BY sort_order, code"))]
