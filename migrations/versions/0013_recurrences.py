"""recurring windows: recurrences, and the occurrence each planned window is

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'recurrences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule', sa.JSON(), nullable=False),
        sa.Column('window', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by', sa.String(length=254), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('deleted_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    # No batch mode: on SQLite it would rebuild maintenance_windows, and with foreign keys on
    # (app/__init__.py) dropping the old table fails once any row points at a window. SQLite takes
    # the foreign key inline in ADD COLUMN (allowed as the default is NULL); PostgreSQL adds it
    # as a named constraint.
    op.add_column('maintenance_windows', sa.Column(
        'recurrence_id', sa.Integer(),
        sa.ForeignKey('recurrences.id', name='fk_maintenance_windows_recurrence_id'), nullable=True,
    ), inline_references=op.get_bind().dialect.name == 'sqlite')
    op.add_column('maintenance_windows', sa.Column('occurrence_at', sa.DateTime(), nullable=True))
    # A unique index, not a constraint: SQLite cannot add a constraint without a rebuild.
    op.create_index(
        'uq_maintenance_windows_occurrence', 'maintenance_windows', ['recurrence_id', 'occurrence_at'],
        unique=True)


def downgrade():
    op.drop_index('uq_maintenance_windows_occurrence', table_name='maintenance_windows')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_maintenance_windows_recurrence_id', 'maintenance_windows', type_='foreignkey')
    op.drop_column('maintenance_windows', 'occurrence_at')
    op.drop_column('maintenance_windows', 'recurrence_id')
    op.drop_table('recurrences')
