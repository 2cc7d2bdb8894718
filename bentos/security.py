"""API keys for the write endpoints: read from ``QUANT_API_KEYS``, compared in constant time, never logged.

With no key configured every write is refused (403): a server that forgot its keys must not accept data
from anyone. Only a short SHA-256 fingerprint of the key that made a change is ever stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

API_KEY_HEADER = "X-API-Key"


class AuthError(Exception):
    """A refused write: ``status`` is 401 (no key) or 403 (wrong key, or writes disabled)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def key_fingerprint(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


class ApiKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [k.encode("utf-8") for k in (k.strip() for k in keys) if k]

    @classmethod
    def from_env(cls, value: str | None) -> ApiKeys:
        return cls((value or "").split(","))

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def check(self, presented: str | None) -> str:
        """The fingerprint of a valid key; raises :class:`AuthError` otherwise."""
        if not self._keys:
            raise AuthError(
                403, "writes are disabled on this server: no API keys are configured (QUANT_API_KEYS)"
            )
        if not presented:
            raise AuthError(401, f"this endpoint needs an API key in the {API_KEY_HEADER} header")
        candidate = presented.encode("utf-8", errors="surrogateescape")
        # Compare with every key (no early exit) so timing says nothing about which, or how many, exist.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise AuthError(403, f"the {API_KEY_HEADER} given is not valid for this server")
        return key_fingerprint(presented)
