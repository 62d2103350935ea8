"""REST API: bearer tokens (hashed), and indexes for record pages, exports and statements.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Plain SQLAlchemy types, as in 0001 (UTCDateTime is DateTime(timezone=True) here).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``api_tokens`` and two indexes on ``call_records``."""
    op.create_table(
        "api_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_call_records_decided_at_id"), "call_records", ["decided_at", "id"])
    op.create_index(op.f("ix_call_records_line_period"), "call_records", ["line", "period"])


def downgrade() -> None:
    """Drop what the upgrade created."""
    op.drop_index(op.f("ix_call_records_line_period"), table_name="call_records")
    op.drop_index(op.f("ix_call_records_decided_at_id"), table_name="call_records")
    op.drop_table("api_tokens")
