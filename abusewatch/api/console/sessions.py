"""Console sign-in: users and roles, signed session cookies, CSRF tokens. No I/O beyond the users file.

A user signs in with a personal token; the users file stores only its SHA-256. The session is a
signed cookie (HMAC-SHA256 over user, role, expiry and a random nonce), so API replicas that share
ABUSEWATCH_CONSOLE_SESSION_SECRET need no session store. The CSRF token is an HMAC of the session's
nonce: it is bound to one session, sent in every form, and checked on every state-changing request.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

import orjson
import yaml

ROLES = ("viewer", "reviewer", "admin")  # each can do what the ones before it can


class UsersFileError(ValueError):
    """The users file cannot be read or breaks its format."""


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    id: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Users:
    by_token_hash: dict[str, User]

    def current(self, user: User) -> bool:
        """Whether the user is still in the file with the same role (a session of someone removed
        or given another role ends when the API has re-read the file, i.e. restarted)."""
        return user in self.by_token_hash.values()

    @classmethod
    def load(cls, path: str | Path | None) -> Users:
        if not path:
            return cls({})
        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsersFileError(f"console users file {path}: {exc}") from exc
        entries = document.get("users") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise UsersFileError(f"console users file {path}: expected a top-level `users:` list")
        users: dict[str, User] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not {"id", "role", "token_sha256"} <= entry.keys():
                raise UsersFileError(f"console users file {path}: users[{index}] needs id, role and token_sha256")
            if entry["role"] not in ROLES:
                raise UsersFileError(f"console users file {path}: users[{index}].role must be one of {', '.join(ROLES)}")
            digest = str(entry["token_sha256"]).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise UsersFileError(f"console users file {path}: users[{index}].token_sha256 is not a SHA-256 hex digest")
            users[digest] = User(str(entry["id"]), entry["role"])
        return cls(users)

    def authenticate(self, token: str) -> User | None:
        """The user whose token this is. Compares every digest in constant time, all of them."""
        presented = token_sha256(token)
        found = None
        for digest, user in self.by_token_hash.items():
            if hmac.compare_digest(presented, digest):
                found = user
        return found


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    user: User
    expires_at: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Issues and reads session cookies and the CSRF tokens bound to them."""

    def __init__(self, secret: bytes, ttl_s: float, users: Users | None = None) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._users = users  # when given, a session's user must still be one of them

    def _mac(self, purpose: str, data: bytes) -> str:
        return _b64(hmac.new(self._secret, purpose.encode() + b"\0" + data, hashlib.sha256).digest())

    def issue(self, user: User, now: float) -> tuple[str, Session]:
        session = Session(user, now + self.ttl_s, secrets.token_urlsafe(16))
        body = _b64(orjson.dumps({"u": user.id, "r": user.role, "e": session.expires_at, "n": session.nonce}))
        return f"{body}.{self._mac('session', body.encode())}", session

    def read(self, cookie: str | None, now: float) -> Session | None:
        """The session in a cookie, or None if it is missing, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        # Bytes, not str: compare_digest refuses non-ASCII text, and a cookie is the client's to choose.
        if not hmac.compare_digest(mac.encode(), self._mac("session", body.encode()).encode()):
            return None
        try:
            fields: Any = orjson.loads(_unb64(body))
            session = Session(User(str(fields["u"]), str(fields["r"])), float(fields["e"]), str(fields["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.user.role not in ROLES or session.expires_at <= now:
            return None
        if self._users is not None and not self._users.current(session.user):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.nonce.encode())

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), self.csrf_token(session).encode())


def write_users_file(path: str | Path, user_roles: dict[str, str]) -> dict[str, str]:
    """Write a users file with a fresh token per user (user id -> role); returns user id -> token.
    Only the tokens' SHA-256 go into the file."""
    tokens = {user_id: secrets.token_urlsafe(24) for user_id in user_roles}
    entries = [{"id": user_id, "role": role, "token_sha256": token_sha256(tokens[user_id])}
               for user_id, role in user_roles.items()]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump({"users": entries}, sort_keys=False), encoding="utf-8")
    return tokens
