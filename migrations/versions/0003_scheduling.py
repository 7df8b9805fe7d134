"""scheduling: alert markers on maintenance windows

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # Set once by the worker when it has alerted, so each alert fires exactly once.
    with op.batch_alter_table('maintenance_windows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overdue_alerted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ceiling_alerted_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('maintenance_windows', schema=None) as batch_op:
        batch_op.drop_column('ceiling_alerted_at')
        batch_op.drop_column('overdue_alerted_at')
