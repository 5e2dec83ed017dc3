"""kb: knowledge base categories, articles, versions, review, search

The full-text index is the database's own, over kb_search's token text (appliance/kb/tokens.py
makes the tokens in Python, the same for both): SQLite an FTS5 table (kb_fts, external
content kb_search, unicode61 without diacritics removal) kept in step by triggers;
PostgreSQL a generated tsvector column (tsv: the title's tokens weighted A, the body's D, in
the 'simple' configuration) with a GIN index. Neither is in the model (the migration test
leaves them out of the comparison).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:50:00
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5(title_tokens, body_tokens, content='kb_search',"
    " content_rowid='article_id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER kb_search_fts_insert AFTER INSERT ON kb_search BEGIN"
    " INSERT INTO kb_fts(rowid, title_tokens, body_tokens)"
    " VALUES (new.article_id, new.title_tokens, new.body_tokens); END",
    "CREATE TRIGGER kb_search_fts_delete AFTER DELETE ON kb_search BEGIN"
    " INSERT INTO kb_fts(kb_fts, rowid, title_tokens, body_tokens)"
    " VALUES ('delete', old.article_id, old.title_tokens, old.body_tokens); END",
    "CREATE TRIGGER kb_search_fts_update AFTER UPDATE OF title_tokens, body_tokens"
    " ON kb_search BEGIN"
    " INSERT INTO kb_fts(kb_fts, rowid, title_tokens, body_tokens)"
    " VALUES ('delete', old.article_id, old.title_tokens, old.body_tokens);"
    " INSERT INTO kb_fts(rowid, title_tokens, body_tokens)"
    " VALUES (new.article_id, new.title_tokens, new.body_tokens); END",
)
POSTGRESQL_FTS = (
    "ALTER TABLE kb_search ADD COLUMN tsv tsvector GENERATED ALWAYS AS"
    " (setweight(to_tsvector('simple'::regconfig, title_tokens), 'A')"
    " || setweight(to_tsvector('simple'::regconfig, body_tokens), 'D')) STORED",
    "CREATE INDEX ix_kb_search_tsv ON kb_search USING gin (tsv)",
    # the token texts and the tsvector out of line: a search reads many rows' ids and flags
    # (a heap six times smaller), and only the few it ranks' tsvectors
    "ALTER TABLE kb_search SET (toast_tuple_target = 128)",
)


def upgrade() -> None:
    op.create_table(
        "kb_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["kb_categories.id"],
            name=op.f("fk_kb_categories_parent_id_kb_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
    )
    op.create_index(
        op.f("ix_kb_categories_parent_id"), "kb_categories", ["parent_id"], unique=False
    )
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("html", sa.Text(), server_default="", nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("tags", sa.String(length=500), server_default="", nullable=False),
        sa.Column("author", sa.String(length=64), server_default="", nullable=False),
        sa.Column("reviewer", sa.String(length=64), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("live_version", sa.Integer(), nullable=True),
        sa.Column("published_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("views", sa.Integer(), server_default="0", nullable=False),
        sa.Column("helpful_yes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("helpful_no", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("lang IN ('zh', 'en')", name=op.f("ck_kb_articles_lang")),
        sa.CheckConstraint(
            "state IN ('draft', 'review', 'published', 'archived')",
            name=op.f("ck_kb_articles_state"),
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["kb_categories.id"],
            name=op.f("fk_kb_articles_category_id_kb_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    op.create_index(
        op.f("ix_kb_articles_category_id"), "kb_articles", ["category_id"], unique=False
    )
    op.create_index(
        "ix_kb_articles_state_updated_at", "kb_articles", ["state", "updated_at"], unique=False
    )
    op.create_table(
        "kb_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), server_default="", nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('image', 'document', 'audio')", name=op.f("ck_kb_attachments_kind")
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_attachments_article_id_kb_articles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_attachments")),
    )
    op.create_index(
        op.f("ix_kb_attachments_article_id"), "kb_attachments", ["article_id"], unique=False
    )
    op.create_index(
        "ix_kb_attachments_uploaded_by_created_at",
        "kb_attachments",
        ["uploaded_by", "created_at"],
        unique=False,
    )
    op.create_table(
        "kb_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_comments_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_comments")),
    )
    op.create_index(op.f("ix_kb_comments_article_id"), "kb_comments", ["article_id"], unique=False)
    op.create_table(
        "kb_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.String(length=16), server_default="", nullable=False),
        sa.Column("to_state", sa.String(length=16), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=2000), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_history_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_history")),
    )
    op.create_index(op.f("ix_kb_history_article_id"), "kb_history", ["article_id"], unique=False)
    op.create_table(
        "kb_links",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "kind IN ('queue', 'flow_node', 'ticket_type')", name=op.f("ck_kb_links_kind")
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_links_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "kind", "target", name=op.f("pk_kb_links")),
    )
    op.create_index("ix_kb_links_kind_target", "kb_links", ["kind", "target"], unique=False)
    op.create_table(
        "kb_search",
        sa.Column("article_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("title_tokens", sa.Text(), nullable=False),
        sa.Column("body_tokens", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_search_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_kb_search")),
    )
    op.create_index(
        "ix_kb_search_article_id_live_lang",
        "kb_search",
        ["article_id", "live", "lang"],
        unique=False,
    )
    op.create_table(
        "kb_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("tags", sa.String(length=500), server_default="", nullable=False),
        sa.Column("author", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_versions_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_versions")),
        sa.UniqueConstraint("article_id", "number", name=op.f("uq_kb_versions_article_id_number")),
    )
    op.create_table(
        "kb_votes",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_votes_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "username", name=op.f("pk_kb_votes")),
    )
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRESQL_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS kb_search_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS kb_fts")
    op.drop_table("kb_votes")
    op.drop_table("kb_versions")
    op.drop_index("ix_kb_search_article_id_live_lang", table_name="kb_search")
    op.drop_table("kb_search")
    op.drop_index("ix_kb_links_kind_target", table_name="kb_links")
    op.drop_table("kb_links")
    op.drop_index(op.f("ix_kb_history_article_id"), table_name="kb_history")
    op.drop_table("kb_history")
    op.drop_index(op.f("ix_kb_comments_article_id"), table_name="kb_comments")
    op.drop_table("kb_comments")
    op.drop_index("ix_kb_attachments_uploaded_by_created_at", table_name="kb_attachments")
    op.drop_index(op.f("ix_kb_attachments_article_id"), table_name="kb_attachments")
    op.drop_table("kb_attachments")
    op.drop_index("ix_kb_articles_state_updated_at", table_name="kb_articles")
    op.drop_index(op.f("ix_kb_articles_category_id"), table_name="kb_articles")
    op.drop_table("kb_articles")
    op.drop_index(op.f("ix_kb_categories_parent_id"), table_name="kb_categories")
    op.drop_table("kb_categories")
