"""rejected inbound webhooks, counted per provider, reason and minute

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_rejections',
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('minute', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('skew_seconds', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('provider', 'reason', 'minute')
    )
    with op.batch_alter_table('webhook_rejections', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_rejections_minute', ['minute'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_rejections', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_rejections_minute')
    op.drop_table('webhook_rejections')
