"""bypass links: secret links that let testers through a maintenance window

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    # Only the SHA-256 of each link's token is stored; the raw token is shown once.
    op.create_table('bypass_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['window_id'], ['maintenance_windows.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('bypass_links', schema=None) as batch_op:
        batch_op.create_index('ix_bypass_links_window_id', ['window_id'], unique=False)


def downgrade():
    with op.batch_alter_table('bypass_links', schema=None) as batch_op:
        batch_op.drop_index('ix_bypass_links_window_id')

    op.drop_table('bypass_links')
