"""Who may use the review app: the token printed at start, a CSRF token in every form, the TA's name.

Like Jupyter's: `grade review` prints http://127.0.0.1:PORT/?token=...; the first
request with the token sets an HttpOnly, SameSite=Strict cookie holding it, and
every later request must carry that cookie (or the token again).  Every POST carries
a CSRF token derived from the server's token (HMAC), so another site's page cannot
submit a form even when the browser sends the cookie.  Without --host the server
accepts only loopback Host headers, so a DNS-rebinding page cannot reach it either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_COOKIE = "grader_review_token"
NAME_COOKIE = "grader_review_ta"
LANG_COOKIE = "grader_review_lang"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


@dataclass(frozen=True)
class Access:
    """The server's secrets: the access token and the CSRF token derived from it."""

    token: str

    @classmethod
    def new(cls) -> Access:
        """A fresh random token (32 bytes, URL-safe)."""
        return cls(secrets.token_urlsafe(32))

    @property
    def csrf(self) -> str:
        """The CSRF token forms carry (HMAC of the access token: unguessable without it)."""
        return hmac.new(self.token.encode(), b"grade-review-csrf", hashlib.sha256).hexdigest()

    def token_ok(self, given: str | None) -> bool:
        """Whether `given` is the access token (compared in constant time)."""
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def csrf_ok(self, given: str | None) -> bool:
        """Whether `given` is the CSRF token (compared in constant time)."""
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


def host_ok(host_header: str | None, *, open_host: bool) -> bool:
    """Whether a request's Host header is acceptable: any with --host, else a loopback name only."""
    if open_host:
        return True
    if not host_header:
        return False
    name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    return name in LOOPBACK_HOSTS
