"""Secrets never leave the process: every message a push produces passes through here."""

from __future__ import annotations

import re

from feedsync.config import Config

MASK = "***"
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]*:[^/@\s]*@", re.I)


class Redactor:
    def __init__(self, secrets: list[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    @classmethod
    def for_config(cls, config: Config) -> Redactor:
        return cls([s for destination in config.publish.values()
                    for s in destination.secrets()])

    def __call__(self, text: str) -> str:
        text = _URL_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
