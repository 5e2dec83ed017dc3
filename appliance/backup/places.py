"""Where a box keeps what a backup holds, from its config (a restore may name another
data directory: the database and recordings follow it when the config left them there)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.config import Config


@dataclass(frozen=True)
class Places:
    config_file: Path
    data_dir: Path
    database_url: str
    recording_dir: Path
    key_file: Path | None  # the recording key ([recording] encryption_key_file)
    # The data folders whose ccboxd would use this database or these folders (a restore
    # refuses while one runs): this one, and the config's when the database or the
    # recordings stay the config's.
    daemon_dirs: tuple[Path, ...] = ()

    def area(self, name: str) -> Path:
        """The folder of an archive area (appliance/backup/layout.py AREAS)."""
        if name == "recordings":
            return self.recording_dir
        return self.data_dir / name

    @property
    def restored_config(self) -> Path:
        """Where a restore writes the archive's config file for the admin to review."""
        return self.data_dir / "ccbox.conf.restored"

    @property
    def restored_key(self) -> Path:
        """Where the recording key goes when the config names no key file."""
        return self.key_file or self.data_dir / "recording.key"


def places(config: Config, data_dir: Path | None = None) -> Places:
    """The places of ``config``, or of ``data_dir`` instead of its own."""
    old = config.data_dir
    new = Path(data_dir) if data_dir is not None else old
    url = config.database_url
    if url == f"sqlite:///{old / 'ccbox.sqlite'}":
        url = f"sqlite:///{new / 'ccbox.sqlite'}"
    recordings = config.recording_dir
    if recordings == old / "recordings":
        recordings = new / "recordings"
    shared = url == config.database_url or recordings == config.recording_dir
    return Places(
        config_file=config.path,
        data_dir=new,
        database_url=url,
        recording_dir=recordings,
        key_file=config.recording.encryption_key_file,
        daemon_dirs=(new, old) if shared and old != new else (new,),
    )
