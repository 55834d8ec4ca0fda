"""Publishing: send built feeds to where channels fetch them, safely (see run.py)."""

from __future__ import annotations

from pathlib import Path

from feedsync.config import PublishConfig
from feedsync.errors import ConfigError
from feedsync.publish.base import Destination


def open_destination(name: str, config: PublishConfig, base_dir: Path) -> Destination:
    """The Destination for `config.url`, chosen by its scheme."""
    check_credentials(name, config)
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


def check_credentials(name: str, config: PublishConfig) -> None:
    """Credentials that cannot work are config errors that never echo the value: a token
    with a trailing newline (read from a file) would fail deep inside an HTTP library with
    a message quoting it; a token beside username/password would silently win."""
    if config.token is not None and (config.username or config.password is not None):
        raise ConfigError(f"publish.{name}: give either `token:` or `username:`/`password:`, "
                          "not both")
    given = {"password": config.password, "token": config.token,
             "private_key_passphrase": config.private_key_passphrase,
             **{f"headers.{key}": value for key, value in config.headers.items()}}
    for field, secret in given.items():
        if secret is None:
            continue
        value = secret.get_secret_value()
        if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ConfigError(f"publish.{name}.{field} starts or ends with whitespace or holds "
                              "a control character such as a line break (was it read from a "
                              "file with its newline?); remove it")
