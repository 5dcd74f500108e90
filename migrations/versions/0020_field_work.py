"""field work: inspections sent from phones (client id, location, distance, second inspector,
notes), rectifications and their steps, photos, sampled batches as the laboratory reports them,
and enforcement cases opened from what was found

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30

Existing inspections with problems get one rectification each (their ``problems`` text, their
deadline; verified when the inspection says "done"), so the lists of rectifications start
complete.
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    add = op.add_column
    add("inspection", sa.Column("client_id", postgresql.UUID(as_uuid=True), nullable=True))
    add("inspection", sa.Column("second_inspector_id", sa.BigInteger(), nullable=True))
    add("inspection", sa.Column("recorded_at", sa.DateTime(timezone=True),
                                server_default=sa.text("now()"), nullable=True))
    add("inspection", sa.Column("username", sa.String(length=64), nullable=True))
    add("inspection", sa.Column("notes", postgresql.JSONB(astext_type=sa.Text()),
                                server_default=sa.text("'{}'::jsonb"), nullable=False))
    add("inspection", sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False),
                                nullable=True))
    add("inspection", sa.Column("location_crs", sa.String(length=8), nullable=True))
    add("inspection", sa.Column("distance_m", sa.Float(), nullable=True))
    add("inspection", sa.Column("far_from_site", sa.Boolean(), nullable=True))
    op.create_unique_constraint(op.f("uq_inspection_client_id"), "inspection", ["client_id"])
    op.create_foreign_key(op.f("fk_inspection_second_inspector_id_person"), "inspection",
                          "person", ["second_inspector_id"], ["id"])
    op.create_check_constraint(op.f("ck_inspection_location_crs_known"), "inspection",
                               "location_crs IN ('wgs84', 'gcj02')")
    op.create_check_constraint(op.f("ck_inspection_two_different_inspectors"), "inspection",
                               "second_inspector_id IS NULL OR second_inspector_id <> inspector_id")

    op.create_table(
        "rectification",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("inspection_id", sa.BigInteger(), nullable=True),
        sa.Column("spot_check_id", sa.BigInteger(), nullable=True),
        sa.Column("item_code", sa.String(length=16), nullable=True),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rectified_by", sa.String(length=64), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("status IN ('open', 'rectified', 'verified')",
                           name=op.f("ck_rectification_status_known")),
        sa.CheckConstraint("num_nonnulls(inspection_id, spot_check_id) = 1",
                           name=op.f("ck_rectification_one_source")),
        sa.CheckConstraint("verified_by IS NULL OR verified_by IS DISTINCT FROM rectified_by",
                           name=op.f("ck_rectification_verifier_not_rectifier")),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"],
                                name=op.f("fk_rectification_enterprise_id_enterprise")),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspection.id"],
                                name=op.f("fk_rectification_inspection_id_inspection")),
        sa.ForeignKeyConstraint(["spot_check_id"], ["spot_check.id"],
                                name=op.f("fk_rectification_spot_check_id_spot_check")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification")),
    )
    for col in ("enterprise_id", "inspection_id", "spot_check_id", "deadline"):
        op.create_index(op.f(f"ix_rectification_{col}"), "rectification", [col])

    op.create_table(
        "rectification_step",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("rectification_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("step IN ('opened', 'rectified', 'verified', 'rejected')",
                           name=op.f("ck_rectification_step_step_known")),
        sa.ForeignKeyConstraint(["rectification_id"], ["rectification.id"],
                                name=op.f("fk_rectification_step_rectification_id_rectification")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_rectification_step_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_step")),
    )
    op.create_index(op.f("ix_rectification_step_rectification_id"), "rectification_step",
                    ["rectification_id"])

    op.create_table(
        "photo",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("inspection_id", sa.BigInteger(), nullable=True),
        sa.Column("rectification_id", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("exif_location", Geometry("POINT", srid=4326, spatial_index=False),
                  nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("far_from_site", sa.Boolean(), nullable=True),
        sa.CheckConstraint("num_nonnulls(inspection_id, rectification_id) = 1",
                           name=op.f("ck_photo_one_owner")),
        sa.CheckConstraint("media_type IN ('image/jpeg', 'image/png', 'image/webp')",
                           name=op.f("ck_photo_media_type_known")),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_photo_sha256_hex")),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspection.id"],
                                name=op.f("fk_photo_inspection_id_inspection")),
        sa.ForeignKeyConstraint(["rectification_id"], ["rectification.id"],
                                name=op.f("fk_photo_rectification_id_rectification")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photo")),
    )
    op.create_index(op.f("ix_photo_inspection_id"), "photo", ["inspection_id"])
    op.create_index(op.f("ix_photo_rectification_id"), "photo", ["rectification_id"])

    add("spot_check", sa.Column("batch_number", sa.String(length=64), nullable=True))
    add("spot_check", sa.Column("laboratory", sa.String(length=200), nullable=True))
    add("spot_check", sa.Column("report_number", sa.String(length=64), nullable=True))
    add("spot_check", sa.Column("failed_items", sa.Text(), nullable=True))
    add("spot_check", sa.Column("username", sa.String(length=64), nullable=True))
    add("spot_check", sa.Column("recorded_at", sa.DateTime(timezone=True),
                                server_default=sa.text("now()"), nullable=True))
    op.create_unique_constraint(op.f("uq_spot_check_report_number"), "spot_check",
                                ["report_number"])

    add("enforcement_case", sa.Column("rectification_id", sa.BigInteger(), nullable=True))
    add("enforcement_case", sa.Column("spot_check_id", sa.BigInteger(), nullable=True))
    add("enforcement_case", sa.Column("complaint_id", sa.BigInteger(), nullable=True))
    add("enforcement_case", sa.Column("result", sa.Text(), nullable=True))
    add("enforcement_case", sa.Column("username", sa.String(length=64), nullable=True))
    for col, table in (("rectification_id", "rectification"), ("spot_check_id", "spot_check"),
                       ("complaint_id", "complaint")):
        op.create_foreign_key(op.f(f"fk_enforcement_case_{col}_{table}"), "enforcement_case",
                              table, [col], ["id"])
    op.drop_constraint(op.f("ck_enforcement_case_status_known"), "enforcement_case")
    op.create_check_constraint(op.f("ck_enforcement_case_status_known"), "enforcement_case",
                               "status IN ('open', 'investigating', 'decided', 'closed')")
    op.create_check_constraint(op.f("ck_enforcement_case_one_source"), "enforcement_case",
                               "num_nonnulls(rectification_id, spot_check_id, complaint_id) <= 1")

    op.execute("""
        INSERT INTO rectification (enterprise_id, inspection_id, problem, deadline, status,
                                   opened_at, rectified_at, verified_at)
        SELECT enterprise_id, id, coalesce(nullif(problems, ''), problems_found || ' problem(s)'),
               coalesce(rectification_deadline, inspected_on + 30),
               CASE WHEN rectification_status = 'done' THEN 'verified' ELSE 'open' END,
               inspected_on::timestamptz,
               CASE WHEN rectification_status = 'done' THEN rectified_on::timestamptz END,
               CASE WHEN rectification_status = 'done' THEN rectified_on::timestamptz END
        FROM inspection WHERE rectification_status IN ('open', 'done')""")
    op.execute("""
        INSERT INTO rectification_step (rectification_id, step, at)
        SELECT id, 'opened', opened_at FROM rectification
        UNION ALL
        SELECT id, 'verified', verified_at FROM rectification WHERE status = 'verified'""")


def downgrade():
    op.drop_constraint(op.f("ck_enforcement_case_one_source"), "enforcement_case")
    op.drop_constraint(op.f("ck_enforcement_case_status_known"), "enforcement_case")
    op.execute("UPDATE enforcement_case SET status = 'open' WHERE status <> 'closed'")
    op.create_check_constraint(op.f("ck_enforcement_case_status_known"), "enforcement_case",
                               "status IN ('open', 'closed')")
    for col in ("rectification_id", "spot_check_id", "complaint_id", "result", "username"):
        op.drop_column("enforcement_case", col)
    op.drop_constraint(op.f("uq_spot_check_report_number"), "spot_check")
    for col in ("batch_number", "laboratory", "report_number", "failed_items", "username",
                "recorded_at"):
        op.drop_column("spot_check", col)
    op.drop_table("photo")
    op.drop_table("rectification_step")
    op.drop_table("rectification")
    op.drop_constraint(op.f("ck_inspection_two_different_inspectors"), "inspection")
    op.drop_constraint(op.f("ck_inspection_location_crs_known"), "inspection")
    op.drop_constraint(op.f("fk_inspection_second_inspector_id_person"), "inspection")
    op.drop_constraint(op.f("uq_inspection_client_id"), "inspection")
    for col in ("client_id", "second_inspector_id", "recorded_at", "username", "notes",
                "location", "location_crs", "distance_m", "far_from_site"):
        op.drop_column("inspection", col)
