"""Staff accounts: creation, passwords (Argon2id), TOTP second factor, and the waits after
failed sign-ins (``lockout.py``)."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.lockout import Lockout
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import AuthError, Forbidden, NotFound, PlayroomError
from server.storage.db import Database
from server.storage.models import Role, Supervision, User, new_id

MIN_PASSWORD = 12
TOTP_STEP = 30
ISSUER = "Playroom"
_BAD_SIGN_IN = "That username and password do not match an account."
_BAD_CODE = "That code is not right, or it has already been used. Wait for a new one."


@dataclass(frozen=True)
class StaffView:
    """What pages need to know about a signed-in person."""

    id: str
    username: str
    display_name: str
    role: Role
    totp_enrolled: bool


class Accounts:
    """The staff account service. Every method opens its own unit of work."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        max_failures: int = 5,
        lock_seconds: int = 900,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.db = db
        self.ring = ring
        self.max_failures = max_failures
        # failures count per username and address: a stranger's never lock the owner out
        self.lockout = Lockout(db, ring, max_failures, lock_seconds)
        self.hasher = hasher or PasswordHasher()
        # A hash to verify against when the username is unknown, so timing reveals nothing;
        # made by the first sign-in, whatever its username (``check_password``), rather than
        # at start, where its Argon2 work (a tenth of a second or more) would hold up the
        # server's first answer after a restart, and every command's.
        self._dummy_hash: str | None = None

    def view(self, user: User) -> StaffView:
        return StaffView(
            id=user.id,
            username=unseal(self.ring, user, "username_enc") or "",
            display_name=unseal(self.ring, user, "display_name_enc") or "",
            role=Role(user.role),
            totp_enrolled=user.totp_enrolled,
        )

    async def create(
        self,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        *,
        demo: bool = False,
        enrol_totp: bool = False,
        email: str | None = None,
    ) -> tuple[StaffView, str | None]:
        """Create an account; returns it and, when ``enrol_totp``, its TOTP secret."""
        username = username.strip()
        if not username or len(username) > 80:
            raise PlayroomError("A username needs 1 to 80 characters.")
        if len(password) < MIN_PASSWORD:
            raise PlayroomError(f"A password needs at least {MIN_PASSWORD} characters.")
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        user = User(
            id=new_id(),
            login_index=self.ring.blind_index(username),
            role=role.value,
            password_hash=password_hash,
            is_demo=demo,
            totp_enrolled=enrol_totp,
            totp_last_step=0,
            disabled=False,
        )
        seal(self.ring, user, "username_enc", username)
        seal(self.ring, user, "display_name_enc", display_name.strip() or username)
        if email is not None and ("@" not in email or len(email) > 254):
            raise PlayroomError("That e-mail address does not look right.")
        seal(self.ring, user, "email_enc", email.strip() if email else None)
        secret = pyotp.random_base32() if enrol_totp else None
        seal(self.ring, user, "totp_secret_enc", secret)
        async with self.db.session() as session:
            taken = await session.scalar(
                sa.select(User.id).where(User.login_index == user.login_index)
            )
            if taken:
                raise PlayroomError("That username is already taken.")
            session.add(user)
        return self.view(user), secret

    async def get(self, user_id: str) -> StaffView | None:
        async with self.db.read() as session:
            user = await session.get(User, user_id)
            if user is None or user.disabled:
                return None
            return self.view(user)

    async def find(self, username: str) -> StaffView:
        async with self.db.read() as session:
            user = await self._by_name(session, username)
            if user is None:
                raise NotFound("There is no account with that username.")
            return self.view(user)

    async def _by_name(self, session: AsyncSession, username: str) -> User | None:
        index = self.ring.blind_index(username)
        user: User | None = await session.scalar(sa.select(User).where(User.login_index == index))
        return user

    async def check_password(self, username: str, password: str, address: str = "") -> StaffView:
        """First factor. A username with no account is answered exactly as a wrong password
        (the same words, the same Argon2 work, the same count); failures make this username
        wait from this ``address`` only (``lockout.py``)."""
        index = self.ring.blind_index(username)
        await self.lockout.attempt(index, address)
        if self._dummy_hash is None:  # before the account is looked up: for every username
            self._dummy_hash = await asyncio.to_thread(self.hasher.hash, secrets.token_urlsafe(16))
        async with self.db.read() as session:
            user = await self._by_name(session, username)
        # the Argon2 work outside any transaction: no write of the server waits on it
        if user is None or user.disabled:
            await asyncio.to_thread(self._verify, self._dummy_hash, password)
            raise AuthError(_BAD_SIGN_IN)
        if not await asyncio.to_thread(self._verify, user.password_hash, password):
            raise AuthError(_BAD_SIGN_IN)
        if self.hasher.check_needs_rehash(user.password_hash):
            rehashed = await asyncio.to_thread(self.hasher.hash, password)
            async with self.db.session() as session:
                await session.execute(
                    sa.update(User).where(User.id == user.id).values(password_hash=rehashed)
                )
        view = self.view(user)
        await self.lockout.right(index, address, signed_in=False)
        return view

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def unlock(self, username: str) -> int:
        """An administrator's unlock: this username's failures, from every address, go
        (whether or not it has an account). Returns how many addresses were waiting."""
        return await self.lockout.unlock(self.ring.blind_index(username))

    async def enrolment_secret(self, user_id: str) -> str:
        """The TOTP secret of an account not yet enrolled (made on first call)."""
        async with self.db.session() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("There is no such account.")
            if user.totp_enrolled:
                raise Forbidden("This account already has a second factor.")
            secret = unseal(self.ring, user, "totp_secret_enc")
            if secret is None:
                secret = pyotp.random_base32()
                seal(self.ring, user, "totp_secret_enc", secret)
            return secret

    def provisioning_uri(self, username: str, secret: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)

    async def verify_totp(
        self, user_id: str, code: str, now: float | None = None, address: str = ""
    ) -> StaffView:
        """Second factor, and enrolment when not yet enrolled. Each code works once. Wrong
        codes count with wrong passwords, per username and ``address``; a right one clears
        the count."""
        now = time.time() if now is None else now
        code = "".join(code.split())
        async with self.db.read() as session:
            found = await session.get(User, user_id)
            if found is None or found.disabled:
                raise AuthError(_BAD_SIGN_IN)
            index = found.login_index
        await self.lockout.attempt(index, address)
        async with self.db.session() as session:
            user = await session.get(User, user_id)
            if user is None or user.disabled:
                raise AuthError(_BAD_SIGN_IN)
            secret = unseal(self.ring, user, "totp_secret_enc")
            step = self._matching_step(secret, code, now) if secret else None
            if step is None or step <= user.totp_last_step:
                raise AuthError(_BAD_CODE)
            user.totp_last_step = step
            user.totp_enrolled = True
            view = self.view(user)
        await self.lockout.right(index, address, signed_in=True)
        return view

    @staticmethod
    def _matching_step(secret: str, code: str, now: float) -> int | None:
        if not (code.isdigit() and len(code) == 6):
            return None
        totp = pyotp.TOTP(secret)
        current = int(now // TOTP_STEP)
        for step in (current - 1, current, current + 1):
            if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
                return step
        return None

    async def current_code(self, username: str) -> str:
        """The current TOTP code of a demo account (refused for real accounts)."""
        async with self.db.session() as session:
            user = await self._by_name(session, username)
            if user is None or not user.is_demo:
                raise Forbidden("Codes are only shown for demo accounts.")
            secret = unseal(self.ring, user, "totp_secret_enc")
            assert secret is not None
            return pyotp.TOTP(secret).now()

    async def supervise(self, supervisor: str, therapist: str) -> None:
        """Record that ``supervisor`` supervises ``therapist`` (both usernames)."""
        sup, ther = await self.find(supervisor), await self.find(therapist)
        if sup.role is not Role.SUPERVISOR or ther.role is not Role.THERAPIST:
            raise PlayroomError("The first account must be a supervisor, the second a therapist.")
        async with self.db.session() as session:
            if await session.get(Supervision, (sup.id, ther.id)) is None:
                session.add(Supervision(supervisor_id=sup.id, therapist_id=ther.id))

    async def supervisees(self, supervisor_id: str) -> list[StaffView]:
        async with self.db.session() as session:
            users = await session.scalars(
                sa.select(User)
                .join(Supervision, Supervision.therapist_id == User.id)
                .where(Supervision.supervisor_id == supervisor_id)
            )
            return sorted((self.view(u) for u in users), key=lambda v: v.display_name)

    async def emails(self, user_ids: list[str]) -> dict[str, str]:
        """The e-mail addresses of these accounts (those that have one)."""
        async with self.db.session() as session:
            users = await session.scalars(sa.select(User).where(User.id.in_(user_ids)))
            found = {u.id: unseal(self.ring, u, "email_enc") for u in users}
        return {uid: email for uid, email in found.items() if email}

    async def count(self) -> int:
        async with self.db.session() as session:
            return int(await session.scalar(sa.select(sa.func.count(User.id))) or 0)
