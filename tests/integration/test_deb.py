"""`make deb`: the package is built (scripts/deb/build.sh, the wheels cached in build/deb),
its contents checked, then installed by the real dpkg into a throw-away root (``dpkg --root``
with the maintainer scripts run against that root: ``--force-script-chrootless``, DPKG_ROOT),
``ccbox config check`` run from the installed tree (bind-mounted on /opt/ccbox in a private
mount namespace, as the scripts' shebangs name /opt/ccbox), then removed and purged.

Needs root (dpkg, unshare), dpkg-dev (dpkg-shlibdeps: scripts/system-deps.sh --deb, which
make test runs) and the web UI's npm libraries (make deps)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr import system_sounds
from webui import vendor

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/opt/ccbox"
EPOCH = "1767225600"  # 2026-01-01: every member's mtime (SOURCE_DATE_EPOCH)


@dataclass(frozen=True)
class Built:
    deb: Path
    fields: dict[str, str]
    members: dict[str, tuple[str, str, str]]  # path -> (mode, owner, link target)
    control: Path  # the control archive, extracted


def run(*cmd: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    build = REPO / "scripts/deb/build.sh"
    run(build, "--out", out, "--python", sys.executable, "--fast", env=env, timeout=600)
    (deb,) = out.glob("ccbox_*.deb")
    fields = dict(re.findall(r"^(\S+): (.*)$", run("dpkg-deb", "-f", deb), flags=re.MULTILINE))
    members = {}
    for line in run("dpkg-deb", "-c", deb).splitlines():
        mode, owner, _size, _date, _time, name, *rest = line.split(maxsplit=6)
        path = name.removeprefix(".").rstrip("/") or "/"
        members[path] = (mode, owner, rest[0].removeprefix("-> ") if rest else "")
    control = out / "control"
    run("dpkg-deb", "-e", deb, control)
    yield Built(deb, fields, members, control)
    deb.unlink()  # 100 MB: pytest keeps the last runs' folders


def test_the_package_holds_the_venv_units_config_docs_sounds_and_browser_libraries(
    built: Built,
) -> None:
    f = built.fields
    assert f["Package"] == "ccbox"
    assert re.fullmatch(r"\d+\.\d+\.\d+-1", f["Version"])
    assert built.deb.name == f"ccbox_{f['Version']}_{f['Architecture']}.deb"
    depends = f["Depends"]
    assert depends.startswith("python3 (>= 3.11), python3 (<< 3.12), ")
    assert re.search(r"\blibc6 \(>= [\d.]+\)", depends)  # from the compiled objects
    assert "libportaudio2" in depends  # sounddevice's, loaded by name
    assert "postgresql" in f["Recommends"]
    assert "espeak-ng" in f["Recommends"]

    m = built.members
    assert {owner for _mode, owner, _to in m.values()} == {"root/root"}
    # ccboxd (User=ccbox) reads the tree whatever the builder's umask: only the config is not
    # world-readable, and every folder can be entered.
    unreadable = {path for path, (mode, _o, _t) in m.items() if mode[7] != "r"}
    assert unreadable == {"/etc/ccbox/ccbox.conf"}, unreadable
    shut = {path for path, (mode, _o, _t) in m.items() if mode[0] == "d" and mode[9] != "x"}
    assert not shut, shut
    assert m["/usr/bin/ccbox"] == ("lrwxrwxrwx", "root/root", f"{PREFIX}/bin/ccbox")
    assert m["/usr/bin/ccboxd"][2] == f"{PREFIX}/bin/ccboxd"
    for exe in ("ccbox", "ccboxd"):
        assert m[f"{PREFIX}/bin/{exe}"][0] == "-rwxr-xr-x"
    assert m[f"{PREFIX}/bin/python3"][2] == "/usr/bin/python3"
    assert m["/etc/ccbox/ccbox.conf"][0] == "-rw-r-----"
    assert (built.control / "conffiles").read_text() == "/etc/ccbox/ccbox.conf\n"
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(built.control / script, os.X_OK)
    assert "/usr/lib/sysusers.d/ccbox.conf" in m
    assert "/usr/lib/tmpfiles.d/ccbox.conf" in m

    unit = (REPO / "systemd/ccboxd.service").read_text()
    assert "/lib/systemd/system/ccboxd.service" in m
    for exe in re.findall(r"^Exec\w*=(\S+)", unit, flags=re.MULTILINE):
        assert exe in m, exe
    (doc,) = re.findall(r"^Documentation=file://(\S+)", unit, flags=re.MULTILINE)
    assert doc in m
    for name in ("copyright", "changelog.Debian.gz", "changelog.gz"):
        assert f"/usr/share/doc/ccbox/{name}" in m

    site = f"{PREFIX}/lib/python3.11/site-packages"
    for path in vendor.FILES.values():
        assert f"{site}/{path.relative_to(REPO)}" in m, path
    for path in (REPO / "webui/static/chat").iterdir():  # the web chat's widget
        assert f"{site}/{path.relative_to(REPO)}" in m, path
    for lang in system_sounds.LANGUAGES:
        for name in system_sounds.CATALOG:
            assert f"/usr/share/ccbox/sounds/{lang}/{name}.wav" in m
    # The compiled hot paths and their byte code, built for the interpreter that runs them.
    assert f"{site}/acd/_route_c.cpython-311-x86_64-linux-gnu.so" in m
    assert f"{site}/appliance/__pycache__/cli.cpython-311.pyc" in m
    # Reproducible: one mtime for every member, file order fixed by dpkg-deb.
    dates = {tuple(line.split()[3:5]) for line in run("dpkg-deb", "-c", built.deb).splitlines()}
    assert len(dates) == 1


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """An empty root with a dpkg database of its own."""
    r = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
        (r / d).mkdir(parents=True)
    (r / "var/lib/dpkg/status").touch()
    yield r
    leftovers = running_from(r)
    assert not leftovers, leftovers


def running_from(root: Path) -> list[str]:
    """Processes whose program or command line is inside ``root`` or /opt/ccbox."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            exe = os.readlink(proc / "exe")
        except OSError:
            continue
        if any(str(root) in s or s.startswith(PREFIX) for s in (cmdline, exe)):
            found.append(f"{proc.name}: {cmdline}")
    return found


def dpkg(root: Path, *args: str | Path, purge_data: bool = False) -> str:
    """The real dpkg on ``root``; maintainer scripts run here with DPKG_ROOT set."""
    env = {k: v for k, v in os.environ.items() if k != "CCBOX_PURGE_DATA"}
    if purge_data:
        env["CCBOX_PURGE_DATA"] = "yes"
    return run(
        "dpkg",
        f"--root={root}",
        "--force-script-chrootless",
        "--force-depends",
        "--log=/dev/null",
        *args,
        env=env,
    )


def in_namespace(root: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    """``cmd`` in a private mount namespace where ``root``'s /opt/ccbox is /opt/ccbox."""
    script = (
        'mount -t tmpfs tmpfs /opt && mkdir /opt/ccbox && mount --bind "$0/opt/ccbox" '
        '/opt/ccbox && exec "$@"'
    )
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(root)}
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(root), *cmd],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=60,
    )


def test_installed_into_a_root_it_checks_its_config_then_goes_away(
    built: Built, root: Path
) -> None:
    host_wants = sorted(Path("/etc/systemd/system").glob("*/ccboxd.service"))
    print(dpkg(root, "-i", built.deb))
    assert "install ok installed" in dpkg(root, "-s", "ccbox")
    assert dpkg(root, "--verify", "ccbox") == ""  # every file as md5sums says

    # postinst: the user and folders (sysusers, tmpfiles), the config's group, the unit.
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").open()}
    groups = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").open()}
    assert users["ccbox"][5] == "/var/lib/ccbox"
    uid, gid = int(users["ccbox"][2]), int(groups["ccbox"][2])
    state = (root / "var/lib/ccbox").stat()
    assert (state.st_mode & 0o7777, state.st_uid) == (0o711, uid)
    backups = (root / "var/lib/ccbox/backups").stat()
    assert (backups.st_mode & 0o7777, backups.st_uid, backups.st_gid) == (0o750, uid, gid)
    conf = (root / "etc/ccbox/ccbox.conf").stat()
    assert (conf.st_mode & 0o777, conf.st_uid, conf.st_gid) == (0o640, 0, gid)
    wants = root / "etc/systemd/system/multi-user.target.wants/ccboxd.service"
    assert os.readlink(wants) == "/lib/systemd/system/ccboxd.service"  # enabled, not started
    assert sorted(Path("/etc/systemd/system").glob("*/ccboxd.service")) == host_wants
    for script in (root / f"{PREFIX.lstrip('/')}/bin").iterdir():
        if script.is_file():
            head = script.read_bytes()[:64]
            assert b"build/deb" not in head and not head.startswith(b"#!/work"), script
    assert "home = /usr/bin\n" in (root / "opt/ccbox/pyvenv.cfg").read_text()

    config = f"{root}/etc/ccbox/ccbox.conf"
    check = in_namespace(root, f"{root}/usr/bin/ccbox", "--config", config, "config", "check")
    assert (check.returncode, check.stdout, check.stderr) == (0, f"{config}: ok\n", "")
    probe = in_namespace(
        root,
        f"{root}/usr/bin/ccboxd",
        "--help",
    )
    assert probe.returncode == 0, probe.stderr
    where = in_namespace(
        root,
        f"{PREFIX}/bin/python3",
        "-c",
        "import sys, appliance.cli, acd._route_c, recorder._dsp_c, drivers.audio._g711_c, "
        "drivers.asterisk.ami._scan_c; from webui import vendor; "
        "print(sys.prefix, sys.base_prefix, appliance.cli.main.__code__.co_filename, "
        "acd._route_c.__file__, vendor.missing())",
    )
    assert where.returncode == 0, where.stderr
    site = f"{PREFIX}/lib/python3.11/site-packages"
    assert where.stdout.split(" ", 4) == [
        PREFIX,
        "/usr",
        f"{site}/appliance/cli.py",
        f"{site}/acd/_route_c.cpython-311-x86_64-linux-gnu.so",
        "[]\n",
    ]

    dpkg(root, "-r", "ccbox")
    assert not (root / "opt/ccbox").exists()
    assert not (root / "usr/bin/ccbox").is_symlink()
    assert (root / "etc/ccbox/ccbox.conf").is_file()  # a conffile stays until purge
    assert os.readlink(root / "etc/systemd/system/ccboxd.service") == "/dev/null"  # masked
    assert not running_from(root)

    (root / "etc/ccbox/recording.key").write_bytes(b"k" * 32)
    (root / "etc/ccbox/extra.conf").write_text("an admin's own file\n")
    (root / "var/lib/ccbox/ccbox.sqlite").write_bytes(b"data")
    dpkg(root, "-P", "ccbox")
    # Purge removes the configuration, but not the key of the recordings it keeps.
    assert [p.name for p in (root / "etc/ccbox").iterdir()] == ["recording.key"]
    assert (root / "var/lib/ccbox/ccbox.sqlite").read_bytes() == b"data"
    assert not (root / "etc/systemd/system/ccboxd.service").is_symlink()
    assert "ccbox" not in run("dpkg", f"--root={root}", "-l")

    # Asked to (CCBOX_PURGE_DATA=yes), purge takes the data and the key too.
    dpkg(root, "-i", built.deb)
    dpkg(root, "-P", "ccbox", purge_data=True)
    for gone in ("etc/ccbox", "var/lib/ccbox", "opt/ccbox"):
        assert not (root / gone).exists(), gone
    assert not running_from(root)
