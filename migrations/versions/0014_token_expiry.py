"""API tokens: an expiry, rotation with a grace period for the previous secret

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, all nullable: no table rebuild on SQLite; tokens made before keep working
    # (no expiry, no previous secret).
    op.add_column('api_tokens', sa.Column('expires_at', sa.DateTime(), nullable=True))
    op.add_column('api_tokens', sa.Column('previous_token_hash', sa.String(length=64), nullable=True))
    op.add_column('api_tokens', sa.Column('previous_valid_until', sa.DateTime(), nullable=True))
    op.add_column('api_tokens', sa.Column('rotated_at', sa.DateTime(), nullable=True))
    op.add_column('api_tokens', sa.Column('last_expired_use_at', sa.DateTime(), nullable=True))
    op.create_index('ix_api_tokens_previous_token_hash', 'api_tokens', ['previous_token_hash'], unique=False)


def downgrade():
    op.drop_index('ix_api_tokens_previous_token_hash', table_name='api_tokens')
    op.drop_column('api_tokens', 'last_expired_use_at')
    op.drop_column('api_tokens', 'rotated_at')
    op.drop_column('api_tokens', 'previous_valid_until')
    op.drop_column('api_tokens', 'previous_token_hash')
    op.drop_column('api_tokens', 'expires_at')
