"""webhook subscribers, and their notices in the outbound queue

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('secret_rotated_at', sa.DateTime(), nullable=True),
    sa.Column('disabled_by', sa.String(length=254), nullable=True),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_subscribers', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_subscribers_disabled_at', ['disabled_at'], unique=False)

    # Rows queued before this migration are OUTBOUND_WEBHOOK_URLS deliveries: all three stay NULL.
    # No batch mode, which would rebuild the table on SQLite (see 0013): SQLite takes the foreign
    # key inline in ADD COLUMN, PostgreSQL as a named constraint; uniqueness is a unique index.
    op.add_column('outbound_webhooks', sa.Column(
        'subscriber_id', sa.Integer(),
        sa.ForeignKey('webhook_subscribers.id', name='fk_outbound_webhooks_subscriber_id'), nullable=True,
    ), inline_references=op.get_bind().dialect.name == 'sqlite')
    op.add_column('outbound_webhooks', sa.Column('window_id', sa.Integer(), nullable=True))
    op.add_column('outbound_webhooks', sa.Column('notice', sa.String(length=64), nullable=True))
    op.create_index(
        'uq_outbound_webhooks_subscriber_notice', 'outbound_webhooks', ['subscriber_id', 'window_id', 'notice'],
        unique=True)


def downgrade():
    op.drop_index('uq_outbound_webhooks_subscriber_notice', table_name='outbound_webhooks')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_outbound_webhooks_subscriber_id', 'outbound_webhooks', type_='foreignkey')
    op.drop_column('outbound_webhooks', 'notice')
    op.drop_column('outbound_webhooks', 'window_id')
    op.drop_column('outbound_webhooks', 'subscriber_id')

    with op.batch_alter_table('webhook_subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_subscribers_disabled_at')

    op.drop_table('webhook_subscribers')
