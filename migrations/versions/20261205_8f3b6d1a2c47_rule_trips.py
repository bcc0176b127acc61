"""Sign-up rules on the record: a refused attempt, and the rules a sign-up tripped in shadow mode.

Revision ID: 8f3b6d1a2c47
Revises: 5a1d2c9e7b40
Create Date: 2026-12-05 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "8f3b6d1a2c47"
down_revision = "5a1d2c9e7b40"
branch_labels = None
depends_on = None

OLD_OUTCOMES = "outcome IN ('pending', 'created', 'confirmed', 'failed')"
NEW_OUTCOMES = "outcome IN ('pending', 'created', 'confirmed', 'failed', 'refused')"


def upgrade() -> None:
    with op.batch_alter_table("signup_records") as batch:
        batch.drop_constraint(op.f("ck_signup_records_outcome"), type_="check")
        batch.create_check_constraint("outcome", NEW_OUTCOMES)
        batch.add_column(sa.Column("refused_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("shadowed_rules", sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM signup_records WHERE outcome = 'refused'")
    with op.batch_alter_table("signup_records") as batch:
        batch.drop_column("shadowed_rules")
        batch.drop_column("refused_by")
        batch.drop_constraint(op.f("ck_signup_records_outcome"), type_="check")
        batch.create_check_constraint("outcome", OLD_OUTCOMES)
