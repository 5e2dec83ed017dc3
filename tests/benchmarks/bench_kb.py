"""Knowledge-base search on 100,000 articles, Chinese and English mixed
(``CCBOX_BENCH_KB_ARTICLES`` shrinks it for a trial).

- ``kb search p95``: the 95th percentile of ``KBStore.search`` (tokens, the FTS5 query with
  bm25, the hits' rows, the snippets) on SQLite, in milliseconds, over ROUNDS queries typed
  as people type them: one or two English words, one or two Chinese words, a word of each;
  against a ``LIKE '%word%'`` scan of the same queries over titles and texts (every word,
  20 rows, unranked) in the same run. Goal: under 20 ms.
- ``kb search p95 postgresql``: the same on a private PostgreSQL server
  (scripts/test-postgres.sh): the GIN index over the generated tsvector, ts_rank.
  Both rank at most the newest ``search.CANDIDATES`` matches of a query (appliance/kb/search.py).
- ``kb search median`` (and its PostgreSQL twin): the same queries' median.

The corpus: words drawn Zipf-like from a vocabulary (English: 5,000 words made of
syllables, stemmed as real words are; Chinese: 5,000 two- and three-character words of 400
common characters), titles of 4 to 10 words, bodies of 80 to 300, half the articles in each
language, all published. Query words are drawn from the vocabulary's ranks 10 to 3,000
(log-uniform): searched words, not the few that are in every article. Loaded in bulk: rows
by executemany (SQLite, the FTS5 triggers in place) or COPY (PostgreSQL, the GIN index
built after), as a migration or an import would.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from appliance.kb.store import KBStore, search_row
from tests.benchmarks.bench_reports import pg_database, postgresql
from tests.benchmarks.harness import Result, call_ms

ARTICLES = int(os.environ.get("CCBOX_BENCH_KB_ARTICLES", "100000"))
ROUNDS = 200
LIKE_ROUNDS = 20
VOCABULARY = 5000
CATEGORIES = 50
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下"
    "过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两"
    "体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线"
    "内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并"
    "提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见"
    "计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七"
    "海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场"
    "身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广"
    "石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办"
    "青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江"
    "型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
)
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


def vocabularies(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """English-like and Chinese words, most frequent first (their rank is their index)."""
    english: dict[str, None] = {}
    while len(english) < VOCABULARY:
        n = int(rng.integers(2, 4))
        word = "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), n))
        english[word + ("s" if rng.random() < 0.1 else "")] = None
    chinese: dict[str, None] = {}
    while len(chinese) < VOCABULARY:
        n = 2 if rng.random() < 0.8 else 3
        chinese["".join(HANZI[i] for i in rng.integers(0, len(HANZI), n))] = None
    return list(english), list(chinese)


def zipf_weights(n: int) -> np.ndarray:
    w = 1.0 / (np.arange(n) + 5.0)
    return w / w.sum()


def articles(rng: np.random.Generator) -> Iterator[tuple[str, str, str, str]]:
    """(lang, title, html, text) of every article."""
    english, chinese = vocabularies(rng)
    p = zipf_weights(VOCABULARY)
    for i in range(ARTICLES):
        zh = i % 2 == 1
        words = chinese if zh else english
        n_title, n_body = int(rng.integers(4, 11)), int(rng.integers(80, 301))
        picks = rng.choice(VOCABULARY, n_title + n_body, p=p)
        chosen = [words[k] for k in picks]
        sep = "" if zh else " "
        title = sep.join(chosen[:n_title])[:200]
        body = chosen[n_title:]
        third = max(1, len(body) // 3)
        paragraphs = [sep.join(body[j : j + third]) for j in range(0, len(body), third)]
        if zh:
            paragraphs = [p + "。" for p in paragraphs]
        else:
            paragraphs = [p.capitalize() + "." for p in paragraphs]
        html = "".join(f"<p>{p}</p>" for p in paragraphs)
        yield ("zh" if zh else "en", title, html, "\n".join(paragraphs))


def queries(rng: np.random.Generator) -> list[str]:
    english, chinese = vocabularies(np.random.default_rng(1))
    out = []
    for _ in range(ROUNDS):
        ranks = np.exp(rng.uniform(np.log(10), np.log(3000), 2)).astype(int)
        kind = int(rng.integers(0, 5))
        if kind == 0:
            out.append(english[ranks[0]])
        elif kind == 1:
            out.append(f"{english[ranks[0]]} {english[ranks[1]]}")
        elif kind == 2:
            out.append(chinese[ranks[0]])
        elif kind == 3:
            out.append(chinese[ranks[0]] + chinese[ranks[1]])
        else:
            out.append(f"{chinese[ranks[0]]} {english[ranks[1]]}")
    return out


def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The kb_articles and kb_search rows (the store's own search_row for the tokens)."""
    arts, search = [], []
    for i, (lang, title, html, text) in enumerate(articles(np.random.default_rng(1)), start=1):
        arts.append(
            {
                "id": i,
                "category_id": 1 + i % CATEGORIES,
                "title": title,
                "html": html,
                "text": text,
                "lang": lang,
                "state": "published",
                "tags": "",
                "author": "bench",
                "reviewer": "bench",
                "version": 1,
                "live_version": 1,
                "published_at": NOW,
                "views": 0,
                "helpful_yes": 0,
                "helpful_no": 0,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        search.append(search_row(i, True, lang, title, (), text))
    return arts, search


def categories(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO kb_categories (id, name, position, created_at) VALUES (:i, :n, 0, :t)"
            ),
            [{"i": i, "n": f"c{i}", "t": NOW} for i in range(1, CATEGORIES + 1)],
        )


def load_sqlite(path: Path, arts: list[dict[str, Any]], search: list[dict[str, Any]]) -> float:
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    categories(engine)
    engine.dispose()
    start = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("BEGIN")
    for table, data in (("kb_articles", arts), ("kb_search", search)):
        names = list(data[0])
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608
        db.executemany(sql, ([_sqlite(r[k]) for k in names] for r in data))
    db.execute("INSERT INTO kb_fts(kb_fts) VALUES ('optimize')")
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return time.perf_counter() - start


def _naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value


def _sqlite(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value


def load_postgresql(url: str, arts: list[dict[str, Any]], search: list[dict[str, Any]]) -> float:
    engine = create_engine(url)
    migrate.upgrade(engine)
    categories(engine)
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("DROP INDEX ix_kb_search_tsv")
            for table, data in (("kb_articles", arts), ("kb_search", search)):
                names = list(data[0])
                with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                    for r in data:
                        copy.write_row([_naive(r[k]) for k in names])
            cur.execute("CREATE INDEX ix_kb_search_tsv ON kb_search USING gin (tsv)")
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('kb_articles', 'id'), "
                "(SELECT max(id) FROM kb_articles))"
            )
        conn.commit()
        with conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE kb_articles")
            cur.execute("VACUUM ANALYZE kb_search")
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - start


def like_scan(db: DBConnector, query: str) -> Callable[[], object]:
    """The baseline: every word of the query somewhere in a published title or text."""
    words = query.split()

    def run() -> object:
        def thd(conn: sa.Connection) -> list[Any]:
            where = " AND ".join(
                f"(title LIKE :w{i} OR text LIKE :w{i})" for i in range(len(words))
            )
            sql = (
                f"SELECT id, title FROM kb_articles WHERE state = 'published' AND {where}"  # noqa: S608
                " LIMIT 20"
            )
            return list(
                conn.execute(sa.text(sql), {f"w{i}": f"%{w}%" for i, w in enumerate(words)})
            )

        return resolved(db.run(thd))

    return run


def measure(url: str, name: str) -> list[Result]:
    db = DBConnector(None, url, inline=True)  # type: ignore[arg-type]
    resolved(db.startService())
    try:
        kb = KBStore(db)
        # one more query than rounds: call_ms's warm-up takes the first
        qs = iter(queries(np.random.default_rng(5)))
        hits: list[int] = []
        fts_ms = call_ms(lambda: hits.append(len(resolved(kb.search(next(qs))))), ROUNDS - 1)
        like_qs = iter(queries(np.random.default_rng(5))[: LIKE_ROUNDS + 1])
        like_ms = call_ms(lambda: like_scan(db, next(like_qs))(), LIKE_ROUNDS)
    finally:
        resolved(db.stopService())
    suffix = "" if name == "sqlite" else f" {name}"
    note = (
        f"{ARTICLES:,} articles on {name}: {len(fts_ms)} queries, "
        f"{statistics.mean(hits):.1f} hits each (at most 20), "
        f"{sum(1 for h in hits if h == 0)} with none; goal under 20 ms"
    )
    return [
        Result(
            f"kb search p95{suffix}",
            statistics.quantiles(fts_ms, n=20)[-1],
            "ms",
            "LIKE scan p95",
            statistics.quantiles(like_ms, n=20)[-1],
            better="lower",
            note=note,
        ),
        Result(
            f"kb search median{suffix}",
            statistics.median(fts_ms),
            "ms",
            "LIKE scan median",
            statistics.median(like_ms),
            better="lower",
        ),
    ]


def say(text: str) -> None:
    print(f"bench_kb: {text}", flush=True)


def run() -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-kb-"))
    started = time.perf_counter()
    try:
        arts, search = rows()
        say(f"{ARTICLES:,} articles made and tokenized in {time.perf_counter() - started:.0f} s")
        path = tmp / "kb.sqlite"
        load_s = load_sqlite(path, arts, search)
        say(f"sqlite: loaded in {load_s:.0f} s")
        results = measure(f"sqlite:///{path}", "sqlite")
        with postgresql() as admin:
            if admin is not None:
                url = pg_database(admin, "ccbox_bench_kb")
                load_s = load_postgresql(url, arts, search)
                say(f"postgresql: loaded in {load_s:.0f} s")
                results += measure(url, "postgresql")
        say(f"done in {time.perf_counter() - started:.0f} s")
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
