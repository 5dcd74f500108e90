"""complaint intake: the public reference's check code, the cell whose owner handles a
complaint after a reassignment, Open311 attributes (of services and of complaints), photos of
complaints, per-client rate-limit buckets for the public pages, and the hotline role

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01

A complaint may now have no point (an address that matches nothing we know): it is kept,
routed to the city and flagged rather than given a made-up point. Existing complaints get a
check code (so each has a public reference) and are handled in the
cell they came in (``assigned_cell_id`` = ``cell_id``). Every service but "other" asks for the
enterprise complained about (Open311 ``attribute[enterprise]``); special equipment also for the
kind of equipment.
"""
import json

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ENTERPRISE = {"variable": True, "code": "enterprise", "datatype": "string", "required": False,
              "datatype_description": "企业管理编码（见企业门口的明示牌）", "order": 1,
              "description": "被投诉的企业"}
EQUIPMENT = {"variable": True, "code": "equipment", "datatype": "singlevaluelist",
             "required": False, "datatype_description": None, "order": 2,
             "description": "设备种类",
             "values": [{"key": k, "name": n} for k, n in (
                 ("boiler", "锅炉"), ("pressure_vessel", "压力容器"), ("elevator", "电梯"),
                 ("crane", "起重机械"), ("other", "其他"))]}
ATTRIBUTES = {"quality": [ENTERPRISE], "counterfeit": [ENTERPRISE], "labelling": [ENTERPRISE],
              "metrology": [ENTERPRISE], "special_equipment": [ENTERPRISE, EQUIPMENT],
              "food": [ENTERPRISE]}

JSONB = postgresql.JSONB(astext_type=sa.Text())


def upgrade():
    op.add_column("complaint_service", sa.Column("attributes", JSONB,
                                                 server_default=sa.text("'[]'::jsonb"),
                                                 nullable=False))
    for code, attributes in ATTRIBUTES.items():
        op.execute(sa.text("UPDATE complaint_service SET attributes = CAST(:a AS jsonb) "
                           "WHERE code = :c").bindparams(
            a=json.dumps(attributes, ensure_ascii=False), c=code))

    op.add_column("complaint", sa.Column("check_code", sa.String(length=8), nullable=True))
    op.add_column("complaint", sa.Column("assigned_cell_id", sa.BigInteger(), nullable=True))
    op.add_column("complaint", sa.Column("attributes", JSONB,
                                         server_default=sa.text("'{}'::jsonb"), nullable=False))
    # A complaint named no place we could find (an address matching nothing): kept without a
    # point, routed to the city, flagged; never given a made-up point that maps would show.
    op.add_column("complaint", sa.Column("location_source", sa.String(length=16),
                                         server_default="point", nullable=True))
    op.alter_column("complaint", "geom", nullable=True)
    op.create_check_constraint(
        op.f("ck_complaint_location_source_known"), "complaint",
        "location_source IN ('point', 'enterprise', 'address')")
    op.create_check_constraint(op.f("ck_complaint_located_or_not"), "complaint",
                               "(geom IS NULL) = (location_source IS NULL)")
    op.create_foreign_key(op.f("fk_complaint_assigned_cell_id_cell"), "complaint", "cell",
                          ["assigned_cell_id"], ["id"])
    op.create_index(op.f("ix_complaint_assigned_cell_id"), "complaint", ["assigned_cell_id"])
    op.execute("""
        UPDATE complaint SET assigned_cell_id = cell_id,
               check_code = upper(substr(md5(random()::text || id::text), 1, 6))""")

    op.add_column("photo", sa.Column("complaint_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f("fk_photo_complaint_id_complaint"), "photo", "complaint",
                          ["complaint_id"], ["id"])
    op.create_index(op.f("ix_photo_complaint_id"), "photo", ["complaint_id"])
    op.drop_constraint(op.f("ck_photo_one_owner"), "photo")
    op.create_check_constraint(op.f("ck_photo_one_owner"), "photo",
                               "num_nonnulls(inspection_id, rectification_id, complaint_id) = 1")

    op.create_table(
        "client_bucket",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_client_bucket")),
    )

    op.drop_constraint(op.f("ck_user_role_role_known"), "user_role")
    op.create_check_constraint(op.f("ck_user_role_role_known"), "user_role",
                               "role IN ('leader', 'grid_manager', 'inspector', 'admin', "
                               "'hotline')")


def downgrade():
    op.execute("DELETE FROM user_role WHERE role = 'hotline'")
    op.drop_constraint(op.f("ck_user_role_role_known"), "user_role")
    op.create_check_constraint(op.f("ck_user_role_role_known"), "user_role",
                               "role IN ('leader', 'grid_manager', 'inspector', 'admin')")
    op.drop_table("client_bucket")
    op.execute("DELETE FROM photo WHERE complaint_id IS NOT NULL")
    op.drop_constraint(op.f("ck_photo_one_owner"), "photo")
    op.create_check_constraint(op.f("ck_photo_one_owner"), "photo",
                               "num_nonnulls(inspection_id, rectification_id) = 1")
    op.drop_index(op.f("ix_photo_complaint_id"), "photo")
    op.drop_constraint(op.f("fk_photo_complaint_id_complaint"), "photo")
    op.drop_column("photo", "complaint_id")
    op.drop_index(op.f("ix_complaint_assigned_cell_id"), "complaint")
    op.drop_constraint(op.f("fk_complaint_assigned_cell_id_cell"), "complaint")
    op.execute("DELETE FROM complaint_step WHERE complaint_id IN "
               "(SELECT id FROM complaint WHERE geom IS NULL)")
    op.execute("DELETE FROM complaint WHERE geom IS NULL")
    op.drop_constraint(op.f("ck_complaint_located_or_not"), "complaint")
    op.drop_constraint(op.f("ck_complaint_location_source_known"), "complaint")
    op.alter_column("complaint", "geom", nullable=False)
    for col in ("check_code", "assigned_cell_id", "attributes", "location_source"):
        op.drop_column("complaint", col)
    op.drop_column("complaint_service", "attributes")
