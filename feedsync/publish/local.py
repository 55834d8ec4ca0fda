"""A local (or mounted) directory a web server serves: temp file, fsync, chmod, rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from feedsync.config import PublishConfig
from feedsync.publish.base import (
    TEMP_SUFFIX,
    FatalError,
    PublishResult,
    RetriableError,
    Upload,
    is_temp_of,
)
from feedsync.publish.retry import RetryPolicy


class LocalDestination:
    def __init__(self, name: str, config: PublishConfig, directory: Path) -> None:
        self.name = name
        self.config = config
        self.directory = directory

    def target(self, upload: Upload) -> str:
        return str(self.directory / upload.remote_name)

    def publish(self, upload: Upload, retry: RetryPolicy) -> PublishResult:
        result, attempts = retry.call(lambda: self._copy(upload))
        result.attempts = attempts
        return result

    def _copy(self, upload: Upload) -> PublishResult:
        final = self.directory / upload.remote_name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._sweep(upload.remote_name)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{upload.remote_name}.",
                                            suffix=TEMP_SUFFIX, dir=self.directory)
        except PermissionError as exc:
            raise FatalError(f"cannot write to {self.directory}: {exc.strerror}") from None
        except OSError as exc:
            raise RetriableError(f"cannot write to {self.directory}: {exc.strerror}") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, upload.path.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            if tmp.stat().st_size != upload.size:
                raise RetriableError(f"{tmp.name} has the wrong size after copying")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the feed from a web server
            os.replace(tmp, final)
            _fsync_dir(self.directory)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise RetriableError(f"cannot write {final}: {exc.strerror or exc}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return PublishResult(str(final), upload.items, upload.size)

    def _sweep(self, name: str) -> None:
        """Remove temporary files a killed run left behind."""
        for leftover in self.directory.iterdir():
            if is_temp_of(leftover.name, name):
                leftover.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
