"""The sounds a test's simulated switch has installed.

A real box has ccbox's system sounds in Asterisk's sounds folder (``ccbox asterisk-config``
installs them; the demo renders them into the simulator's ``sounds_dir``). Tests install
the names only (drivers/asterisk/simulator/sounds.py), in both languages, so a sound the
code plays but the catalog lacks still answers ``result=-1`` as on the real switch.
"""

from __future__ import annotations

from drivers.asterisk.simulator.sounds import SoundLibrary
from ivr.prompt_library import SYSTEM_SOUNDS

LANGUAGES = ("en", "zh")


def install_test_sounds(library: SoundLibrary, *extra: str) -> SoundLibrary:
    """Every ccbox system sound (by name) and ``extra`` (e.g. a trace's demo-congrats)."""
    library.install_names(sorted(SYSTEM_SOUNDS), LANGUAGES)
    library.install_names(extra, LANGUAGES)
    return library


def sounds_for_tests(*extra: str) -> SoundLibrary:
    """A new library: Asterisk's core sounds, the system sounds and ``extra``."""
    return install_test_sounds(SoundLibrary(), *extra)
