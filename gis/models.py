"""The GridWatch data model (PostGIS, SRID 4326, lon/lat).

Dated history is the rule: boundaries (`CellVersion`), responsibilities (`Responsibility`) and
assignments of enterprises to cells (`EnterpriseCell`) carry a validity period
``[valid_from, valid_to)``; ``valid_to`` NULL means "still valid". A generated ``tstzrange``
column plus an exclusion constraint guarantees that two periods of the same thing never overlap,
so "what was true on date D" always has at most one answer. Rows are closed, never rewritten.

Enterprise assignment is maintained by the database itself (statement-level triggers defined in
the migration ``0002_assignment``): inserting or moving an enterprise, or adding/closing a cell
version, reassigns exactly the enterprises concerned. See ``gis/assign.py`` for the rule.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gis.codes import CELL_CODE, MANAGEMENT_CODE, PERSON_CODE

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

GRADES = ("A", "B", "C", "D")
# Product testing programmes (SpotCheck.kind): 监督抽查 and 定期监督检验, never pooled.
TESTING_KINDS = ("spot_check", "periodic")
KINDS = ("territorial", "professional")
SPECIALTIES = ("food", "special_equipment", "metrology")
RESPONSIBILITY_KINDS = ("enterprise", "department", "government")
# The roles a responsibility row can play; the three responsibilities of the pilot city map onto
# them: enterprise = principal, department = owner / station_chief, government = township_leader.
RESPONSIBILITY_ROLES = ("owner", "station_chief", "township_leader", "principal")

VALID_RANGE = "tstzrange(valid_from, valid_to, '[)')"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Dated:
    """Mixin: a validity period [valid_from, valid_to) with its range column for constraints."""

    valid_from: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    valid_to: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    valid: Mapped[Any] = mapped_column(TSTZRANGE, Computed(VALID_RANGE, persisted=True))


class Person(Base):
    """Someone who answers for something (the roster, gis/people.py): a cell's owner, a station
    chief, a township leader, an enterprise's principal. ``code`` (人员编号) is the bureau's own
    number for them: imports match on it, so re-importing a roster changes nothing. A person
    is never deleted (answers about the past name them); one who left has ``active_to``."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # Where they work: a station, a township government, a department of the bureau, or the
    # enterprise whose principal they are.
    unit: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    office_phone: Mapped[str | None] = mapped_column(String(40))
    active_from: Mapped[dt.date | None] = mapped_column(Date)
    active_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        # Person codes go into URLs and files like cell codes (gis/codes.py): the same alphabet.
        CheckConstraint(f"code ~ '^{PERSON_CODE}$'", name="code_format"),
        CheckConstraint("active_to IS NULL OR active_from IS NULL OR active_to >= active_from",
                        name="active_period"),
    )


class Township(Base):
    __tablename__ = "township"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)

    __table_args__ = (CheckConstraint("code ~ '^[0-9]{12}$'", name="code_12_digits"),)


class Village(Base):
    __tablename__ = "village"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    township_id: Mapped[int] = mapped_column(ForeignKey("township.id"), nullable=False, index=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)

    township: Mapped[Township] = relationship()

    __table_args__ = (CheckConstraint("code ~ '^[0-9]{12}$'", name="code_12_digits"),)


class Station(Base):
    """A quality supervision station (质量监督所): owns one second-level territorial grid."""

    __tablename__ = "station"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(200))


class Cell(Base):
    """A unit of the supervision grid. Its identity is stable; its boundary lives in versions.

    A code is never reused: a retired cell keeps its row (``retired_at``) and its history.
    """

    __tablename__ = "cell"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    level: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="territorial")
    specialty: Mapped[str | None] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cell.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    parent: Mapped[Cell | None] = relationship(remote_side=[id])
    station: Mapped[Station | None] = relationship()

    __table_args__ = (
        # gis/codes.py: codes are shown and linked everywhere, so only a safe alphabet.
        CheckConstraint(f"code ~ '^{CELL_CODE}$'", name="code_format"),
        # Level 0 is the optional province above several cities (docs/province.md); a
        # deployment of one city has none, and its city is the root.
        CheckConstraint("level BETWEEN 0 AND 3", name="level_0_to_3"),
        CheckConstraint(f"kind IN {_in(KINDS)}", name="kind_known"),
        CheckConstraint(
            f"specialty IS NULL OR specialty IN {_in(SPECIALTIES)}", name="specialty_known"
        ),
        # Professional grids exist per specialty; a territorial cell has none.
        CheckConstraint(
            "(kind = 'professional') = (specialty IS NOT NULL) OR level <= 1",
            name="specialty_iff_professional",
        ),
        CheckConstraint("level = 0 AND kind = 'territorial' AND parent_id IS NULL "
                        "OR level = 1 OR level > 1 AND parent_id IS NOT NULL",
                        name="parent_unless_root"),
        # One province: a deployment is one tree.
        Index("uq_cell_one_province", text("(true)"), unique=True,
              postgresql_where=text("level = 0 AND retired_at IS NULL")),
    )


class GridChange(Base):
    """One committed redraw: who, when, why, from when on; versions point back at it.
    A revert is a new change (``reverts`` names the one it undoes), never a deletion."""

    __tablename__ = "grid_change"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(String(32))
    reverts: Mapped[int | None] = mapped_column(ForeignKey("grid_change.id"))
    summary: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))

    __table_args__ = (CheckConstraint("length(trim(comment)) > 0", name="comment_required"),)


class CellVersion(Dated, Base):
    """One boundary of one cell over one period. Redrawing closes a version and adds another."""

    __tablename__ = "cell_version"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cell.id"), nullable=False, index=True)
    change_id: Mapped[int | None] = mapped_column(ForeignKey("grid_change.id"), index=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    cell: Mapped[Cell] = relationship()

    __table_args__ = (
        ExcludeConstraint(
            ("cell_id", "="), ("valid", "&&"), using="gist", name="cell_version_no_overlap"
        ),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period_not_empty"),
    )


class CellPiece(Dated, Base):
    """A boundary version cut into small pieces (``gw_cell_pieces``, gis/sql/assignment.sql),
    written by the database when the version is added and closed with it. The assignment and
    the lookup probe these instead of whole outlines of thousands of vertices; what they
    cannot settle from a piece they decide from the version itself (docs/assignment.md)."""

    __tablename__ = "cell_piece"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("cell_version.id", ondelete="CASCADE"), nullable=False, index=True
    )
    cell_id: Mapped[int] = mapped_column(ForeignKey("cell.id"), nullable=False)
    geom = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=True), nullable=False)


class Handover(Base):
    """One handover (交接): everything a person answered for at ``valid_from`` passed to
    another person from then on, in one action, with a comment. ``summary`` keeps what moved
    and the responsibility plates (明示牌) that named the old person, to be reprinted."""

    __tablename__ = "handover"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    from_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False,
                                                index=True)
    to_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False,
                                              index=True)
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    username: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        CheckConstraint("length(trim(comment)) > 0", name="comment_required"),
        CheckConstraint("from_person_id <> to_person_id", name="two_people"),
    )


class Responsibility(Dated, Base):
    """Who answers for a cell, an enterprise or a township, in which of the three
    responsibilities (enterprise / department / government), over which period."""

    __tablename__ = "responsibility"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cell.id"), index=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("township.id"), index=True)

    # Why it was assigned (a handover's comment), who assigned it and when; a handover's rows
    # point back at it.
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    handover_id: Mapped[int | None] = mapped_column(ForeignKey("handover.id"), index=True)

    person: Mapped[Person] = relationship()

    __table_args__ = (
        CheckConstraint(f"kind IN {_in(RESPONSIBILITY_KINDS)}", name="kind_known"),
        CheckConstraint(f"role IN {_in(RESPONSIBILITY_ROLES)}", name="role_known"),
        CheckConstraint(
            "num_nonnulls(cell_id, enterprise_id, township_id) = 1", name="exactly_one_target"
        ),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period_not_empty"),
        # One holder of a role per place at a time: "who was responsible then" has one answer.
        ExcludeConstraint(
            (text("coalesce(cell_id, 0)"), "="),
            (text("coalesce(enterprise_id, 0)"), "="),
            (text("coalesce(township_id, 0)"), "="),
            ("role", "="),
            ("valid", "&&"),
            using="gist",
            name="responsibility_one_holder",
        ),
    )


class Enterprise(Base):
    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    management_code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    industry: Mapped[str | None] = mapped_column(String(100))
    specialty: Mapped[str | None] = mapped_column(String(32))
    grade: Mapped[str] = mapped_column(String(1), nullable=False)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    products: Mapped[str | None] = mapped_column(Text)
    staff_count: Mapped[int | None] = mapped_column(Integer)
    key_equipment: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    # The CRS the point arrived in ("EPSG:4326", "gcj02", ...): GCJ-02 input is converted on
    # import, and knowing it was converted explains small offsets users may notice.
    source_crs: Mapped[str] = mapped_column(String(32), nullable=False, server_default="EPSG:4326")
    extra: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    # When the enterprise came under supervision: its first assignment starts here.
    valid_from: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(f"management_code ~ '^{MANAGEMENT_CODE}$'", name="code_format"),
        CheckConstraint(f"grade IN {_in(GRADES)}", name="grade_a_to_d"),
        CheckConstraint(
            f"specialty IS NULL OR specialty IN {_in(SPECIALTIES)}", name="specialty_known"
        ),
        CheckConstraint("staff_count IS NULL OR staff_count >= 0", name="staff_not_negative"),
    )


class EnterpriseGrade(Dated, Base):
    """An enterprise's supervision grade over one period. The grade sets how often it is
    inspected, so "which grade did it have on date D" (why a visit was due then) must stay
    answerable; ``Enterprise.grade`` is the current one, and the enterprise upsert
    (gis/enterprises.py) closes and opens these rows when it changes."""

    __tablename__ = "enterprise_grade"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Checked by a statement-level trigger, as are the periods never overlapping
    # (gis/sql/grades.sql): a foreign key and a GiST exclusion constraint checked each row and
    # were most of the time of importing 100,000 enterprises (bench/enterprise_import.py).
    enterprise_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    grade: Mapped[str] = mapped_column(String(1), nullable=False)
    # Why it was graded so (评级依据): an annual review, a failed spot check, a case...
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"grade IN {_in(GRADES)}", name="grade_a_to_d"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period_not_empty"),
        Index("ix_enterprise_grade_current", "enterprise_id", unique=True,
              postgresql_where=text("valid_to IS NULL")),
        Index("ix_enterprise_grade_enterprise_id_valid_from", "enterprise_id", "valid_from"),
    )


class EnterpriseProduct(Base):
    """A product an enterprise makes or sells (主要产品), with the standard it is made to
    (执行标准) and its production licence number when it needs one (生产许可证). The import's
    ``products`` column stays the enterprise's own one-line summary."""

    __tablename__ = "enterprise_product"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprise.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    standard: Mapped[str | None] = mapped_column(String(100))
    licence: Mapped[str | None] = mapped_column(String(60))


class EnterpriseStaff(Base):
    """Someone at an enterprise the bureau deals with (legal representative, quality manager,
    inspectors, special-equipment operators), with the certificate the post needs."""

    __tablename__ = "enterprise_staff"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprise.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[str] = mapped_column(String(100), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(40))
    certificate: Mapped[str | None] = mapped_column(String(100))


class EnterpriseEquipment(Base):
    """Key equipment (关键设备): production and testing equipment, and special equipment in
    use with its registration number (使用登记证编号) and when its next periodic inspection or
    calibration is due (下次检验日期)."""

    __tablename__ = "enterprise_equipment"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprise.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    model: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    registration: Mapped[str | None] = mapped_column(String(60))
    next_due: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class EnterpriseCell(Dated, Base):
    """Which deepest territorial cell an enterprise belonged to, over which period.

    ``cell_id`` NULL records that the enterprise lay outside every cell then: such enterprises are
    listed, never silently dropped. ``on_edge`` records that several cells of the chosen level
    covered the point and the tie-break rule (lowest cell code) decided.
    """

    __tablename__ = "enterprise_cell"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # References without foreign keys: statement-level triggers check them once per
    # statement, not once per row (gis/sql/assignment.sql, gw_enterprise_cell_references).
    enterprise_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cell_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    on_edge: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))

    # One answer per enterprise at any moment: the open row is unique (the index below) and
    # gw_assign, the only writer, takes one lock for all writers (docs/assignment.md, "One
    # answer at a time"; tests/test_assign_concurrency.py). A GiST exclusion constraint said
    # the same and cost most of a full assignment's time.
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period_not_empty"),
        Index("ix_enterprise_cell_current", "enterprise_id", unique=True,
              postgresql_where=text("valid_to IS NULL")),
        Index("ix_enterprise_cell_enterprise_id_valid_from", "enterprise_id", "valid_from"),
    )


class GradeInterval(Base):
    """Reference data: the longest allowed gap between inspections, per grade (A = lowest risk)."""

    __tablename__ = "grade_interval"

    grade: Mapped[str] = mapped_column(String(1), primary_key=True)
    interval_days: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        CheckConstraint(f"grade IN {_in(GRADES)}", name="grade_a_to_d"),
        CheckConstraint("interval_days > 0", name="interval_positive"),
    )


class ChecklistItem(Base):
    __tablename__ = "checklist_item"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str | None] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))


class Inspection(Base):
    __tablename__ = "inspection"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprise.id"), nullable=False, index=True
    )
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    inspected_on: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    # {checklist item code: "pass" | "fail" | "n/a"}
    results: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    problems_found: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    problems: Mapped[str | None] = mapped_column(Text)
    rectification_deadline: Mapped[dt.date | None] = mapped_column(Date)
    rectification_status: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default="none"
    )
    rectified_on: Mapped[dt.date | None] = mapped_column(Date)
    # Sent by the phone (a UUID it made before queueing): a resend is the same inspection.
    client_id: Mapped[Any] = mapped_column(UUID(as_uuid=True), unique=True, nullable=True)
    second_inspector_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    recorded_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    username: Mapped[str | None] = mapped_column(String(64))
    # {checklist item code: note}
    notes: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    # Where the device stood, in WGS 84 whatever it sent (location_crs says what that was).
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    location_crs: Mapped[str | None] = mapped_column(String(8))
    distance_m: Mapped[float | None] = mapped_column(Float)
    far_from_site: Mapped[bool | None] = mapped_column(Boolean)
    # The number the bureau's previous system gave it: importing that history again changes
    # nothing.
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (
        CheckConstraint(
            "rectification_status IN ('none', 'open', 'done')", name="rectification_status_known"
        ),
        CheckConstraint("problems_found >= 0", name="problems_not_negative"),
        CheckConstraint("location_crs IN ('wgs84', 'gcj02')", name="location_crs_known"),
        CheckConstraint("second_inspector_id IS NULL OR second_inspector_id <> inspector_id",
                        name="two_different_inspectors"),
    )


RECTIFICATION_STATUSES = ("open", "rectified", "verified")
RECTIFICATION_STEPS = ("opened", "rectified", "verified", "rejected")


class Rectification(Base):
    """A problem to be corrected by a deadline (整改): one per failed checklist item of an
    inspection, or one per failed batch of product testing. open → rectified (by whoever
    corrected it, with a note and photos) → verified (by someone else), or back to open when
    the verifier rejects it. ``status`` and the step columns say where it is now; every step,
    rejections included, is a row of ``rectification_step``."""

    __tablename__ = "rectification"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprise.id"), nullable=False, index=True
    )
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspection.id"), index=True)
    spot_check_id: Mapped[int | None] = mapped_column(ForeignKey("spot_check.id"), index=True)
    item_code: Mapped[str | None] = mapped_column(String(16))
    problem: Mapped[str] = mapped_column(Text, nullable=False)
    deadline: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="open")
    opened_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    rectified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rectified_by: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(f"status IN {_in(RECTIFICATION_STATUSES)}", name="status_known"),
        CheckConstraint("num_nonnulls(inspection_id, spot_check_id) = 1", name="one_source"),
        CheckConstraint("verified_by IS NULL OR verified_by IS DISTINCT FROM rectified_by",
                        name="verifier_not_rectifier"),
    )


class RectificationStep(Base):
    __tablename__ = "rectification_step"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rectification_id: Mapped[int] = mapped_column(
        ForeignKey("rectification.id"), nullable=False, index=True
    )
    step: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    username: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"step IN {_in(RECTIFICATION_STEPS)}", name="step_known"),
    )


class Photo(Base):
    """A photo of an inspection or of a rectification, stored by content hash (gis/photos.py);
    the EXIF location, when the camera wrote one, is compared with the enterprise."""

    __tablename__ = "photo"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspection.id"), index=True)
    rectification_id: Mapped[int | None] = mapped_column(
        ForeignKey("rectification.id"), index=True
    )
    # A complaint's photo, sent with it from the public page (gis/complaints.py).
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    media_type: Mapped[str] = mapped_column(String(16), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    file_name: Mapped[str | None] = mapped_column(String(200))
    uploaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    username: Mapped[str | None] = mapped_column(String(64))
    exif_location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    distance_m: Mapped[float | None] = mapped_column(Float)
    far_from_site: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        CheckConstraint("num_nonnulls(inspection_id, rectification_id, complaint_id) = 1",
                        name="one_owner"),
        CheckConstraint("media_type IN ('image/jpeg', 'image/png', 'image/webp')",
                        name="media_type_known"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    )


COMPLAINT_STATUSES = ("received", "assigned", "handled", "closed")
# Complaint has a column named ``text``, which hides the function inside its class body.
_FALSE = text("false")
_EMPTY_OBJECT = text("'{}'::jsonb")
COMPLAINT_SOURCES = ("hotline", "open311", "public", "import", "staff")


class ComplaintService(Base):
    """What a complaint is about, as Open311 lists its services (GET /open311/v2/services):
    reference data an admin edits. ``response_hours`` sets a complaint's due time;
    ``specialty`` names the professional grid that answers for it too."""

    __tablename__ = "complaint_service"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    group_name: Mapped[str | None] = mapped_column(String(100))
    specialty: Mapped[str | None] = mapped_column(String(32))
    response_hours: Mapped[int] = mapped_column(Integer, nullable=False, server_default="72")
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Open311 attribute definitions (GET /open311/v2/services/<code>): what else a complaint
    # of this service may say, e.g. the enterprise complained about. Empty: none.
    attributes: Mapped[list] = mapped_column(JSONB, nullable=False,
                                             server_default=text("'[]'::jsonb"))

    __table_args__ = (
        CheckConstraint("response_hours > 0", name="response_positive"),
        CheckConstraint(f"specialty IS NULL OR specialty IN {_in(SPECIALTIES)}",
                        name="specialty_known"),
    )


class Complaint(Base):
    """A 12365 hotline complaint with a location. Stamped on arrival with the cell, the
    boundary version and the owner answering for its spot then, and its due time; they stay
    when boundaries or owners change later. A spot outside every cell goes to the city,
    flagged ``outside_grid``."""

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, index=True
    )
    # None when the complaint named no place we could find (location_source None).
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="open")
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cell.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    service_code: Mapped[str | None] = mapped_column(ForeignKey("complaint_service.code"))
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="hotline")
    # The hotline's own number: importing its export again changes nothing.
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    cell_version_id: Mapped[int | None] = mapped_column(ForeignKey("cell_version.id"))
    # Who handles it now (the owner at arrival unless reassigned).
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    outside_grid: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=_FALSE)
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=_FALSE)
    address: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    media_url: Mapped[str | None] = mapped_column(Text)
    status_notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The public reference is "<number>-<check_code>": the status page needs both, so numbers
    # given out one after another do not open each other's pages.
    check_code: Mapped[str | None] = mapped_column(String(8))
    # The cell whose owner handles it now: the arrival's cell until a reassignment.
    assigned_cell_id: Mapped[int | None] = mapped_column(ForeignKey("cell.id"), index=True)
    # Open311 attribute values as sent ({"enterprise": "...", "equipment": "elevator"}).
    attributes: Mapped[dict] = mapped_column(JSONB, nullable=False,
                                             server_default=_EMPTY_OBJECT)
    # Where the point came from: "point" (given), "enterprise" (the enterprise named),
    # "address" (the address is an enterprise's); None: no point at all.
    location_source: Mapped[str | None] = mapped_column(String(16), server_default="point")

    __table_args__ = (
        CheckConstraint(f"status IN {_in(COMPLAINT_STATUSES)}", name="status_known"),
        CheckConstraint(f"source IN {_in(COMPLAINT_SOURCES)}", name="source_known"),
        CheckConstraint("location_source IN ('point', 'enterprise', 'address')",
                        name="location_source_known"),
        CheckConstraint("(geom IS NULL) = (location_source IS NULL)", name="located_or_not"),
    )


class ComplaintStep(Base):
    """One step of a complaint's handling: the status it entered, who, when, a note; a
    reassignment names the new handler and why."""

    __tablename__ = "complaint_step"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("complaint.id"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    username: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"status IN {_in(COMPLAINT_STATUSES)}", name="status_known"),
    )


URGENT_KINDS = ("special_equipment", "product_harm", "hotline")
URGENT_STATUSES = ("raised", "acknowledged", "on_site", "closed")


class UrgentEvent(Base):
    """An urgent event (应急处置) at a place: everyone responsible for it then is alerted at
    once; acknowledgement, arrival on site and closure are timed; unacknowledged, it
    escalates a level (``level``)."""

    __tablename__ = "urgent_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    specialty: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, nullable=False)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    raised_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), index=True
    )
    raised_by: Mapped[str | None] = mapped_column(String(64))
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cell.id"), index=True)
    cell_version_id: Mapped[int | None] = mapped_column(ForeignKey("cell_version.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="raised")
    level: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    on_site_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    on_site_by: Mapped[str | None] = mapped_column(String(64))
    on_site_distance_m: Mapped[float | None] = mapped_column(Float)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"kind IN {_in(URGENT_KINDS)}", name="kind_known"),
        CheckConstraint(f"status IN {_in(URGENT_STATUSES)}", name="status_known"),
        CheckConstraint(f"specialty IS NULL OR specialty IN {_in(SPECIALTIES)}",
                        name="specialty_known"),
        CheckConstraint("level >= 1", name="level_positive"),
    )


class UrgentAlert(Base):
    """One person alerted about an urgent event, by one channel ("web": the open pages, pushed;
    "sms": the bureau's message gateway), at one escalation level."""

    __tablename__ = "urgent_alert"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("urgent_event.id"), nullable=False, index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    level: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    sent_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failure: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("channel IN ('web', 'sms')", name="channel_known"),
    )


class UrgentStep(Base):
    """Every step of an urgent event, timed: raised, alerted, escalated, acknowledged, on site
    (with where the phone was), closed."""

    __tablename__ = "urgent_step"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("urgent_event.id"), nullable=False, index=True
    )
    step: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    username: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[int | None] = mapped_column(SmallInteger)
    note: Mapped[str | None] = mapped_column(Text)
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))

    __table_args__ = (
        CheckConstraint("step IN ('raised', 'alerted', 'escalated', 'acknowledged', "
                        "'on_site', 'closed')", name="step_known"),
    )


class SpotCheck(Base):
    """Product batches tested at one enterprise, by one of two programmes that are reported
    apart and never pooled into one pass rate (``kind``): supervision sampling (监督抽查,
    ``spot_check``: batches drawn at random by the national, provincial or city authority) and
    periodic supervisory testing (定期监督检验, ``periodic``: the products that must be tested
    on a schedule)."""

    __tablename__ = "spot_check"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprise.id"), nullable=False, index=True
    )
    checked_on: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    level: Mapped[str] = mapped_column(String(16), nullable=False, server_default="city")
    product: Mapped[str | None] = mapped_column(String(200))
    batches: Mapped[int] = mapped_column(Integer, nullable=False)
    passed: Mapped[int] = mapped_column(Integer, nullable=False)
    # One sampled batch as the laboratory reports it (older rows may count several batches).
    batch_number: Mapped[str | None] = mapped_column(String(64))
    laboratory: Mapped[str | None] = mapped_column(String(200))
    # The laboratory's report number: an import of the same report again changes nothing.
    report_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    failed_items: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(f"kind IN {_in(TESTING_KINDS)}", name="kind_known"),
        CheckConstraint("level IN ('national', 'provincial', 'city')", name="level_known"),
        CheckConstraint("batches > 0 AND passed BETWEEN 0 AND batches", name="passed_le_batches"),
    )


# 立案 → 调查 → 处罚决定 → 结案
CASE_STATUSES = ("open", "investigating", "decided", "closed")


class Case(Base):
    """An enforcement case (案件). Table name avoids the SQL keyword CASE."""

    __tablename__ = "enforcement_case"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    opened_on: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    cause: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="open")
    # What the case was opened from: a rectification (a problem found), a failed batch or a
    # complaint; none for cases brought in from elsewhere.
    rectification_id: Mapped[int | None] = mapped_column(ForeignKey("rectification.id"))
    spot_check_id: Mapped[int | None] = mapped_column(ForeignKey("spot_check.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    result: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(f"status IN {_in(CASE_STATUSES)}", name="status_known"),
        CheckConstraint("num_nonnulls(rectification_id, spot_check_id, complaint_id) <= 1",
                        name="one_source"),
    )


class CaseStep(Base):
    """One step of an enforcement case (gis/cases.py): the status it entered, who and when, a
    note, and the result (the decision, or how the case was closed)."""

    __tablename__ = "case_step"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("enforcement_case.id"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    username: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"status IN {_in(CASE_STATUSES)}", name="status_known"),
    )


# "hotline": the 12365 hotline's operators and systems: they take complaints in (Open311,
# imports), nothing else (gis/policy.py intake_complaint).
ROLES = ("leader", "grid_manager", "inspector", "admin", "hotline")


class User(Base):
    """Someone who logs in. Passwords are stored only as salted hashes."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(100))
    # The person this login is (gis/people.py): their inspections carry that name.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("username ~ '^[a-z0-9][a-z0-9_.-]{1,63}$'", name="username_form"),
    )


class UserRole(Base):
    """A role held at a place: the role applies to that cell and every cell inside it."""

    __tablename__ = "user_role"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cell.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    granted_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(f"role IN {_in(ROLES)}", name="role_known"),
        # Only administration is placeless; every other role is bound to a cell.
        CheckConstraint("(role = 'admin') = (cell_id IS NULL)", name="place_unless_admin"),
        Index("uq_user_role_grant", "user_id", "role", text("coalesce(cell_id, 0)"),
              unique=True),
    )


class UserSession(Base):
    """A login on one browser. The cookie carries a random id whose SHA-256 is kept here, so
    logging out, a password change, a role removal or deactivation ends it on the server: a
    copied cookie dies with it (a signed cookie alone lives until it expires)."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    sid_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_seen_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_why: Mapped[str | None] = mapped_column(String(32))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class LoginThrottle(Base):
    """Failed logins counted per key: ``name:<username hash>|<client>`` (an exponential delay
    for one name from one client) and ``client:<client>`` (a lock-out of the client). No key
    names an account alone, so a stranger cannot lock anyone out."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_failure_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ReadBucket(Base):
    """One user's allowance of one kind of bulk read, a token bucket (gis.ratelimit). In the
    database, not in a worker's memory, so the limit holds whatever the number of workers."""

    __tablename__ = "read_bucket"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ClientBucket(Base):
    """A client's allowance on a page open to anyone (the public complaint form and its
    status page), a token bucket keyed by the kind and the client's address (gis.ratelimit
    ``take_client``): there is no user to key it by."""

    __tablename__ = "client_bucket"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


JOB_STATUSES = ("queued", "running", "done", "failed")


class Job(Base):
    """Background work (big imports) on a queue in PostgreSQL itself: workers claim rows with
    ``FOR UPDATE SKIP LOCKED`` and wake on ``NOTIFY gridwatch_jobs``. The uploaded file is
    kept with the job, so any worker on any host can run it."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False,
                                          server_default=text("'{}'::jsonb"))
    file: Mapped[bytes | None] = mapped_column(LargeBinary)
    file_name: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    # Not claimed before this moment (a delayed job: an urgent event's escalation check);
    # NULL: at once.
    run_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # How far a long job has got, 0–100, for the progress bar.
    progress: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        CheckConstraint(f"status IN {_in(JOB_STATUSES)}", name="status_known"),
        Index("ix_job_queued", "id", postgresql_where=text("status = 'queued'")),
    )


class ApiToken(Base):
    """A bearer token for mobile terminals and scripts; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Append-only record of every write: who, when, what, from where (a trigger refuses
    UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(8), nullable=False, server_default="web")
    # Something a reviewer must see, e.g. "backdated": a change dated before it was made.
    flag: Mapped[str | None] = mapped_column(String(32), index=True)

    __table_args__ = (CheckConstraint("via IN ('web', 'api', 'cli', 'job')", name="via_known"),)


class Draw(Base):
    """A double-random draw (双随机一公开, gis/draws.py): everything needed to re-run it (the
    seed, the filter, the candidate enterprises and the roster as they were) and its pairs, so
    anyone can check the published result."""

    __tablename__ = "draw"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    drawn_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    username: Mapped[str | None] = mapped_column(String(64))
    # Unsigned 64-bit: wider than bigint, so kept as its decimal digits.
    seed: Mapped[str] = mapped_column(String(20), nullable=False)
    generator: Mapped[str] = mapped_column(String(32), nullable=False)
    filter: Mapped[dict] = mapped_column(JSONB, nullable=False)
    enterprises: Mapped[list] = mapped_column(JSONB, nullable=False)
    roster: Mapped[list] = mapped_column(JSONB, nullable=False)
    pairs: Mapped[list] = mapped_column(JSONB, nullable=False)

    __table_args__ = (CheckConstraint("seed ~ '^[0-9]{1,20}$'", name="seed_digits"),)


class AssessmentRule(Base):
    """One measure of the quantified assessment (量化考核): its weight in the score and the
    target a place is held to; reference data an admin edits (gis/assessment.py computes the
    measure named by ``code``)."""

    __tablename__ = "assessment_rule"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False)
    target: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")

    __table_args__ = (CheckConstraint("weight >= 0", name="weight_not_negative"),)


class ResponsibilityLetter(Base):
    """A responsibility letter (责任状): who signed for which place and period, the targets,
    and the scanned file (kept by content hash like photos)."""

    __tablename__ = "responsibility_letter"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False, index=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cell.id"), nullable=False, index=True)
    period_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    period_to: Mapped[dt.date] = mapped_column(Date, nullable=False)
    signed_on: Mapped[dt.date | None] = mapped_column(Date)
    # {assessment rule code: target}
    targets: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    file_type: Mapped[str | None] = mapped_column(String(32))
    file_name: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("period_to >= period_from", name="period_ordered"),
        CheckConstraint("file_sha256 IS NULL OR file_sha256 ~ '^[0-9a-f]{64}$'",
                        name="sha256_hex"),
    )


class WarningRule(Base):
    """A quality warning's rule (质量预警) and its threshold: reference data an admin edits;
    gis/warnings.py evaluates the rule named by ``code``."""

    __tablename__ = "warning_rule"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))


class DataChange(Base):
    """One write statement on a table the map wall reads, recorded by that table's trigger
    (gis/sql/dataversion.sql): a table's version is its rows here plus its ``data_version.base``.
    What only changes when the data does is cached under these versions (gis/datacache.py)."""

    __tablename__ = "data_change"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tbl: Mapped[str] = mapped_column(String(63), nullable=False)


class DataVersion(Base):
    """The changes of a table folded out of ``data_change`` (``gw_data_compact``), so it stays
    a few rows long and the versions keep their values."""

    __tablename__ = "data_version"

    tbl: Mapped[str] = mapped_column(String(63), primary_key=True)
    base: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
