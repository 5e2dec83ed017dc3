"""ccbox asterisk-config: files Asterisk can read (pyst2 parses them back), least privilege."""

from __future__ import annotations

from pathlib import Path

import asterisk.config
import pytest

from appliance import cli
from appliance.config import parse
from drivers.asterisk import confgen

SECRET = "0123456789abcdef"


def config(extra: str = "") -> object:
    return parse(f"[ami]\nsecret = {SECRET}\n{extra}")


def read(path: Path) -> dict[str, list[tuple[str, str]]]:
    cfg = asterisk.config.Config(str(path))
    return {c.name: [(i.name, i.value.strip()) for i in c.items] for c in cfg.categories}


def test_writes_files_asterisk_can_read(tmp_path: Path) -> None:
    paths = confgen.write(config(), tmp_path)  # type: ignore[arg-type]
    assert sorted(p.name for p in paths) == [
        "README.txt",
        "extensions_ccbox.conf",
        "manager_ccbox.conf",
    ]
    manager = dict(read(tmp_path / "manager_ccbox.conf")["ccbox"])
    assert manager["secret"] == SECRET
    assert manager["permit"] == "127.0.0.1/255.255.255.255"
    assert manager["deny"] == "0.0.0.0/0.0.0.0"
    write = set(manager["write"].split(","))
    assert not write & {"system", "command", "config", "all"}  # nothing that is root
    assert "originate" in write and "call" in write
    assert "all" not in manager["read"].split(",")
    assert (tmp_path / "manager_ccbox.conf").stat().st_mode & 0o777 == 0o640


def test_dialplan_routes_trunks_into_fastagi_and_spy_modes(tmp_path: Path) -> None:
    confgen.write(config("[fastagi]\nport = 4600\n"), tmp_path, trunk="DAHDI/g1")  # type: ignore[arg-type]
    contexts = read(tmp_path / "extensions_ccbox.conf")
    assert set(contexts) >= {
        "ccbox-inbound",
        "ccbox-agents",
        "ccbox-outbound",
        "ccbox-outbound-connect",
        "ccbox-supervise",
    }
    inbound = [v for _, v in contexts["ccbox-inbound"]]
    assert "n,AGI(agi://127.0.0.1:4600/inbound,${EXTEN})" in inbound
    outbound = [v for _, v in contexts["ccbox-outbound"]]
    assert "_X.,1,Dial(DAHDI/g1/${EXTEN},60)" in outbound
    spy = [v for _, v in contexts["ccbox-supervise"]]
    for mode, opts in (("listen", "qEu"), ("whisper", "qEuw"), ("barge", "qEuB")):
        assert f"{mode},1,Answer()" in spy
        assert f"n,ChanSpy(${{CCBOX_SPY_TARGET}},{opts})" in spy


@pytest.mark.parametrize(
    ("conf", "trunk", "message"),
    [
        ("", "DAHDI/g0", "at least 12 characters"),  # no secret
        ("[ami]\nsecret = short\n", "DAHDI/g0", "at least 12 characters"),
        ("[ami]\nsecret = 0123456789abc;x\n", "DAHDI/g0", "must not contain"),
        (f"[ami]\nsecret = {SECRET}\n", "DAHDI/g1&PJSIP/x", "trunk"),
        (f"[ami]\nsecret = {SECRET}\n", "Local/x@ctx", "trunk"),
    ],
)
def test_unsafe_inputs_are_refused(tmp_path: Path, conf: str, trunk: str, message: str) -> None:
    with pytest.raises(confgen.ConfgenError, match=message):
        confgen.write(parse(conf), tmp_path, trunk=trunk)
    assert not (tmp_path / "manager_ccbox.conf").exists()


def test_cli_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "ccbox.conf"
    conf.write_text(f"[ami]\nsecret = {SECRET}\n")
    out = tmp_path / "asterisk"
    assert cli.main(["--config", str(conf), "asterisk-config", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and (out / "README.txt").exists()
    conf.write_text("[ami]\nsecret = x\n")
    assert cli.main(["--config", str(conf), "asterisk-config", "--out", str(out)]) == 1
    assert "at least 12 characters" in capsys.readouterr().err
