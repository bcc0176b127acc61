"""When a confirmation also signed the person in.

Revision ID: 5a1d2c9e7b40
Revises: c617e0c4b764
Create Date: 2026-12-04 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5a1d2c9e7b40"
down_revision = "c617e0c4b764"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signup_records") as batch:
        batch.add_column(sa.Column("signed_in_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signup_records") as batch:
        batch.drop_column("signed_in_at")
