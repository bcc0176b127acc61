"""Signup records and idempotency keys.

Revision ID: c617e0c4b764
Revises:
Create Date: 2026-11-26 09:20:43
"""

import sqlalchemy as sa
from alembic import op

revision = "c617e0c4b764"
down_revision = None
branch_labels = None
depends_on = None

# Aware timestamps; SQLite stores them as naive UTC (see app.storage.models.UTCDateTime).
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signup_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", Timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("confirmed_at", Timestamp, nullable=True),
        sa.Column("identity_hash", sa.String(length=64), nullable=False),
        sa.Column("user_sub", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("client_kind", sa.String(length=8), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("utm_source", sa.String(length=100), nullable=True),
        sa.Column("utm_medium", sa.String(length=100), nullable=True),
        sa.Column("utm_campaign", sa.String(length=100), nullable=True),
        sa.Column("utm_term", sa.String(length=100), nullable=True),
        sa.Column("utm_content", sa.String(length=100), nullable=True),
        sa.Column("landing_page", sa.String(length=512), nullable=True),
        sa.CheckConstraint(
            "client_kind IN ('form', 'json')", name=op.f("ck_signup_records_client_kind")
        ),
        sa.CheckConstraint(
            "outcome IN ('pending', 'created', 'confirmed', 'failed')",
            name=op.f("ck_signup_records_outcome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_records")),
    )
    op.create_index(op.f("ix_signup_records_created_at"), "signup_records", ["created_at"])
    op.create_index(op.f("ix_signup_records_identity_hash"), "signup_records", ["identity_hash"])

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_content_type", sa.String(length=128), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_signup_records_identity_hash"), table_name="signup_records")
    op.drop_index(op.f("ix_signup_records_created_at"), table_name="signup_records")
    op.drop_table("signup_records")
