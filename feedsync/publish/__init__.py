"""Publishing: send built feeds to where channels fetch them, safely (see run.py)."""

from __future__ import annotations

from pathlib import Path

from feedsync.config import PublishConfig
from feedsync.errors import ConfigError
from feedsync.publish.base import Destination


def open_destination(name: str, config: PublishConfig, base_dir: Path) -> Destination:
    """The Destination for `config.url`, chosen by its scheme."""
    scheme, sep, rest = config.url.partition("://")
    scheme = scheme.lower() if sep else "file"
    if scheme == "file":
        from feedsync.publish.local import LocalDestination

        directory = Path(rest if sep else config.url).expanduser()
        return LocalDestination(name, config, base_dir / directory)
    if scheme == "sftp":
        from feedsync.publish.sftp import SftpDestination

        return SftpDestination(name, config, base_dir)
    if scheme in ("ftp", "ftps"):
        from feedsync.publish.ftp import FtpDestination

        return FtpDestination(name, config, base_dir)
    if scheme in ("http", "https"):
        from feedsync.publish.http import HttpDestination

        return HttpDestination(name, config, base_dir)
    if scheme == "google-merchant":
        from feedsync.publish.google_api import MerchantApiDestination

        return MerchantApiDestination(name, config, base_dir)
    if scheme == "meta-catalog":
        from feedsync.publish.meta_api import MetaCatalogDestination

        return MetaCatalogDestination(name, config, base_dir)
    raise ConfigError(f"publish.{name}.url: unsupported scheme {scheme!r}")
