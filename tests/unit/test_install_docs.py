"""The install steps of docs/operations.md put in place what the systemd unit points at."""

from __future__ import annotations

import configparser
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def install_block() -> list[str]:
    """The command lines of the code blocks under '## Install by hand' (the package's own
    steps, '## Install on a box', are tests/integration/test_deb.py's)."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("## Install by hand") :]
    section = section[: section.index("\n## ", 3)]
    lines = [line[4:] for line in section.splitlines() if line.startswith("    ")]
    return [line.split("  #")[0].strip() for line in lines]


def unit_docs() -> list[str]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "systemd" / "ccboxd.service")
    return unit["Unit"]["Documentation"].split()


def test_the_units_documentation_is_a_file_the_install_steps_put_there(tmp_path: Path) -> None:
    """Run the documented `install` lines into a scratch root (as a packager's DESTDIR)."""
    root = tmp_path / "root"
    ran = 0
    for line in install_block():
        if not line.startswith("install ") or " -o " in line:  # -o: Asterisk's, needs root
            continue
        argv = [str(root) + arg if arg.startswith("/") else arg for arg in shlex.split(line)]
        sources = [a for a in argv[1:] if not a.startswith(("-", str(root))) and a != "0644"]
        if any("*" in a for a in sources):  # the shell's glob, relative to the checkout
            globbed = [str(p.relative_to(ROOT)) for a in sources for p in sorted(ROOT.glob(a))]
            assert globbed, line
            argv = [a for a in argv if a not in sources] + globbed
        dest = argv[argv.index("-t") + 1] if "-t" in argv else argv[-1]
        # the box has these folders; the scratch root makes them
        (Path(dest) if "-t" in argv or dest.endswith("/") else Path(dest).parent).mkdir(
            parents=True, exist_ok=True
        )
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
        ran += 1
    assert ran >= 4
    assert (root / "etc/systemd/system/ccboxd.service").is_file()
    docs = unit_docs()
    assert docs, "the unit names no documentation"
    for url in docs:
        # systemd takes http(s)://, file:, info: and man: URIs; ours are local files
        assert url.startswith("file:///"), url
        installed = root / url.removeprefix("file:///")
        assert installed.is_file(), f"{url} is not installed by docs/operations.md"
        assert installed.read_bytes() == (ROOT / "docs" / installed.name).read_bytes()


def test_the_install_line_has_what_the_box_runs_with() -> None:
    apt = next(line for line in install_block() if line.startswith("apt-get install"))
    # espeak-ng: the IVR's TTS prompts and ccbox's system sounds; libportaudio2: the box's
    # own sound card (sounddevice)
    assert {"espeak-ng", "libportaudio2"} <= set(apt.split())
