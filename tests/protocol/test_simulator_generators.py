"""The simulator's SET MUSIC and GET FULL VARIABLE, as Asterisk's source has them: opening
any sound stops the channel's music on hold (main/file.c openstream_internal, even for a
file that is then not found), and GET FULL VARIABLE echoes its expression with ${...}
substituted (res_agi.c handle_getvariablefull), which ccbox's interrupt marker relies on."""

from __future__ import annotations

import pytest

from drivers.asterisk.simulator.agi_caller import SimulatorLimitation
from tests.protocol.test_simulator_agi_strict import Rig


def moh(rig: Rig) -> list[str]:
    return [e["Event"] for e in rig.events if e.get("Event", "").startswith("MusicOnHold")]


def test_a_sound_opened_stops_set_musics_music() -> None:
    rig = Rig(sounds=("ccbox-queue-wait",))
    assert rig.ask("SET MUSIC ON default") == ["200 result=0"]
    assert moh(rig) == ["MusicOnHoldStart"]
    rig.send('STREAM FILE ccbox-queue-wait ""')
    assert moh(rig) == ["MusicOnHoldStart", "MusicOnHoldStop"]
    rig.advance(5)
    rig.read()
    # the music does not come back by itself, and stopping it again sends no event
    assert rig.ask("SET MUSIC OFF default") == ["200 result=0"]
    assert moh(rig) == ["MusicOnHoldStart", "MusicOnHoldStop"]


def test_a_missing_sound_stops_the_music_too() -> None:
    rig = Rig()
    rig.ask("SET MUSIC ON default")
    assert rig.ask('STREAM FILE ccbox-hold ""') == ["200 result=-1 endpos=0"]
    assert moh(rig) == ["MusicOnHoldStart", "MusicOnHoldStop"]


def test_say_and_get_data_stop_the_music() -> None:
    for command in ('SAY NUMBER 3 ""', "GET DATA beep 100 1"):
        rig = Rig()
        rig.ask("SET MUSIC ON default")
        rig.send(command)
        assert moh(rig) == ["MusicOnHoldStart", "MusicOnHoldStop"], command


def test_get_full_variable_echoes_its_expression_substituted() -> None:
    rig = Rig()
    assert rig.ask("GET FULL VARIABLE ccbox-sync-7") == ["200 result=1 (ccbox-sync-7)"]
    rig.ask('SET VARIABLE X "abc"')
    assert rig.ask("GET FULL VARIABLE a-${X}-${UNSET}") == ["200 result=1 (a-abc-)"]
    # A dialplan function the simulator does not have is refused, never expanded to "".
    with pytest.raises(SimulatorLimitation, match="SHELL"):
        rig.send("GET FULL VARIABLE ${SHELL(id)}")
