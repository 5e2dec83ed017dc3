"""kb: training quizzes built from articles, assignments and results

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 23:50:00
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_quizzes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("allow_retake", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_quizzes")),
    )
    op.create_table(
        "training_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("correct", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('single', 'multiple', 'true_false')", name=op.f("ck_training_questions_kind")
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_training_questions_article_id_kb_articles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["training_quizzes.id"],
            name=op.f("fk_training_questions_quiz_id_training_quizzes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_questions")),
        sa.UniqueConstraint(
            "quiz_id", "position", name=op.f("uq_training_questions_quiz_id_position")
        ),
    )
    op.create_table(
        "training_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("due_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("assigned_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_training_assignments_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["training_quizzes.id"],
            name=op.f("fk_training_assignments_quiz_id_training_quizzes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_assignments")),
        sa.UniqueConstraint(
            "quiz_id", "agent_id", name=op.f("uq_training_assignments_quiz_id_agent_id")
        ),
    )
    op.create_index(
        "ix_training_assignments_agent_id", "training_assignments", ["agent_id"], unique=False
    )
    op.create_table(
        "training_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("submitted_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["training_assignments.id"],
            name=op.f("fk_training_attempts_assignment_id_training_assignments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_attempts")),
        sa.UniqueConstraint(
            "assignment_id", "number", name=op.f("uq_training_attempts_assignment_id_number")
        ),
    )
    op.create_table(
        "training_answers",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.String(length=64), nullable=False),
        sa.Column("is_correct", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["training_attempts.id"],
            name=op.f("fk_training_answers_attempt_id_training_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["training_questions.id"],
            name=op.f("fk_training_answers_question_id_training_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", "question_id", name=op.f("pk_training_answers")),
    )
    op.create_index(
        "ix_training_answers_question_id", "training_answers", ["question_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_training_answers_question_id", table_name="training_answers")
    op.drop_table("training_answers")
    op.drop_table("training_attempts")
    op.drop_index("ix_training_assignments_agent_id", table_name="training_assignments")
    op.drop_table("training_assignments")
    op.drop_table("training_questions")
    op.drop_table("training_quizzes")
