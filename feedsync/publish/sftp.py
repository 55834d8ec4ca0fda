"""SFTP with paramiko: checked host key, temporary name, size check, `posix-rename`.

The server's host key must be in a known_hosts file or match a fingerprint pinned in the
config; an unknown key is refused, never added. The feed is uploaded under a temporary
name in the target directory, its size checked, then moved over the live name with the
`posix-rename@openssh.com` extension, which replaces atomically (plain SFTP RENAME
refuses to overwrite). Temporary files a killed run left are swept before each upload.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import posixpath
import secrets
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paramiko

from feedsync.config import PublishConfig
from feedsync.errors import ConfigError
from feedsync.publish.base import (
    FatalError,
    PublishResult,
    RetriableError,
    Upload,
    is_temp_of,
    remote_location,
    temp_name,
)
from feedsync.publish.retry import RetryPolicy

# paramiko logs dropped connections at ERROR; feedsync reports them itself, once.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class HostKeyRefused(paramiko.SSHException):
    pass


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's `SHA256:...` fingerprint, as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _CheckHostKey(paramiko.MissingHostKeyPolicy):
    """Called for keys not in known_hosts: accept only the pinned fingerprint."""

    def __init__(self, pinned: str | None) -> None:
        self.pinned = pinned

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        seen = fingerprint(key)
        if self.pinned is None:
            raise HostKeyRefused(f"the host key of {hostname} ({key.get_name()} {seen}) is not "
                                 "in known_hosts; refusing to connect (pin it with `host_key:` "
                                 "after checking it with the server's owner)")
        if seen != self.pinned:
            raise HostKeyRefused(f"the host key of {hostname} is {seen}, not the pinned "
                                 f"{self.pinned}; refusing to connect")


class SftpDestination:
    def __init__(self, name: str, config: PublishConfig, base_dir: Path) -> None:
        self.name = name
        self.config = config
        url = urlsplit(config.url)
        if not url.hostname:
            raise ConfigError(f"publish.{name}.url: an sftp:// URL needs a host")
        self.host = url.hostname
        self.port = url.port or 22
        self.path = unquote(url.path) or "/"
        self.username = config.username or (unquote(url.username) if url.username else None)
        if not self.username:
            raise ConfigError(f"publish.{name}: SFTP needs `username:`")
        if config.password is None and config.private_key is None:
            raise ConfigError(f"publish.{name}: SFTP needs `password:` or `private_key:`")
        self.known_hosts = (base_dir / config.known_hosts).expanduser() if config.known_hosts \
            else None
        self.private_key = (base_dir / config.private_key).expanduser() if config.private_key \
            else None
        pinned = config.host_key
        if pinned is not None and not pinned.startswith("SHA256:"):
            raise ConfigError(f"publish.{name}.host_key: give the SHA256:... fingerprint "
                              "(ssh-keygen -lf shows it)")
        self.pinned = pinned.rstrip("=") if pinned else None

    def _remote_path(self, upload: Upload) -> tuple[str, str]:
        return remote_location(self.path, upload)

    def target(self, upload: Upload) -> str:
        directory, name = self._remote_path(upload)
        return f"sftp://{self.username}@{self.host}:{self.port}{posixpath.join(directory, name)}"

    def publish(self, upload: Upload, retry: RetryPolicy) -> PublishResult:
        result, attempts = retry.call(lambda: self._attempt(upload))
        result.attempts = attempts
        return result

    def _connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        known_hosts = self.known_hosts
        if known_hosts is None and self.pinned is None:
            default = Path("~/.ssh/known_hosts").expanduser()
            known_hosts = default if default.exists() else None
        if known_hosts is not None:
            try:
                client.load_host_keys(str(known_hosts))
            except OSError as exc:
                raise FatalError(f"cannot read known_hosts {known_hosts}: {exc.strerror}") \
                    from None
        client.set_missing_host_key_policy(_CheckHostKey(self.pinned))
        if self.private_key is not None and not self.private_key.is_file():
            raise FatalError(f"{self.name}: private key {self.private_key} not found")
        password = self.config.password.get_secret_value() if self.config.password else None
        passphrase = (self.config.private_key_passphrase.get_secret_value()
                      if self.config.private_key_passphrase else None)
        timeout = self.config.timeout
        try:
            client.connect(self.host, self.port, username=self.username, password=password,
                           key_filename=str(self.private_key) if self.private_key else None,
                           passphrase=passphrase, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout, channel_timeout=timeout,
                           allow_agent=False, look_for_keys=False)
        except HostKeyRefused as exc:
            client.close()
            raise FatalError(str(exc)) from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise FatalError(f"the host key of {self.host} is {fingerprint(exc.key)}, not the "
                             "one in known_hosts: refusing to connect (possible "
                             "man-in-the-middle)") from None
        except paramiko.AuthenticationException:
            client.close()
            raise FatalError(f"SFTP login as {self.username} at {self.host}:{self.port} was "
                             "refused (check the password or key)") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise RetriableError(f"cannot connect to {self.host}:{self.port}: "
                                 f"{_describe(exc)}") from None
        return client

    def _attempt(self, upload: Upload) -> PublishResult:
        directory, name = self._remote_path(upload)
        final = posixpath.join(directory, name)
        tmp = posixpath.join(directory, temp_name(name, secrets.token_hex(4)))
        client = self._connect()
        sftp: paramiko.SFTPClient | None = None
        uploading = False
        try:
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.config.timeout)  # type: ignore[union-attr]
            self._sweep(sftp, directory, name)
            uploading = True
            with upload.path.open("rb") as src:
                sftp.putfo(src, tmp, file_size=upload.size, confirm=False)
            size = sftp.stat(tmp).st_size
            if size != upload.size:
                raise RetriableError(f"{tmp} has {size} bytes after upload, not {upload.size}")
            sftp.posix_rename(tmp, final)
            uploading = False
        except (RetriableError, FatalError):
            raise
        except PermissionError as exc:
            raise FatalError(f"permission denied writing {final} on {self.host}: "
                             f"{_describe(exc)}") from None
        except FileNotFoundError:
            raise FatalError(f"{directory} does not exist on {self.host}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise RetriableError(f"upload to {self.host}:{self.port} failed: "
                                 f"{_describe(exc)}") from None
        finally:
            if uploading and sftp is not None:
                _remove_quietly(sftp, tmp)
            client.close()
        return PublishResult(self.target(upload), upload.items, upload.size)

    def _sweep(self, sftp: paramiko.SFTPClient, directory: str, name: str) -> None:
        try:
            entries = sftp.listdir(directory)
        except FileNotFoundError:
            raise FatalError(f"{directory} does not exist on {self.host}") from None
        for entry in entries:
            if is_temp_of(entry, name):
                _remove_quietly(sftp, posixpath.join(directory, entry))


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    # If the connection is gone, the next run sweeps it.
    with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
        sftp.remove(path)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
        return exc.strerror or type(exc).__name__
    text = str(exc).strip()
    return text or type(exc).__name__
