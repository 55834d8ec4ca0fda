"""FTP and FTPS with ftplib: temporary name, size check, then rename over the live name.

`ftplib.FTP_TLS` does not verify certificates unless given a context, so FTPS always gets
`ssl.create_default_context()` (optionally trusting `ca_file`) and `PROT P`, which puts
the data connection under TLS too. Whether RNTO overwrites is up to the server (pyftpdlib,
vsftpd and ProFTPD do).
"""

from __future__ import annotations

import contextlib
import ftplib
import posixpath
import secrets
import socket
import ssl
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


class _DataSocket(ssl.SSLSocket):
    """TLS 1.3 quirk: an empty data transfer (listing an empty folder) ends before the
    client sees the handshake finish, and ftplib's `unwrap()` then fails with
    SHUTDOWN_WHILE_IN_INIT although nothing went wrong. Uploads are size-checked anyway."""

    def unwrap(self) -> socket.socket:
        try:
            return super().unwrap()
        except ssl.SSLError as exc:
            if exc.reason != "SHUTDOWN_WHILE_IN_INIT":
                raise
            return self


class FtpDestination:
    def __init__(self, name: str, config: PublishConfig, base_dir: Path) -> None:
        self.name = name
        self.config = config
        url = urlsplit(config.url)
        self.secure = url.scheme.lower() == "ftps"
        if not url.hostname:
            raise ConfigError(f"publish.{name}.url: an {url.scheme}:// URL needs a host")
        self.host = url.hostname
        self.port = url.port or 21
        self.path = unquote(url.path) or "/"
        self.username = config.username or (unquote(url.username) if url.username else
                                            "anonymous")
        self.ca_file = (base_dir / config.ca_file).expanduser() if config.ca_file else None

    def _remote_path(self, upload: Upload) -> tuple[str, str]:
        return remote_location(self.path, upload)

    def target(self, upload: Upload) -> str:
        directory, name = self._remote_path(upload)
        scheme = "ftps" if self.secure else "ftp"
        return (f"{scheme}://{self.username}@{self.host}:{self.port}"
                f"{posixpath.join(directory, name)}")

    def publish(self, upload: Upload, retry: RetryPolicy) -> PublishResult:
        result, attempts = retry.call(lambda: self._attempt(upload))
        result.attempts = attempts
        return result

    def _connect(self) -> ftplib.FTP:
        timeout = self.config.timeout
        password = self.config.password.get_secret_value() if self.config.password else ""
        if self.secure:
            try:
                context = ssl.create_default_context(
                    cafile=str(self.ca_file) if self.ca_file else None)
                context.sslsocket_class = _DataSocket
            except (OSError, ssl.SSLError) as exc:
                raise FatalError(f"cannot read ca_file {self.ca_file}: {exc}") from None
            ftp: ftplib.FTP = ftplib.FTP_TLS(context=context, timeout=timeout)
        else:
            ftp = ftplib.FTP(timeout=timeout)
        try:
            ftp.connect(self.host, self.port, timeout=timeout)
            ftp.login(self.username, password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ssl.SSLCertVerificationError as exc:
            _close(ftp)
            raise FatalError(f"the TLS certificate of {self.host} is not trusted: "
                             f"{exc.verify_message}") from None
        except ftplib.error_perm as exc:
            _close(ftp)
            raise FatalError(f"FTP login as {self.username} at {self.host}:{self.port} was "
                             f"refused ({_reply(exc)})") from None
        except (ftplib.error_temp, ftplib.error_reply, ftplib.error_proto, OSError,
                EOFError) as exc:
            _close(ftp)
            raise RetriableError(f"cannot connect to {self.host}:{self.port}: "
                                 f"{_describe(exc)}") from None
        return ftp

    def _attempt(self, upload: Upload) -> PublishResult:
        directory, name = self._remote_path(upload)
        tmp = temp_name(name, secrets.token_hex(4))
        ftp = self._connect()
        stored = False
        try:
            ftp.cwd(directory)
            self._sweep(ftp, name)
            stored = True
            with upload.path.open("rb") as src:
                ftp.storbinary(f"STOR {tmp}", src, blocksize=1 << 16)
            ftp.voidcmd("TYPE I")
            size = ftp.size(tmp)
            if size is not None and size != upload.size:
                raise RetriableError(f"{tmp} has {size} bytes after upload, not {upload.size}")
            ftp.rename(tmp, name)
            stored = False
        except RetriableError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise FatalError(f"the TLS certificate of {self.host} is not trusted: "
                             f"{exc.verify_message}") from None
        except ftplib.error_perm as exc:
            raise FatalError(f"{self.host} refused to store {posixpath.join(directory, name)} "
                             f"({_reply(exc)})") from None
        except (ftplib.error_temp, ftplib.error_reply, ftplib.error_proto, OSError,
                EOFError) as exc:
            raise RetriableError(f"upload to {self.host}:{self.port} failed: "
                                 f"{_describe(exc)}") from None
        finally:
            if stored:  # if the connection is gone, the next run sweeps it
                with contextlib.suppress(ftplib.Error, OSError, EOFError):
                    ftp.delete(tmp)
            _close(ftp)
        return PublishResult(self.target(upload), upload.items, upload.size)

    def _sweep(self, ftp: ftplib.FTP, name: str) -> None:
        try:
            entries = ftp.nlst()
        except ftplib.error_perm:
            return  # some servers answer an empty directory with 550
        for entry in entries:
            entry = posixpath.basename(entry)
            if is_temp_of(entry, name):
                with contextlib.suppress(ftplib.error_perm):
                    ftp.delete(entry)


def _close(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except (ftplib.Error, OSError, EOFError, AttributeError):
        ftp.close()


def _reply(exc: BaseException) -> str:
    return str(exc).strip()[:200]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(exc).strip()
    return text or type(exc).__name__
