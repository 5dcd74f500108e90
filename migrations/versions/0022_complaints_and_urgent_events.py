"""complaints as Open311 requests (services with response times, source, the hotline's number,
the boundary version and due time stamped on arrival, the handler, the complainant's contact,
steps received → assigned → handled → closed), and urgent events with their alerts and steps

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30

Complaints that were "open" are "received". Each existing complaint gets the steps its status
implies (received at its time; closed at closed_at), its boundary version (the one of its cell
in force when it came in) and its handler (its owner).
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# The 12365 hotline's usual matters; admins edit them (reference data).
SERVICES = [
    ("quality", "产品质量问题", "产品性能、安全、标准不符合等质量问题", "产品质量", None, 72, False),
    ("counterfeit", "假冒伪劣", "假冒商标、伪造产地、以假充真、以次充好", "产品质量", None, 72, False),
    ("labelling", "标签标识", "无生产日期、无厂名厂址、标识不符", "产品质量", None, 120, False),
    ("metrology", "计量问题", "缺斤短两、加油机计量不准、计量器具未检定", "计量", "metrology", 72,
     False),
    ("special_equipment", "特种设备安全", "锅炉、压力容器、电梯、起重机械等安全隐患",
     "特种设备", "special_equipment", 24, True),
    ("food", "食品相关产品", "食品包装、容器等食品相关产品质量", "食品相关", "food", 48, False),
    ("other", "其他", "其他产品质量监管事项", "其他", None, 120, False),
]


def upgrade():
    service = op.create_table(
        "complaint_service",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("group_name", sa.String(length=100), nullable=True),
        sa.Column("specialty", sa.String(length=32), nullable=True),
        sa.Column("response_hours", sa.Integer(), server_default="72", nullable=False),
        sa.Column("urgent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("response_hours > 0",
                           name=op.f("ck_complaint_service_response_positive")),
        sa.CheckConstraint(
            "specialty IS NULL OR specialty IN ('food', 'special_equipment', 'metrology')",
            name=op.f("ck_complaint_service_specialty_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_service")),
        sa.UniqueConstraint("code", name=op.f("uq_complaint_service_code")),
    )
    op.bulk_insert(service, [
        {"code": c, "name": n, "description": d, "group_name": g, "specialty": s,
         "response_hours": h, "urgent": u, "sort_order": i}
        for i, (c, n, d, g, s, h, u) in enumerate(SERVICES, start=1)])

    add = op.add_column
    add("complaint", sa.Column("service_code", sa.String(length=32), nullable=True))
    add("complaint", sa.Column("source", sa.String(length=16), server_default="hotline",
                               nullable=False))
    add("complaint", sa.Column("external_id", sa.String(length=64), nullable=True))
    add("complaint", sa.Column("cell_version_id", sa.BigInteger(), nullable=True))
    add("complaint", sa.Column("assignee_id", sa.BigInteger(), nullable=True))
    add("complaint", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    add("complaint", sa.Column("outside_grid", sa.Boolean(), server_default=sa.text("false"),
                               nullable=False))
    add("complaint", sa.Column("urgent", sa.Boolean(), server_default=sa.text("false"),
                               nullable=False))
    for col in ("address", "media_url", "status_notes"):
        add("complaint", sa.Column(col, sa.Text(), nullable=True))
    add("complaint", sa.Column("first_name", sa.String(length=100), nullable=True))
    add("complaint", sa.Column("last_name", sa.String(length=100), nullable=True))
    add("complaint", sa.Column("email", sa.String(length=200), nullable=True))
    add("complaint", sa.Column("phone", sa.String(length=40), nullable=True))
    add("complaint", sa.Column("updated_at", sa.DateTime(timezone=True),
                               server_default=sa.text("now()"), nullable=True))
    op.create_foreign_key(op.f("fk_complaint_service_code_complaint_service"), "complaint",
                          "complaint_service", ["service_code"], ["code"])
    op.create_foreign_key(op.f("fk_complaint_cell_version_id_cell_version"), "complaint",
                          "cell_version", ["cell_version_id"], ["id"])
    op.create_foreign_key(op.f("fk_complaint_assignee_id_person"), "complaint", "person",
                          ["assignee_id"], ["id"])
    op.create_unique_constraint(op.f("uq_complaint_external_id"), "complaint", ["external_id"])
    op.create_index(op.f("ix_complaint_due_at"), "complaint", ["due_at"])
    op.create_check_constraint(
        op.f("ck_complaint_source_known"), "complaint",
        "source IN ('hotline', 'open311', 'public', 'import', 'staff')")
    op.drop_constraint(op.f("ck_complaint_status_known"), "complaint")
    op.execute("UPDATE complaint SET status = 'received' WHERE status = 'open'")
    op.create_check_constraint(op.f("ck_complaint_status_known"), "complaint",
                               "status IN ('received', 'assigned', 'handled', 'closed')")
    op.execute("""
        UPDATE complaint k SET assignee_id = k.owner_id, updated_at = coalesce(k.closed_at,
                                                                             k.received_at),
               due_at = k.received_at + interval '72 hours',
               cell_version_id = (SELECT cv.id FROM cell_version cv
                                  WHERE cv.cell_id = k.cell_id AND cv.valid @> k.received_at
                                  LIMIT 1)""")

    op.create_table(
        "complaint_step",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("complaint_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('received', 'assigned', 'handled', 'closed')",
                           name=op.f("ck_complaint_step_status_known")),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"],
                                name=op.f("fk_complaint_step_complaint_id_complaint")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_complaint_step_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_step")),
    )
    op.create_index(op.f("ix_complaint_step_complaint_id"), "complaint_step", ["complaint_id"])
    op.execute("""
        INSERT INTO complaint_step (complaint_id, status, at, person_id)
        SELECT id, 'received', received_at, owner_id FROM complaint
        UNION ALL
        SELECT id, 'assigned', received_at, owner_id FROM complaint
        WHERE status IN ('assigned', 'closed') AND owner_id IS NOT NULL
        UNION ALL
        SELECT id, 'closed', coalesce(closed_at, received_at), owner_id FROM complaint
        WHERE status = 'closed'""")

    op.create_table(
        "urgent_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("specialty", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("raised_by", sa.String(length=64), nullable=True),
        sa.Column("cell_id", sa.BigInteger(), nullable=True),
        sa.Column("cell_version_id", sa.BigInteger(), nullable=True),
        sa.Column("complaint_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="raised", nullable=False),
        sa.Column("level", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("on_site_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_site_by", sa.String(length=64), nullable=True),
        sa.Column("on_site_distance_m", sa.Float(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('special_equipment', 'product_harm', 'hotline')",
                           name=op.f("ck_urgent_event_kind_known")),
        sa.CheckConstraint("status IN ('raised', 'acknowledged', 'on_site', 'closed')",
                           name=op.f("ck_urgent_event_status_known")),
        sa.CheckConstraint(
            "specialty IS NULL OR specialty IN ('food', 'special_equipment', 'metrology')",
            name=op.f("ck_urgent_event_specialty_known")),
        sa.CheckConstraint("level >= 1", name=op.f("ck_urgent_event_level_positive")),
        sa.ForeignKeyConstraint(["cell_id"], ["cell.id"],
                                name=op.f("fk_urgent_event_cell_id_cell")),
        sa.ForeignKeyConstraint(["cell_version_id"], ["cell_version.id"],
                                name=op.f("fk_urgent_event_cell_version_id_cell_version")),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"],
                                name=op.f("fk_urgent_event_complaint_id_complaint")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgent_event")),
        sa.UniqueConstraint("number", name=op.f("uq_urgent_event_number")),
    )
    op.create_index("idx_urgent_event_geom", "urgent_event", ["geom"], postgresql_using="gist")
    op.create_index(op.f("ix_urgent_event_raised_at"), "urgent_event", ["raised_at"])
    op.create_index(op.f("ix_urgent_event_cell_id"), "urgent_event", ["cell_id"])

    op.create_table(
        "urgent_alert",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("level", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.CheckConstraint("channel IN ('web', 'sms')", name=op.f("ck_urgent_alert_channel_known")),
        sa.ForeignKeyConstraint(["event_id"], ["urgent_event.id"],
                                name=op.f("fk_urgent_alert_event_id_urgent_event")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_urgent_alert_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgent_alert")),
    )
    op.create_index(op.f("ix_urgent_alert_event_id"), "urgent_alert", ["event_id"])
    op.create_index(op.f("ix_urgent_alert_person_id"), "urgent_alert", ["person_id"])

    op.create_table(
        "urgent_step",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=True),
        sa.CheckConstraint("step IN ('raised', 'alerted', 'escalated', 'acknowledged', "
                           "'on_site', 'closed')", name=op.f("ck_urgent_step_step_known")),
        sa.ForeignKeyConstraint(["event_id"], ["urgent_event.id"],
                                name=op.f("fk_urgent_step_event_id_urgent_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgent_step")),
    )
    op.create_index(op.f("ix_urgent_step_event_id"), "urgent_step", ["event_id"])


def downgrade():
    op.drop_table("urgent_step")
    op.drop_table("urgent_alert")
    op.drop_table("urgent_event")
    op.drop_table("complaint_step")
    op.drop_constraint(op.f("ck_complaint_status_known"), "complaint")
    op.execute("UPDATE complaint SET status = 'open' WHERE status IN ('received', 'handled')")
    op.create_check_constraint(op.f("ck_complaint_status_known"), "complaint",
                               "status IN ('open', 'assigned', 'closed')")
    op.drop_constraint(op.f("ck_complaint_source_known"), "complaint")
    op.drop_index(op.f("ix_complaint_due_at"), "complaint")
    op.drop_constraint(op.f("uq_complaint_external_id"), "complaint")
    for fk in ("fk_complaint_service_code_complaint_service",
               "fk_complaint_cell_version_id_cell_version", "fk_complaint_assignee_id_person"):
        op.drop_constraint(op.f(fk), "complaint")
    for col in ("service_code", "source", "external_id", "cell_version_id", "assignee_id",
                "due_at", "outside_grid", "urgent", "address", "media_url", "status_notes",
                "first_name", "last_name", "email", "phone", "updated_at"):
        op.drop_column("complaint", col)
    op.drop_table("complaint_service")
