"""Voicemail by phone over the simulator: the PIN, the messages with delete and keep, and the
lockout after repeated wrong PINs (across calls)."""

from __future__ import annotations

from drivers.asterisk.simulator.agi_caller import CallerScript
from ivr.prompt_audio import tone_wav
from tests.integration.test_ivr_switch import IVRTestCase


class VoicemailByPhoneTests(IVRTestCase):
    async def start_box(self) -> object:
        master = await self.start_ivr()
        await master.db.voicemail.set_pin("800", "2468")
        folder = master.config.data_dir / "voicemail" / "800"
        folder.mkdir(parents=True)
        for name in ("old", "new"):
            (folder / f"{name}.wav").write_bytes(tone_wav(440, 0.2))
            await master.db.voicemail.add("800", f"800/{name}.wav", 200, "139", "")
        return master

    async def test_listen_delete_and_keep(self) -> None:
        master = await self.start_box()
        folder = master.config.data_dir / "voicemail" / "800"
        # mailbox, PIN, then 7 (delete) during the first message; the second plays through
        outcome = await self.call(CallerScript(digits="800#2468#7", prompt_s=0.05), "voicemail")
        self.assertIn("GET DATA ccbox-vm-password 6000 8", outcome.commands)
        self.assertIn('SAY NUMBER 2 ""', outcome.commands)
        played = [c for c in outcome.commands if c.startswith(f"STREAM FILE {folder}")]
        self.assertEqual(len(played), 2)
        [left] = await master.db.voicemail.messages("800")
        self.assertTrue(left.heard)
        self.assertEqual(sorted(p.name for p in folder.iterdir()), [left.path.split("/")[1]])
        self.assertIn('STREAM FILE ccbox-vm-deleted ""', outcome.commands)

    async def test_wrong_pins_lock_the_mailbox_across_calls(self) -> None:
        master = await self.start_box()
        outcome = await self.call(
            CallerScript(digits="800#1111#800#2222#800#3333#", prompt_s=0.05), "voicemail"
        )
        self.assertEqual(outcome.commands.count('STREAM FILE ccbox-vm-incorrect ""'), 3)
        self.assertNotIn('SAY NUMBER 2 ""', outcome.commands)
        outcome = await self.call(
            CallerScript(digits="800#4444#800#5555#", prompt_s=0.05), "voicemail"
        )
        self.assertIn('STREAM FILE ccbox-vm-locked ""', outcome.commands)
        # Locked: even the right PIN is refused now.
        outcome = await self.call(CallerScript(digits="800#2468#", prompt_s=0.05), "voicemail")
        self.assertIn('STREAM FILE ccbox-vm-locked ""', outcome.commands)
        self.assertNotIn('SAY NUMBER 2 ""', outcome.commands)
        self.assertEqual(len(await master.db.voicemail.messages("800")), 2)
