"""Initial schema: lines, usage counters (R6, R7) and call records (R10).

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Written from the models in callctl/store/models.py with plain SQLAlchemy types (the
models' UTCDateTime and Money are DateTime(timezone=True) and Numeric(14, 4) here), so
this revision never changes when the models' Python code does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Numeric(precision=14, scale=4), nullable=False)


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "lines",
        _id(),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("install_street", sa.String(length=255), nullable=True),
        sa.Column("install_postal_code", sa.String(length=16), nullable=True),
        sa.Column("install_city", sa.String(length=255), nullable=True),
        sa.Column("site_networks", sa.JSON(), nullable=False),
        sa.Column("licences", sa.JSON(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lines")),
        sa.UniqueConstraint("number", name=op.f("uq_lines_number")),
    )
    op.create_table(
        "usage",
        _id(),
        sa.Column("line", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("bundle_seconds", sa.Integer(), nullable=False),
        sa.Column("fair_use_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage")),
        sa.UniqueConstraint("line", "period", name=op.f("uq_usage_line_period")),
    )
    op.create_table(
        "call_records",
        _id(),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("line", sa.String(length=16), nullable=False),
        sa.Column("dialled", sa.String(length=255), nullable=False),
        sa.Column("e164", sa.String(length=16), nullable=True),
        sa.Column("group", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=True),
        sa.Column("clir", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("sip_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _time("decided_at"),
        _time("answered_at", nullable=True),
        _time("ended_at", nullable=True),
        sa.Column("billsec", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("peak_seconds", sa.Integer(), nullable=False),
        sa.Column("offpeak_seconds", sa.Integer(), nullable=False),
        sa.Column("bundle_seconds", sa.Integer(), nullable=False),
        sa.Column("fair_use_seconds", sa.Integer(), nullable=False),
        sa.Column("charged_seconds", sa.Integer(), nullable=False),
        _money("setup_fee"),
        _money("per_call_fee"),
        _money("amount"),
        sa.Column("tariff_id", sa.String(length=64), nullable=False),
        sa.Column("location_source", sa.String(length=32), nullable=True),
        sa.Column("location_trusted", sa.Boolean(), nullable=True),
        sa.Column("location_reasons", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
        sa.UniqueConstraint("host", "call_id", name=op.f("uq_call_records_host_call_id")),
    )
    op.create_index(op.f("ix_call_records_line_decided_at"), "call_records", ["line", "decided_at"])
    op.create_index(op.f("ix_call_records_group"), "call_records", ["group"])
    op.create_index(op.f("ix_call_records_disposition"), "call_records", ["disposition"])


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.drop_index(op.f("ix_call_records_disposition"), table_name="call_records")
    op.drop_index(op.f("ix_call_records_group"), table_name="call_records")
    op.drop_index(op.f("ix_call_records_line_decided_at"), table_name="call_records")
    op.drop_table("call_records")
    op.drop_table("usage")
    op.drop_table("lines")
