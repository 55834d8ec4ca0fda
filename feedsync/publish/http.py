"""HTTP(S) PUT or POST of the whole feed with requests.

TLS is always verified (`ca_file` may name the CA to trust); redirects are not followed
(an upload that is redirected is a misconfiguration, and following it could send the
credentials elsewhere); `.netrc` and proxy variables are ignored (`trust_env=False`,
CVE-2024-47081). The whole feed is sent each time, so retrying a POST is as safe as a PUT.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from feedsync.config import PublishConfig
from feedsync.errors import ConfigError
from feedsync.publish.base import FatalError, PublishResult, RetriableError, Upload
from feedsync.publish.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:  # imported where used: a build without a push never needs requests
    import requests

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class HttpDestination:
    def __init__(self, name: str, config: PublishConfig, base_dir: Path) -> None:
        self.name = name
        self.config = config
        url = urlsplit(config.url)
        if not url.hostname:
            raise ConfigError(f"publish.{name}.url: an {url.scheme}:// URL needs a host")
        if url.username:
            raise ConfigError(f"publish.{name}.url: give credentials as `username:` and "
                              "`password:` or `token:`, not in the URL")
        self.url = config.url
        self.ca_file = (base_dir / config.ca_file).expanduser() if config.ca_file else None

    def target(self, upload: Upload) -> str:
        url = self.url
        if url.endswith("/"):
            url += upload.remote_name
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    def _url(self, upload: Upload) -> str:
        return self.url + upload.remote_name if self.url.endswith("/") else self.url

    def publish(self, upload: Upload, retry: RetryPolicy) -> PublishResult:
        import requests

        session = requests.Session()
        session.trust_env = False
        try:
            result, attempts = retry.call(lambda: self._attempt(session, upload))
        finally:
            session.close()
        result.attempts = attempts
        return result

    def _attempt(self, session: requests.Session, upload: Upload) -> PublishResult:
        import requests

        config = self.config
        headers = {"Content-Type": upload.media_type, "Content-Length": str(upload.size)}
        if upload.path.suffix == ".gz":
            headers["Content-Type"] = "application/gzip"
        headers.update({k: v.get_secret_value() for k, v in config.headers.items()})
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        auth = None
        if config.username and config.password is not None:
            auth = (config.username, config.password.get_secret_value())
        target = self.target(upload)
        try:
            with upload.path.open("rb") as body:
                response = session.request(
                    config.method, self._url(upload), data=body, headers=headers, auth=auth,
                    timeout=(config.timeout, config.timeout), allow_redirects=False,
                    verify=str(self.ca_file) if self.ca_file else True)
        except requests.exceptions.SSLError:
            raise FatalError(f"the TLS certificate of {urlsplit(target).hostname} is not "
                             "trusted (set `ca_file:` to trust a private CA)") from None
        except requests.exceptions.Timeout:
            raise RetriableError(f"{config.method} {target} timed out after "
                                 f"{config.timeout:g}s") from None
        except (requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError) as exc:
            reason = type(exc.__context__ or exc).__name__
            raise RetriableError(f"{config.method} {target} lost the connection "
                                 f"({reason})") from None
        with response:
            status = response.status_code
            if 200 <= status < 300:
                return PublishResult(target, upload.items, upload.size)
            summary = f"{config.method} {target} answered {status} {response.reason}"
            if status in RETRY_STATUSES:
                raise RetriableError(summary, parse_retry_after(response.headers.get(
                    "Retry-After")))
            if status in (401, 403):
                raise FatalError(f"{summary}: check the credentials")
            raise FatalError(summary)
