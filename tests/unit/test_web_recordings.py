"""The recordings API and pages over real HTTP: strict search parameters, who sees which
recording, HTTP Range streaming, audited listening and downloads, hostile index paths and
ids, and the search and player pages with hostile caller names escaped."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import secrets
import wave
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import resolved
from recorder.postprocess import merge
from tests.support.appliance import RunningAppliance
from tests.support.http import Browser
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from webui import recording_api
from webui.recording_api import MAX_PART, Unsatisfiable, parse_query, parse_range

HOSTILE = "<img src=x onerror=alert(1)>"
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def seed(db: Any) -> None:
    agent_user = resolved(db.users.login_record("agent")).user.id
    mine = resolved(db.agents.add("1001", "Ann", "", "PJSIP/1001"))
    resolved(db.agents.link_user(mine.id, agent_user))
    resolved(db.agents.add("1002", "Bob", "", "PJSIP/1002"))
    resolved(db.queues.add("support"))


def stereo_wav(path: Path, seconds: float) -> bytes:
    """A stereo 8 kHz WAV whose samples count up (so every byte range is distinct)."""
    frames = int(8000 * seconds)
    pcm = b"".join(((i * 7) % 65536).to_bytes(2, "little") * 2 for i in range(frames))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return path.read_bytes()


def raw(b: Browser, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """GET with the browser's cookies; the body as bytes (audio is not text)."""
    conn = http.client.HTTPConnection(b.host, b.port, timeout=10)
    hdrs = {"Cookie": "; ".join(f"{k}={v}" for k, v in b.cookies.items()), **(headers or {})}
    try:
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-200", 100, (90, 99)),
        ("bytes=50-", 100, (50, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-500", 100, (0, 99)),
        ("bytes=0-", 10 * MAX_PART, (0, MAX_PART - 1)),
        ("bytes=0-1,5-6", 100, None),  # several ranges: the whole file
        ("bytes=9-3", 100, None),  # invalid: ignored
        ("items=0-9", 100, None),
        ("bytes=a-b", 100, None),
        ("bytes=-", 100, None),
        ("bytes=٣-9", 100, None),  # a non-ASCII digit
    ],
)
def test_parse_range(header: str | None, size: int, expected: Any) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_parse_query_is_strict() -> None:
    q = parse_query(
        {
            "start": "2026-03-01",
            "end": "2026-03-01",
            "caller": " 138 ",
            "talk_over": "yes",
            "min_duration_s": "5",
            "min_score": "60.5",
            "desc": "0",
            "agent": "",
        }
    )
    assert (q.start, q.end) == (T0.replace(hour=0), T0.replace(hour=0) + dt.timedelta(days=1))
    assert (q.caller, q.talk_over, q.min_duration_ms, q.min_score, q.descending) == (
        "138",
        True,
        5000,
        60.5,
        False,
    )
    assert q.agent_id is None
    q = parse_query({"start": "2026-03-01T17:00:00+08:00"})
    assert q.start == T0
    for params, field in (
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-03-01T09:00"}, "start"),  # no time zone
        ({"end": "2026-02-30"}, "end"),
        ({"channel": "abc"}, "channel"),
        ({"channel": "99999999999"}, "channel"),
        ({"group": "g0 OR 1=1"}, "group"),
        ({"group": "g0'--"}, "group"),
        ({"group": "x" * 33}, "group"),
        ({"group": ["g0", "g1"]}, "group"),
        ({"min_score": "1e9"}, "min_score"),
        ({"talk_over": "maybe"}, "talk_over"),
        ({"caller": "1" * 81}, "caller"),
        ({"caller": ["1", "2"]}, "caller"),
        ({"path": "x"}, "path"),
    ):
        with pytest.raises(recording_api.BadField, match=field):
            parse_query(params)


class RecordingWebTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.root = self.app.master.config.recording_dir
        db = self.app.master.db
        agents = {a.number: a.id for a in await db.agents.list_all()}
        [queue] = await db.queues.list_all()
        self.mine_bytes = stereo_wav(self.root / "2026/03/01/mine.wav", 1.0)
        stereo_wav(self.root / "2026/03/01/other.wav", 0.5)
        self.mine = await db.recordings.add(
            None,
            "2026/03/01/mine.wav",
            T0,
            1000,
            len(self.mine_bytes),
            "0" * 64,
            agent_id=agents["1001"],
            queue_id=queue.id,
            caller_number=HOSTILE,
            caller_name=HOSTILE,
            called_number="4008001",
            channel_number=17,
            trunk_group="g0",
            talk_over_ratio=0.25,
            peaks=[100, 20000, 300],
        )
        self.other = await db.recordings.add(
            None,
            "2026/03/01/other.wav",
            T0 + dt.timedelta(hours=1),
            500,
            1000,
            "0" * 64,
            agent_id=agents["1002"],
            caller_number="13800000002",
            qa_score=75.0,
        )

    async def json(self, b: Browser, path: str) -> Any:
        r = await self.call(b.get, path)
        return r.status, r.json()

    async def test_search_filters_and_strict_parameters(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        status, body = await self.json(b, "/api/recordings/index")
        self.assertEqual(status, 200)
        self.assertEqual([r["id"] for r in body["rows"]], [self.other, self.mine])
        self.assertEqual((body["total"], body["total_capped"]), (2, False))
        self.assertNotIn("peaks", body["rows"][0])
        for query, ids in (
            ("caller=" + "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", [self.mine]),
            ("channel=17", [self.mine]),
            ("group=g0", [self.mine]),
            ("group=g0&channel=17", [self.mine]),
            ("group=g1&channel=17", []),
            ("talk_over=no", [self.other]),
            ("min_score=70&max_score=80", [self.other]),
            ("start=2026-03-01T09:30:00Z", [self.other]),
            ("end=2026-03-01T09:30:00%2B00:00", [self.mine]),
            ("sort=started_at&desc=false", [self.mine, self.other]),
            ("min_duration_s=1", [self.mine]),
            ("limit=1&offset=1", [self.mine]),
        ):
            status, body = await self.json(b, "/api/recordings/index?" + query)
            self.assertEqual((status, [r["id"] for r in body["rows"]]), (200, ids), query)
        for query, field in (
            ("start=2026-03-01T09:00", "start"),
            ("channel=1%3BDROP", "channel"),
            ("group=g0%3BDROP", "group"),
            ("sort=path", "sort"),
            ("sort=started_at%20desc", "sort"),
            ("limit=500", "limit"),
            ("offset=-1", "offset"),
            ("caller=1&caller=2", "caller"),
            ("nosuch=1", "nosuch"),
            ("talk_over=2", "talk_over"),
        ):
            status, body = await self.json(b, "/api/recordings/index?" + query)
            self.assertEqual(status, 400, query)
            self.assertIn(field, body["error"], query)
        status, body = await self.json(b, f"/api/recordings/get?id={self.mine}")
        self.assertEqual((body["caller_name"], body["peaks"]), (HOSTILE, [100, 20000, 300]))
        self.assertEqual((body["trunk_group"], body["trunk_label"]), ("g0", "g0 / 17"))

    async def test_an_agent_sees_only_its_own_recordings(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        status, body = await self.json(b, "/api/recordings/index")
        self.assertEqual([r["id"] for r in body["rows"]], [self.mine])
        status, body = await self.json(
            b, f"/api/recordings/index?agent={body['rows'][0]['agent_id'] + 1}"
        )
        self.assertEqual(body["rows"], [])
        for path in ("get", "audio", "download"):
            r = await self.call(b.get, f"/api/recordings/{path}?id={self.other}")
            self.assertEqual(r.status, 404, path)  # not 403: it does not exist for this agent
        self.assertEqual((await self.call(b.get, f"/recordings/view?id={self.other}")).status, 404)
        status, _, data = await self.call(raw, b, f"/api/recordings/audio?id={self.mine}")
        self.assertEqual((status, data), (200, self.mine_bytes))
        qa = await self.app.logged_in("qa")
        status, body = await self.json(qa, "/api/recordings/index")
        self.assertEqual(len(body["rows"]), 2)
        status, _, data = await self.call(raw, qa, f"/api/recordings/audio?id={self.other}")
        self.assertEqual(status, 200)
        anonymous = self.app.browser()
        self.assertEqual((await self.call(anonymous.get, "/api/recordings/index")).status, 401)
        for path in ("audio", "download"):
            r = await self.call(anonymous.get, f"/api/recordings/{path}?id={self.mine}")
            self.assertEqual(r.status, 401)
        self.assertEqual((await self.call(anonymous.get, "/recordings")).status, 303)

    async def test_range_requests(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        url, size, data = (
            f"/api/recordings/audio?id={self.mine}",
            len(self.mine_bytes),
            self.mine_bytes,
        )
        status, headers, body = await self.call(raw, b, url)
        self.assertEqual((status, body, headers["Accept-Ranges"]), (200, data, "bytes"))
        self.assertEqual(
            (headers["Content-Length"], headers["Content-Type"]), (str(size), "audio/wav")
        )
        for header, first, last in (
            ("bytes=0-99", 0, 99),
            ("bytes=100-", 100, size - 1),
            ("bytes=-50", size - 50, size - 1),
            ("bytes=1000-999999", 1000, size - 1),
        ):
            status, headers, body = await self.call(raw, b, url, {"Range": header})
            self.assertEqual(status, 206, header)
            self.assertEqual(headers["Content-Range"], f"bytes {first}-{last}/{size}")
            self.assertEqual(body, data[first : last + 1], header)
            self.assertEqual(headers["Content-Length"], str(last - first + 1))
        status, headers, body = await self.call(raw, b, url, {"Range": f"bytes={size}-"})
        self.assertEqual((status, headers["Content-Range"]), (416, f"bytes */{size}"))
        status, headers, body = await self.call(raw, b, url, {"Range": "bytes=0-1,5-9"})
        self.assertEqual((status, body), (200, data))
        # an open-ended range is answered in parts; the player asks for the next one
        self.patch(recording_api, "MAX_PART", 4096)
        status, headers, body = await self.call(raw, b, url, {"Range": "bytes=10-"})
        self.assertEqual((status, headers["Content-Range"]), (206, f"bytes 10-4105/{size}"))
        self.assertEqual(body, data[10:4106])
        # a big file is read in chunks, not at once
        self.patch(recording_api, "CHUNK", 1000)
        status, headers, body = await self.call(raw, b, url, {"Range": "bytes=0-9999"})
        self.assertEqual(body, data[:10000])

    async def test_listening_and_downloading_are_audited(self) -> None:
        await self._start()
        db = self.app.master.db
        b = await self.app.logged_in("sup")
        url = f"/api/recordings/audio?id={self.mine}"
        await self.call(raw, b, url)
        await self.call(raw, b, url, {"Range": "bytes=0-"})
        await self.call(raw, b, url, {"Range": "bytes=500-"})  # the player reading on
        listens = await db.audit.recent("recording.listen", f"recording:{self.mine}")
        self.assertEqual(len(listens), 2)
        self.assertEqual({(a.actor, a.ip) for a in listens}, {("sup", "127.0.0.1")})
        status, headers, body = await self.call(raw, b, f"/api/recordings/download?id={self.mine}")
        self.assertEqual((status, body), (200, self.mine_bytes))
        self.assertEqual(
            headers["Content-Disposition"],
            f'attachment; filename="recording-{self.mine}-20260301-090000.wav"',
        )
        [download] = await db.audit.recent("recording.download")
        self.assertEqual((download.actor, download.target), ("sup", f"recording:{self.mine}"))
        # refused requests leave no trace
        await self.call(raw, b, "/api/recordings/download?id=999999")
        self.assertEqual(len(await db.audit.recent("recording.download")), 1)

    async def test_an_encrypted_recording_plays_its_plaintext(self) -> None:
        await self._start()
        key = secrets.token_bytes(32)
        legs = self.root.parent / "legs"
        legs.mkdir()
        (legs / "c-rx.ulaw").write_bytes(bytes(range(256)) * 40)
        (legs / "c-tx.ulaw").write_bytes(bytes(reversed(range(256))) * 40)
        out = self.root / "enc.wav"
        done = merge(legs / "c-rx.ulaw", legs / "c-tx.ulaw", out, key)
        self.assertNotEqual(out.read_bytes()[:4], b"RIFF")  # stored encrypted
        plain = merge(legs / "c-rx.ulaw", legs / "c-tx.ulaw", self.root / "plain.wav")
        expected = (self.root / "plain.wav").read_bytes()
        db = self.app.master.db
        rid = await db.recordings.add(
            None, "enc.wav", T0, done.duration_ms, done.size_bytes, done.sha256, encrypted=True
        )
        b = await self.app.logged_in("admin")
        url = f"/api/recordings/audio?id={rid}"
        # no key configured: the server says so, it does not serve ciphertext
        status, _, _ = await self.call(raw, b, url)
        self.assertEqual(status, 503)
        self.patch(self.app.master.recorder, "key", key)
        status, headers, body = await self.call(raw, b, url, {"Range": "bytes=100-4099"})
        self.assertEqual((status, body), (206, expected[100:4100]))
        self.assertEqual(headers["Content-Range"], f"bytes 100-4099/{len(expected)}")
        status, _, body = await self.call(raw, b, f"/api/recordings/download?id={rid}")
        self.assertEqual((status, body, plain.encrypted), (200, expected, False))
        # another key's file is refused, not served as noise
        self.patch(self.app.master.recorder, "key", b"k" * 32)
        status, _, _ = await self.call(raw, b, url)
        self.assertEqual(status, 404)

    async def test_hostile_index_paths_and_ids_are_404(self) -> None:
        await self._start()
        db = self.app.master.db
        outside = self.root.parent / "secret.wav"
        stereo_wav(outside, 0.1)
        os.symlink(outside, self.root / "link.wav")
        (self.root / "folder.wav").mkdir()
        hostile_paths = [
            "../../etc/passwd",
            "../secret.wav",
            "%2e%2e%2fsecret.wav",
            "..%2fsecret.wav",
            str(outside),
            "/etc/passwd",
            "link.wav",
            "folder.wav",
            "2026/03/01/mine.wav\x00.txt",
            "2026/03/01/./mine.wav",
            "2026//03/01/mine.wav",
            "missing.wav",
        ]
        ids = []
        for i, path in enumerate(hostile_paths):
            ids.append(
                await db.recordings.add(None, path, T0, 1, 1, "0" * 64, caller_number=f"h{i}")
            )
        b = await self.app.logged_in("admin")
        for rid, path in zip(ids, hostile_paths, strict=True):
            for what in ("audio", "download"):
                status, _, body = await self.call(raw, b, f"/api/recordings/{what}?id={rid}")
                self.assertEqual(status, 404, (what, path))
                self.assertNotIn(b"root:", body)
        for bad, expected in (
            ("-1", 404),
            ("0", 404),
            ("99999999999", 404),
            ("99999", 404),
            ("abc", 400),
            ("1%20OR%201=1", 400),
            ("..%2F..%2Fetc%2Fpasswd", 400),
            ("", 400),
        ):
            for what in ("get", "audio", "download"):
                r = await self.call(b.get, f"/api/recordings/{what}?id={bad}")
                self.assertEqual(r.status, expected, (what, bad))
        self.assertEqual(await db.audit.recent("recording.download"), [])

    async def test_search_page_and_player_page(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        page = await self.call(b.get, "/recordings?caller=&sort=qa_score&desc=1")
        self.assertEqual(page.status, 200)
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page.body)
        self.assertIn(f'href="/recordings/view?id={self.mine}"', page.body)
        for column in ("started_at", "duration_ms", "caller_number", "agent_id", "queue_id"):
            self.assertIn(f"sort={column}", page.body)
        # the sorted column's header flips the order
        flip = (
            'class="sort sorted desc" href="/recordings?desc=0&amp;limit=50&amp;offset=0&amp;sort'
        )
        self.assertIn(flip + '=qa_score"', page.body)
        for name in (
            "start",
            "end",
            "caller",
            "called",
            "channel",
            "group",
            "agent",
            "queue",
            "min_duration_s",
            "max_duration_s",
            "talk_over",
            "min_score",
            "max_score",
        ):
            self.assertIn(f'name="{name}"', page.body)
        self.assertIn("1002 Bob", page.body)  # the agent picker
        self.assertIn('<td class="num rec-trunk">g0 / 17</td>', page.body)
        bad = await self.call(b.get, "/recordings?start=%3Cscript%3E")
        self.assertEqual(bad.status, 400)
        self.assertIn("start must be a date", bad.body)
        self.assertNotIn("<script>", bad.body)
        bad = await self.call(b.get, "/recordings?sort=path")
        self.assertEqual(bad.status, 400)
        player = await self.call(b.get, f"/recordings/view?id={self.mine}")
        self.assertEqual(player.status, 200)
        audio = f'src="/api/recordings/audio?id={self.mine}"'
        self.assertIn(f'<audio id="rec-audio" controls preload="metadata" {audio}>', player.body)
        self.assertIn('data-peaks="100,20000,300"', player.body)
        self.assertIn('<canvas id="rec-wave"', player.body)
        self.assertIn(f'href="/qa/score?recording={self.mine}"', player.body)
        self.assertIn(f'href="/api/recordings/download?id={self.mine}"', player.body)
        self.assertIn('<script src="/static/recording_player.js"></script>', player.body)
        self.assertNotIn(HOSTILE, player.body)
        self.assertIn("25%", player.body)  # the talk-over
        self.assertIn('<td id="rec-trunk">g0 / 17</td>', player.body)
        self.assertEqual((await self.call(b.get, "/recordings/view?id=x")).status, 400)
        self.assertEqual((await self.call(b.get, "/recordings/view?id=424242")).status, 404)
        token = page.csrf()
        await self.call(b.post, "/locale", {"locale": "zh_CN", "_csrf": token})
        zh = await self.call(b.get, f"/recordings/view?id={self.mine}")
        self.assertEqual(zh.status, 200)
        self.assertIn('lang="zh-CN"', zh.body)
        # an agent gets no agent picker: it only ever sees its own
        agent = await self.app.logged_in("agent")
        page = await self.call(agent.get, "/recordings")
        self.assertNotIn('name="agent"', page.body)
        self.assertIn(f"/recordings/view?id={self.mine}", page.body)
        self.assertNotIn(f"/recordings/view?id={self.other}", page.body)
