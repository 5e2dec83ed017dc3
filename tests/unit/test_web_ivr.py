"""The IVR and voicemail JSON API over real HTTP: flows (save, validate, publish, roll back,
try it), prompt uploads with bad files, and voicemail with its role checks."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import wave
from typing import Any

import soundfile as sf

from appliance.cli import resolved
from ivr.prompt_audio import tone_wav
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

GOOD = {
    "start": "m",
    "nodes": [
        {"id": "m", "type": "menu", "props": {"prompt": "ccbox-welcome", "options": ["1"]}},
        {"id": "q", "type": "queue", "props": {"queue": "support"}},
    ],
    "edges": [{"from": "m", "out": "1", "to": "q"}],
}
BAD = {**GOOD, "edges": []}


def seed(db: Any) -> None:
    agent_user = resolved(db.users.login_record("agent")).user.id
    agent = resolved(db.agents.add("1001", "Agent", "", "PJSIP/1001"))
    resolved(db.agents.link_user(agent.id, agent_user))
    resolved(db.queues.add("support"))
    resolved(db.voicemail.add_mailbox("800", "Front desk"))
    resolved(db.voicemail.add_mailbox("1001", "Agent 1001", "agent", "1001"))


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(8)
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        )
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
    )
    out.write(data + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class IvrApiTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.b = await self.app.logged_in("admin")
        self.token = (await self.call(self.b.get, "/")).csrf()

    async def post(self, path: str, body: Any) -> Any:
        return await self.call(self.b.post_json, path, body, self.token)

    async def upload(self, filename: str, data: bytes) -> Any:
        body, ctype = multipart({"label": "Welcome", "language": "en"}, filename, data)
        headers = {"Content-Type": ctype, "X-CSRF-Token": self.token}
        return await self.call(self.b.request, "POST", "/api/ivr/prompts", body, headers)

    async def test_create_save_validate_publish_and_roll_back(self) -> None:
        await self._start()
        r = await self.post("/api/ivr/flows", {"name": "main", "graph": BAD})
        self.assertEqual((r.status, r.json()["version"]), (201, 1))
        flow_id = r.json()["id"]
        r = await self.post("/api/ivr/validate", {"graph": BAD, "name": "main"})
        self.assertEqual(
            r.json()["problems"],
            [
                {"node": "m", "message": "menu key 1 leads nowhere"},
                {"node": "q", "message": "cannot be reached from the start"},
            ],
        )
        r = await self.post("/api/ivr/publish", {"id": flow_id, "version": 1})
        self.assertEqual(r.status, 422)
        self.assertIn({"node": "m", "message": "menu key 1 leads nowhere"}, r.json()["problems"])
        r = await self.post("/api/ivr/save", {"id": flow_id, "graph": GOOD})
        self.assertEqual(r.json(), {"version": 2})
        r = await self.post("/api/ivr/publish", {"id": flow_id, "version": 2})
        self.assertEqual((r.status, r.json()), (200, {"published": 2}))
        r = await self.call(self.b.get, f"/api/ivr/flow?id={flow_id}")
        self.assertEqual((r.json()["version"], r.json()["graph"]), (2, GOOD))
        self.assertEqual(r.json()["flow"]["published_version"], 2)
        r = await self.call(self.b.get, f"/api/ivr/history?id={flow_id}")
        self.assertEqual(
            [(h["version"], h["author"], h["published"]) for h in r.json()],
            [(2, "admin", True), (1, "admin", False)],
        )
        self.assertEqual(r.json()[0]["note"], "connections changed")
        # Rolling back to version 1 is refused: it is not valid.
        r = await self.post("/api/ivr/publish", {"id": flow_id, "version": 1})
        self.assertEqual(r.status, 422)
        published = await self.app.master.db.ivr.published(flow_id)
        self.assertEqual(published.version, 2)

    async def test_ivr_traffic_per_node(self) -> None:
        await self._start()
        db = self.app.master.db
        now = dt.datetime.now(dt.UTC)
        for node in ("main", "main", "billing"):
            call = await db.calls.start(
                uniqueid=f"u{node}{now.timestamp()}{secrets.token_hex(2)}",
                linkedid="l",
                direction="inbound",
                started_at=now,
            )
            await db.calls.add_event(call, "ivr_step", now, {"flow": "f", "node": node})
        r = await self.call(self.b.get, "/api/ivr/traffic?days=1")
        self.assertEqual(r.json(), {"f/main": 2, "f/billing": 1})
        r = await self.call(self.b.get, "/api/ivr/traffic?days=x")
        self.assertEqual(r.status, 400)

    async def test_numbers_are_bound_to_flows(self) -> None:
        await self._start()
        r = await self.post("/api/ivr/flows", {"name": "main", "graph": GOOD})
        flow_id = r.json()["id"]
        r = await self.post("/api/ivr/dids", {"number": "4008001234", "flow_id": flow_id})
        self.assertEqual(r.status, 200)
        for bad in ({"number": "40;Dial"}, {"number": "1", "flow_id": 999}):
            r = await self.post("/api/ivr/dids", bad)
            self.assertIn(r.status, (400, 404), bad)
        r = await self.call(self.b.get, "/api/ivr/dids")
        self.assertEqual(
            r.json(), [{"number": "4008001234", "flow_id": flow_id, "description": ""}]
        )
        self.assertEqual(await self.app.master.db.ivr.flow_for_did("4008001234"), flow_id)
        self.assertIsNone(await self.app.master.db.ivr.flow_for_did("4008005678"))

    async def test_the_validator_speaks_chinese(self) -> None:
        await self._start()
        await self.call(self.b.post, "/locale", {"locale": "zh_CN", "_csrf": self.token})
        r = await self.post("/api/ivr/validate", {"graph": BAD, "name": "x"})
        messages = [p["message"] for p in r.json()["problems"]]
        self.assertEqual(len(messages), 2)
        self.assertTrue(all(any("\u4e00" <= c <= "\u9fff" for c in m) for m in messages), messages)

    async def test_bad_flow_requests(self) -> None:
        await self._start()
        for body in (
            {"name": "Bad Name", "graph": GOOD},
            {"name": "x", "graph": {"nodes": "no"}},
            {"name": "y" * 65},
        ):
            r = await self.post("/api/ivr/flows", body)
            self.assertEqual(r.status, 400, body)
        r = await self.post("/api/ivr/flows", {"name": "dup", "graph": GOOD})
        r = await self.post("/api/ivr/flows", {"name": "dup", "graph": GOOD})
        self.assertEqual(r.status, 409)
        r = await self.post("/api/ivr/save", {"id": 999, "graph": GOOD})
        self.assertEqual(r.status, 404)
        r = await self.post("/api/ivr/publish", {"id": "1; DROP TABLE", "version": 1})
        self.assertEqual(r.status, 400)
        agent = await self.app.logged_in("agent")
        r = await self.call(agent.get, "/api/ivr/flows")
        self.assertEqual(r.status, 403)

    async def test_try_it_walks_the_draft(self) -> None:
        await self._start()
        r = await self.post("/api/ivr/try", {"graph": GOOD, "name": "main"})
        run = r.json()
        self.assertEqual((run["waiting"], run["ended"]), ("digit", False))
        self.assertEqual([e["kind"] for e in run["events"]], ["step", "play"])
        self.assertEqual(run["events"][1]["prompt"], "ccbox-welcome")
        r = await self.post("/api/ivr/try_input", {"run": run["run"], "input": "1"})
        run = r.json()
        self.assertTrue(run["ended"])
        kinds = [(e["kind"], e["text"]) for e in run["events"]]
        self.assertIn(("queue", "the caller waits in queue support (priority 0)"), kinds)
        self.assertEqual(kinds[-1][0], "end")
        self.assertEqual(self.app.master.acd.snapshot()["queues"][0]["offered"], 0)  # only a try
        r = await self.post("/api/ivr/try_input", {"run": "nope", "input": "1"})
        self.assertEqual(r.status, 404)

    async def test_prompt_upload_converts_and_names_it(self) -> None:
        await self._start()
        buf = io.BytesIO()
        sf.write(buf, [0.1, -0.1] * 22050, 44100, format="WAV", subtype="PCM_16")
        r = await self.upload("../../etc/passwd;$(id).wav", buf.getvalue())
        self.assertEqual(r.status, 201, r.body)
        name = r.json()["name"]
        self.assertRegex(name, r"^p-[0-9a-f]{12}$")
        path = self.app.master.config.data_dir / "prompts" / f"{name}.wav"
        with wave.open(str(path)) as w:
            self.assertEqual((w.getframerate(), w.getnchannels(), w.getnframes()), (8000, 1, 8000))
        r = await self.call(self.b.get, f"/api/ivr/prompt?name={name}")
        self.assertEqual(
            (r.status, r.headers["Content-Type"], r.body[:4]), (200, "audio/wav", "RIFF")
        )
        r = await self.call(self.b.get, "/api/ivr/prompt?name=../ccbox.conf")
        self.assertEqual(r.status, 404)
        r = await self.call(self.b.get, "/api/ivr/catalog")
        self.assertIn(name, r.json()["prompts"])
        self.assertIn("menu", r.json()["node_types"])

    async def test_bad_uploads_are_refused_and_nothing_is_written(self) -> None:
        await self._start()
        folder = self.app.master.config.data_dir / "prompts"
        ten_hours = io.BytesIO()
        with wave.open(ten_hours, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(1)
            w.setframerate(100)
            w.writeframes(b"\x80" * (100 * 36000))
        cases = [
            ("x.wav", b"<html><script>alert(1)</script></html>", "HTML"),
            ("x.wav", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
            ("long.wav", ten_hours.getvalue(), "too long"),
            ("x.wav", tone_wav(440, 1)[:60], "damaged"),
            ("x.wav", b"", "empty"),
        ]
        for filename, data, why in cases:
            r = await self.upload(filename, data)
            self.assertEqual(r.status, 400, (why, r.body))
            self.assertIn(why.lower(), r.json()["error"].lower(), why)
        self.assertEqual(list(folder.glob("*")) if folder.exists() else [], [])
        self.assertEqual(await self.app.master.db.ivr.prompts(), [])


class VoicemailApiTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        folder = self.app.master.config.data_dir / "voicemail"
        db = self.app.master.db
        for box in ("800", "1001"):
            (folder / box).mkdir(parents=True)
            (folder / box / "m.wav").write_bytes(tone_wav(440, 0.5))
            await db.voicemail.add(box, f"{box}/m.wav", 500, "139", "<img src=x onerror=alert(1)>")

    async def test_an_agent_sees_only_its_own_mailbox(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.get, "/api/voicemail/messages")
        [mine] = r.json()
        self.assertEqual(
            (mine["mailbox"], mine["caller_name"]), ("1001", "<img src=x onerror=alert(1)>")
        )
        r = await self.call(b.get, "/api/voicemail/messages?mailbox=800")
        self.assertEqual(r.status, 403)
        others = [m for m in await self.app.master.db.voicemail.messages("800")]
        r = await self.call(b.get, f"/api/voicemail/audio?id={others[0].id}")
        self.assertEqual(r.status, 404)
        r = await self.call(b.get, f"/api/voicemail/audio?id={mine['id']}")
        self.assertEqual((r.status, r.headers["Content-Type"]), (200, "audio/wav"))
        r = await self.call(
            b.post_json, "/api/voicemail/mark", {"id": mine["id"], "heard": True}, token
        )
        self.assertEqual(r.status, 200)
        self.assertTrue((await self.app.master.db.voicemail.message(mine["id"])).heard)
        r = await self.call(b.get, "/api/voicemail/audio?id=../../ccbox.conf")
        self.assertEqual(r.status, 400)

    async def test_forward_then_delete_keeps_the_shared_file_until_the_last_copy(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        token = (await self.call(b.get, "/")).csrf()
        [msg] = await self.app.master.db.voicemail.messages("800")
        r = await self.call(
            b.post_json, "/api/voicemail/forward", {"id": msg.id, "mailbox": "1001"}, token
        )
        copy_id = r.json()["id"]
        path = self.app.master.config.data_dir / "voicemail" / "800" / "m.wav"
        r = await self.call(b.post_json, "/api/voicemail/delete", {"id": msg.id}, token)
        self.assertEqual(r.status, 200)
        self.assertTrue(path.exists())  # the forwarded copy still uses it
        r = await self.call(b.post_json, "/api/voicemail/delete", {"id": copy_id}, token)
        self.assertFalse(path.exists())
        r = await self.call(
            b.post_json, "/api/voicemail/forward", {"id": copy_id, "mailbox": "1001"}, token
        )
        self.assertEqual(r.status, 404)
        r = await self.call(
            b.post_json, "/api/voicemail/forward", {"id": 1, "mailbox": "999"}, token
        )
        self.assertEqual(r.status, 404)

    async def test_an_admin_adds_a_mailbox_with_a_pin(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        token = (await self.call(b.get, "/")).csrf()
        body = {
            "number": "900",
            "name": "Sales",
            "owner_kind": "queue",
            "owner": "sales",
            "email": "sales@example.com",
            "pin": "2468",
        }
        r = await self.call(b.post_json, "/api/voicemail/mailboxes", body, token)
        self.assertEqual((r.status, r.json()["has_pin"]), (201, True))
        self.assertTrue(await self.app.master.db.voicemail.check_pin("900", "2468"))
        r = await self.call(b.post_json, "/api/voicemail/mailboxes", {**body, "pin": "12"}, token)
        self.assertEqual(r.status, 400)
        r = await self.call(b.post_json, "/api/voicemail/mailboxes", {**body, "pin": ""}, token)
        self.assertEqual(r.status, 409)


class VoicemailPageTests(WebTestCase):
    _start = VoicemailApiTests._start

    async def test_the_page_lists_escapes_and_acts(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        page = await self.call(b.get, "/voicemail")
        self.assertEqual(page.status, 200)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page.body)
        self.assertNotIn("<img src=x", page.body)
        self.assertEqual(page.body.count("<audio"), 1)  # its own mailbox only
        [mine] = await self.app.master.db.voicemail.messages("1001")
        token = page.csrf()
        r = await self.call(
            b.post, "/voicemail/action", {"_csrf": token, "id": str(mine.id), "action": "heard"}
        )
        self.assertEqual((r.status, r.location.endswith("/voicemail")), (303, True))
        self.assertTrue((await self.app.master.db.voicemail.message(mine.id)).heard)
        [other] = await self.app.master.db.voicemail.messages("800")
        r = await self.call(
            b.post, "/voicemail/action", {"_csrf": token, "id": str(other.id), "action": "delete"}
        )
        self.assertEqual(r.status, 404)
        self.assertIsNotNone(await self.app.master.db.voicemail.message(other.id))
        r = await self.call(
            b.post, "/voicemail/action", {"_csrf": token, "id": str(mine.id), "action": "rm -rf"}
        )
        self.assertEqual(r.status, 400)
        r = await self.call(
            b.post, "/voicemail/action", {"_csrf": token, "id": str(mine.id), "action": "delete"}
        )
        self.assertEqual(r.status, 303)
        self.assertEqual(await self.app.master.db.voicemail.messages("1001"), [])


class PromptPageTests(WebTestCase):
    async def test_upload_and_speak_from_the_page(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        b = await self.app.logged_in("admin")
        token = (await self.call(b.get, "/prompts")).csrf()
        body, ctype = multipart(
            {"label": "<b>Hi</b>", "language": "en", "_csrf": token}, "a.wav", tone_wav(440, 0.5)
        )
        r = await self.call(b.request, "POST", "/prompts/upload", body, {"Content-Type": ctype})
        self.assertEqual(r.status, 303, r.body)
        body, ctype = multipart({"_csrf": token}, "x.wav", b"<html>")
        r = await self.call(b.request, "POST", "/prompts/upload", body, {"Content-Type": ctype})
        self.assertEqual(r.status, 303)
        r = await self.call(
            b.post, "/prompts/speak", {"_csrf": token, "text": "-n <i>hello</i>", "lang": "en"}
        )
        self.assertEqual(r.status, 303)
        page = await self.call(b.get, "/prompts")
        self.assertIn("&lt;b&gt;Hi&lt;/b&gt;", page.body)
        self.assertIn("-n &lt;i&gt;hello&lt;/i&gt;", page.body)
        self.assertIn("it looks like HTML", page.body)  # the refusal, as a message
        self.assertEqual(page.body.count("<audio"), 2)
        sources = sorted(p.source for p in await self.app.master.db.ivr.prompts())
        self.assertEqual(sources, ["tts", "upload"])
        agent = await self.app.logged_in("agent")
        self.assertEqual((await self.call(agent.get, "/prompts")).status, 403)
