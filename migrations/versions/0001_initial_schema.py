"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # btree_gist lets exclusion constraints mix "=" on ids with "&&" on validity ranges.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "checklist_item",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_item")),
        sa.UniqueConstraint("code", name=op.f("uq_checklist_item_code")),
    )
    op.create_geospatial_table(
        "enterprise",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("management_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("specialty", sa.String(length=32), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=True),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("products", sa.Text(), nullable=True),
        sa.Column("staff_count", sa.Integer(), nullable=True),
        sa.Column("key_equipment", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("source_crs", sa.String(length=32), server_default="EPSG:4326", nullable=False),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_enterprise_grade_a_to_d")
        ),
        sa.CheckConstraint(
            "specialty IS NULL OR specialty IN ('food', 'special_equipment', 'metrology')",
            name=op.f("ck_enterprise_specialty_known"),
        ),
        sa.CheckConstraint(
            "staff_count IS NULL OR staff_count >= 0", name=op.f("ck_enterprise_staff_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise")),
        sa.UniqueConstraint("management_code", name=op.f("uq_enterprise_management_code")),
    )
    op.create_geospatial_index(
        "idx_enterprise_geom",
        "enterprise",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_enterprise_credit_code"), "enterprise", ["credit_code"], unique=False)
    op.create_table(
        "grade_interval",
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("interval_days", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_grade_interval_grade_a_to_d")
        ),
        sa.CheckConstraint("interval_days > 0", name=op.f("ck_grade_interval_interval_positive")),
        sa.PrimaryKeyConstraint("grade", name=op.f("pk_grade_interval")),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("unit", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    op.create_table(
        "station",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station")),
        sa.UniqueConstraint("code", name=op.f("uq_station_code")),
    )
    op.create_geospatial_table(
        "township",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name=op.f("ck_township_code_12_digits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_township")),
        sa.UniqueConstraint("code", name=op.f("uq_township_code")),
    )
    op.create_geospatial_index(
        "idx_township_geom",
        "township",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "cell",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="territorial", nullable=False),
        sa.Column("specialty", sa.String(length=32), nullable=True),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("station_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'professional') = (specialty IS NOT NULL) OR level = 1",
            name=op.f("ck_cell_specialty_iff_professional"),
        ),
        sa.CheckConstraint(
            "kind IN ('territorial', 'professional')", name=op.f("ck_cell_kind_known")
        ),
        sa.CheckConstraint(
            "specialty IS NULL OR specialty IN ('food', 'special_equipment', 'metrology')",
            name=op.f("ck_cell_specialty_known"),
        ),
        sa.CheckConstraint(
            "(level = 1) = (parent_id IS NULL)", name=op.f("ck_cell_parent_iff_not_city")
        ),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_cell_level_1_to_3")),
        sa.ForeignKeyConstraint(["parent_id"], ["cell.id"], name=op.f("fk_cell_parent_id_cell")),
        sa.ForeignKeyConstraint(
            ["station_id"], ["station.id"], name=op.f("fk_cell_station_id_station")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cell")),
        sa.UniqueConstraint("code", name=op.f("uq_cell_code")),
    )
    op.create_index(op.f("ix_cell_parent_id"), "cell", ["parent_id"], unique=False)
    op.create_index(op.f("ix_cell_station_id"), "cell", ["station_id"], unique=False)
    op.create_table(
        "enforcement_case",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'closed')", name=op.f("ck_enforcement_case_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_enforcement_case_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_case")),
        sa.UniqueConstraint("number", name=op.f("uq_enforcement_case_number")),
    )
    op.create_index(
        op.f("ix_enforcement_case_enterprise_id"),
        "enforcement_case",
        ["enterprise_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_enforcement_case_opened_on"), "enforcement_case", ["opened_on"], unique=False
    )
    op.create_table(
        "inspection",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("inspector_id", sa.BigInteger(), nullable=True),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column(
            "results",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("problems_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.Column("rectification_deadline", sa.Date(), nullable=True),
        sa.Column(
            "rectification_status", sa.String(length=16), server_default="none", nullable=False
        ),
        sa.Column("rectified_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "rectification_status IN ('none', 'open', 'done')",
            name=op.f("ck_inspection_rectification_status_known"),
        ),
        sa.CheckConstraint("problems_found >= 0", name=op.f("ck_inspection_problems_not_negative")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_inspection_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["person.id"], name=op.f("fk_inspection_inspector_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection")),
    )
    op.create_index(
        op.f("ix_inspection_enterprise_id"), "inspection", ["enterprise_id"], unique=False
    )
    op.create_index(
        op.f("ix_inspection_inspected_on"), "inspection", ["inspected_on"], unique=False
    )
    op.create_index(
        op.f("ix_inspection_inspector_id"), "inspection", ["inspector_id"], unique=False
    )
    op.create_table(
        "spot_check",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=16), server_default="city", nullable=False),
        sa.Column("product", sa.String(length=200), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "level IN ('national', 'provincial', 'city')", name=op.f("ck_spot_check_level_known")
        ),
        sa.CheckConstraint(
            "batches > 0 AND passed BETWEEN 0 AND batches",
            name=op.f("ck_spot_check_passed_le_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_spot_check_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spot_check")),
    )
    op.create_index(op.f("ix_spot_check_checked_on"), "spot_check", ["checked_on"], unique=False)
    op.create_index(
        op.f("ix_spot_check_enterprise_id"), "spot_check", ["enterprise_id"], unique=False
    )
    op.create_geospatial_table(
        "village",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("township_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name=op.f("ck_village_code_12_digits")),
        sa.ForeignKeyConstraint(
            ["township_id"], ["township.id"], name=op.f("fk_village_township_id_township")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village")),
        sa.UniqueConstraint("code", name=op.f("uq_village_code")),
    )
    op.create_geospatial_index(
        "idx_village_geom",
        "village",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_village_township_id"), "village", ["township_id"], unique=False)
    op.create_geospatial_table(
        "cell_version",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "valid",
            postgresql.TSTZRANGE(),
            sa.Computed("tstzrange(valid_from, valid_to, '[)')", persisted=True),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("cell_id"), "="),
            (sa.column("valid"), "&&"),
            using="gist",
            name="cell_version_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_cell_version_period_not_empty"),
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"], ["cell.id"], name=op.f("fk_cell_version_cell_id_cell")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cell_version")),
    )
    op.create_geospatial_index(
        "idx_cell_version_geom",
        "cell_version",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_cell_version_cell_id"), "cell_version", ["cell_id"], unique=False)
    op.create_geospatial_table(
        "complaint",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=True),
        sa.Column("cell_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'assigned', 'closed')", name=op.f("ck_complaint_status_known")
        ),
        sa.ForeignKeyConstraint(["cell_id"], ["cell.id"], name=op.f("fk_complaint_cell_id_cell")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprise.id"], name=op.f("fk_complaint_enterprise_id_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["person.id"], name=op.f("fk_complaint_owner_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
        sa.UniqueConstraint("number", name=op.f("uq_complaint_number")),
    )
    op.create_geospatial_index(
        "idx_complaint_geom",
        "complaint",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_complaint_cell_id"), "complaint", ["cell_id"], unique=False)
    op.create_index(
        op.f("ix_complaint_enterprise_id"), "complaint", ["enterprise_id"], unique=False
    )
    op.create_index(op.f("ix_complaint_received_at"), "complaint", ["received_at"], unique=False)
    op.create_table(
        "enterprise_cell",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=True),
        sa.Column("on_edge", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "valid",
            postgresql.TSTZRANGE(),
            sa.Computed("tstzrange(valid_from, valid_to, '[)')", persisted=True),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("enterprise_id"), "="),
            (sa.column("valid"), "&&"),
            using="gist",
            name="enterprise_cell_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_enterprise_cell_period_not_empty"),
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"], ["cell.id"], name=op.f("fk_enterprise_cell_cell_id_cell")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_enterprise_cell_enterprise_id_enterprise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_cell")),
    )
    op.create_index(
        op.f("ix_enterprise_cell_cell_id"), "enterprise_cell", ["cell_id"], unique=False
    )
    op.create_index(
        "ix_enterprise_cell_current",
        "enterprise_cell",
        ["enterprise_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "responsibility",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=True),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=True),
        sa.Column("township_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "valid",
            postgresql.TSTZRANGE(),
            sa.Computed("tstzrange(valid_from, valid_to, '[)')", persisted=True),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.text("coalesce(cell_id, 0)"), "="),
            (sa.text("coalesce(enterprise_id, 0)"), "="),
            (sa.text("coalesce(township_id, 0)"), "="),
            (sa.column("role"), "="),
            (sa.column("valid"), "&&"),
            using="gist",
            name="responsibility_one_holder",
        ),
        sa.CheckConstraint(
            "kind IN ('enterprise', 'department', 'government')",
            name=op.f("ck_responsibility_kind_known"),
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'station_chief', 'township_leader', 'principal')",
            name=op.f("ck_responsibility_role_known"),
        ),
        sa.CheckConstraint(
            "num_nonnulls(cell_id, enterprise_id, township_id) = 1",
            name=op.f("ck_responsibility_exactly_one_target"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_responsibility_period_not_empty"),
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"], ["cell.id"], name=op.f("fk_responsibility_cell_id_cell")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_responsibility_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_responsibility_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["township_id"], ["township.id"], name=op.f("fk_responsibility_township_id_township")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responsibility")),
    )
    op.create_index(op.f("ix_responsibility_cell_id"), "responsibility", ["cell_id"], unique=False)
    op.create_index(
        op.f("ix_responsibility_enterprise_id"), "responsibility", ["enterprise_id"], unique=False
    )
    op.create_index(
        op.f("ix_responsibility_person_id"), "responsibility", ["person_id"], unique=False
    )
    op.create_index(
        op.f("ix_responsibility_township_id"), "responsibility", ["township_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_responsibility_township_id"), table_name="responsibility")
    op.drop_index(op.f("ix_responsibility_person_id"), table_name="responsibility")
    op.drop_index(op.f("ix_responsibility_enterprise_id"), table_name="responsibility")
    op.drop_index(op.f("ix_responsibility_cell_id"), table_name="responsibility")
    op.drop_table("responsibility")
    op.drop_index(
        "ix_enterprise_cell_current",
        table_name="enterprise_cell",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index(op.f("ix_enterprise_cell_cell_id"), table_name="enterprise_cell")
    op.drop_table("enterprise_cell")
    op.drop_index(op.f("ix_complaint_received_at"), table_name="complaint")
    op.drop_index(op.f("ix_complaint_enterprise_id"), table_name="complaint")
    op.drop_index(op.f("ix_complaint_cell_id"), table_name="complaint")
    op.drop_geospatial_index(
        "idx_complaint_geom", table_name="complaint", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("complaint")
    op.drop_index(op.f("ix_cell_version_cell_id"), table_name="cell_version")
    op.drop_geospatial_index(
        "idx_cell_version_geom",
        table_name="cell_version",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("cell_version")
    op.drop_index(op.f("ix_village_township_id"), table_name="village")
    op.drop_geospatial_index(
        "idx_village_geom", table_name="village", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("village")
    op.drop_index(op.f("ix_spot_check_enterprise_id"), table_name="spot_check")
    op.drop_index(op.f("ix_spot_check_checked_on"), table_name="spot_check")
    op.drop_table("spot_check")
    op.drop_index(op.f("ix_inspection_inspector_id"), table_name="inspection")
    op.drop_index(op.f("ix_inspection_inspected_on"), table_name="inspection")
    op.drop_index(op.f("ix_inspection_enterprise_id"), table_name="inspection")
    op.drop_table("inspection")
    op.drop_index(op.f("ix_enforcement_case_opened_on"), table_name="enforcement_case")
    op.drop_index(op.f("ix_enforcement_case_enterprise_id"), table_name="enforcement_case")
    op.drop_table("enforcement_case")
    op.drop_index(op.f("ix_cell_station_id"), table_name="cell")
    op.drop_index(op.f("ix_cell_parent_id"), table_name="cell")
    op.drop_table("cell")
    op.drop_geospatial_index(
        "idx_township_geom", table_name="township", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("township")
    op.drop_table("station")
    op.drop_table("person")
    op.drop_table("grade_interval")
    op.drop_index(op.f("ix_enterprise_credit_code"), table_name="enterprise")
    op.drop_geospatial_index(
        "idx_enterprise_geom", table_name="enterprise", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("enterprise")
    op.drop_table("checklist_item")
