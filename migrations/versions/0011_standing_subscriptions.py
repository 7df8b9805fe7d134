"""standing subscriptions (double opt-in) and the notices owed to them

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('standing_subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('confirm_due_at', sa.DateTime(), nullable=True),
    sa.Column('confirm_sent_at', sa.DateTime(), nullable=True),
    sa.Column('confirm_attempts', sa.Integer(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('unsubscribed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email_hash')
    )
    with op.batch_alter_table('standing_subscribers', schema=None) as batch_op:
        batch_op.create_index('ix_standing_subscribers_status', ['status'], unique=False)

    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('standing_subscriber_id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['standing_subscriber_id'], ['standing_subscribers.id'], ),
    sa.ForeignKeyConstraint(['window_id'], ['maintenance_windows.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('standing_subscriber_id', 'window_id', 'kind', name='uq_notices_subscriber_window_kind')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index('ix_notices_status_not_before', ['status', 'not_before'], unique=False)
        batch_op.create_index('ix_notices_window_id_kind', ['window_id', 'kind'], unique=False)

    op.create_table('notice_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['window_id'], ['maintenance_windows.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('window_id', 'kind', name='uq_notice_rounds_window_kind')
    )


def downgrade():
    op.drop_table('notice_rounds')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('ix_notices_window_id_kind')
        batch_op.drop_index('ix_notices_status_not_before')
    op.drop_table('notices')
    with op.batch_alter_table('standing_subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_standing_subscribers_status')
    op.drop_table('standing_subscribers')
