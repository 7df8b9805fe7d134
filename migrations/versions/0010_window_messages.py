"""a window's message per language

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    # Existing windows get no translations: {} (the server default fills the rows already there).
    op.add_column('maintenance_windows',
                  sa.Column('messages', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade():
    with op.batch_alter_table('maintenance_windows', schema=None) as batch_op:
        batch_op.drop_column('messages')
