"""Secrets never leave the process: every message a push produces passes through here.

Masked are the secrets as given and every form a protocol carries them in, because a
server may echo a request back in its error: the base64 of `user:password` (HTTP Basic),
`Bearer TOKEN`, and URL-encoded forms. A URL's user-info is masked up to its last `@`, so a
password containing `@` or `:` leaves no fragment behind.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

from feedsync.config import Config, PublishConfig

MASK = "***"
# Up to the last @ before the path: `user:p@ss:word@host` is masked whole.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s]*@", re.I)


def secret_forms(destination: PublishConfig) -> list[str]:
    """Every text form in which this destination's secrets could appear in a message."""
    literal = destination.secrets()
    forms = list(literal)
    for secret in literal:
        forms += [quote(secret, safe=""), quote(secret), secret.strip()]
    if destination.username and destination.password is not None:
        pair = f"{destination.username}:{destination.password.get_secret_value()}"
        forms.append(base64.b64encode(pair.encode()).decode())
    return [form for form in forms if form]


class Redactor:
    def __init__(self, secrets: list[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    @classmethod
    def for_config(cls, config: Config) -> Redactor:
        return cls([s for destination in config.publish.values()
                    for s in secret_forms(destination)])

    def __call__(self, text: str) -> str:
        text = _URL_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
