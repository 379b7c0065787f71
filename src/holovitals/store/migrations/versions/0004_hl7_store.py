"""hl7 message store

The message store answers "what did we say to the sender" (``ack_code``, which also drives
duplicate detection: only an accepted message makes a resend a duplicate) and is searched by
tenant with date, status and patient filters, and purged by age.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hl7_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ack_code", sa.String(length=2), nullable=True))
        batch_op.create_index("ix_hl7_messages_org_received", ["org_id", "received_at"], unique=False)
        batch_op.create_index("ix_hl7_messages_org_status", ["org_id", "status", "received_at"], unique=False)
        batch_op.create_index("ix_hl7_messages_org_patient", ["org_id", "patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hl7_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_hl7_messages_org_patient")
        batch_op.drop_index("ix_hl7_messages_org_status")
        batch_op.drop_index("ix_hl7_messages_org_received")
        batch_op.drop_column("ack_code")
