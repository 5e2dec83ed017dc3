"""The full-text query on each database, over the same tokens (appliance/kb/tokens.py).

Both ask for every query token (AND) and weigh a title's tokens ten times a body's: SQLite
with FTS5's bm25 (title and body columns, weights 10 and 1), PostgreSQL with ts_rank over
the generated tsvector (title weighted A = 1.0, body D = 0.1) divided by 1 + log(length).
Ties go to the lower article id on both. Migration 0013 made the index objects.

A word in a great many articles would have every one of them ranked, which no page can
wait for: the ranking looks at the newest CANDIDATES articles that match (by id, the same
ones on both databases), and a query that matches fewer ranks them all.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CANDIDATES = 500

SQLITE = """
SELECT article_id, score FROM (
    SELECT kb_fts.rowid AS article_id, -bm25(kb_fts, 10.0, 1.0) AS score
    FROM kb_fts JOIN kb_search AS s ON s.article_id = kb_fts.rowid
    WHERE kb_fts MATCH :match {filters}
    ORDER BY kb_fts.rowid DESC LIMIT :candidates)
ORDER BY score DESC, article_id
LIMIT :limit OFFSET :offset
"""
# The candidates by the GIN index and a sort of their ids ("+ 0": never a backward walk of
# the primary key, which would read every row's tsvector), then ranked.
POSTGRESQL = """
WITH c AS MATERIALIZED (
    SELECT s.article_id FROM kb_search AS s
    WHERE s.tsv @@ plainto_tsquery('simple', :match) {filters}
    ORDER BY s.article_id + 0 DESC LIMIT :candidates)
SELECT s.article_id AS article_id, ts_rank(s.tsv, q.q, 1) AS score
FROM c JOIN kb_search AS s ON s.article_id = c.article_id,
    plainto_tsquery('simple', :match) AS q(q)
ORDER BY score DESC, s.article_id
LIMIT :limit OFFSET :offset
"""


def fts_match(conn: Connection, tokens: Sequence[str]) -> str:
    """The query string the dialect's MATCH / plainto_tsquery takes for ``tokens``."""
    if conn.dialect.name == "sqlite":
        return " ".join('"' + t.replace('"', '""') + '"' for t in tokens)
    return " ".join(tokens)


def ranked(
    conn: Connection,
    tokens: Sequence[str],
    limit: int,
    offset: int = 0,
    live_only: bool = True,
    lang: str | None = None,
) -> list[tuple[int, float]]:
    """(article id, score) of the articles holding every token, best first."""
    if not tokens:
        return []
    filters = []
    params: dict[str, object] = {
        "match": fts_match(conn, tokens),
        "limit": limit,
        "offset": offset,
        "candidates": CANDIDATES,
    }
    if live_only:
        filters.append("AND s.live")
    if lang is not None:
        filters.append("AND s.lang = :lang")
        params["lang"] = lang
    sql = SQLITE if conn.dialect.name == "sqlite" else POSTGRESQL
    rows = conn.execute(sa.text(sql.format(filters=" ".join(filters))), params)
    return [(int(r.article_id), float(r.score)) for r in rows]
