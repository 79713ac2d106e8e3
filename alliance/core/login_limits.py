"""Login limits that hold across processes and cannot be turned against the account's owner.

Two counters, both rows of `login_throttle` changed under a lock, so that of any number of parallel
attempts each is counted (a count followed by an insert let 27 of 40 parallel guesses through):

- per account *and* client address: the first few failures are free, then each further one makes
  that address wait 1, 2, 4, … seconds (up to a cap) before it may try that account again. A
  stranger's failures slow the stranger down; the owner, logging in from another address, is not
  held up at all. A success from the address clears its counter for the account;
- per client address: more than `MAX_FAILURES_PER_ADDRESS` failures within the window, against any
  accounts, and the address waits for the window's end (stops spraying many accounts).

An attempt is counted as a failure when it is admitted, before the password is checked, and given
back when the password was right: parallel attempts cannot slip past the limit while the first ones
are still hashing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from alliance.core.models import LoginThrottle
from alliance.core.timeutil import aware, utc_now

# Failures of one account from one address before any delay; then 1 s, 2 s, 4 s, … up to the cap.
FREE_FAILURES = 3
FIRST_DELAY_SECONDS = 1
MAX_DELAY_SECONDS = 300
# An account-and-address counter forgets its failures this long after the last one.
PAIR_MEMORY = timedelta(hours=24)
# Per client address, whatever the accounts tried.
ADDRESS_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ADDRESS = 50


@dataclass(frozen=True)
class Admission:
    """The answer for one attempt: admitted, or how long the client must wait."""

    admitted: bool
    retry_after_seconds: int = 0


def _address_key(address: str) -> str:
    return f"address:{address[:64]}"


def _pair_key(username: str, address: str) -> str:
    return f"pair:{address[:64]}|{username[:64]}"


def delay_after(failures: int) -> timedelta:
    """How long an address waits before trying an account again after `failures` failures in a row."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    exponent = min(failures - FREE_FAILURES, 30)
    return timedelta(seconds=min(FIRST_DELAY_SECONDS * 2**exponent, MAX_DELAY_SECONDS))


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    if moment is None or moment <= now:
        return 0
    return max(1, math.ceil((moment - now).total_seconds()))


async def _locked_rows(keys: list[str], connection) -> dict[str, LoginThrottle]:
    # Create the rows once (a conflict means another attempt did), then write to each before reading
    # it: the write takes PostgreSQL's row lock (SQLite's database write lock) until the commit, so
    # the read-decide-write that follows is one step for concurrent attempts. Keys are taken in
    # sorted order, the same in every attempt, so two attempts never wait on each other in a circle.
    now = utc_now()
    for key in keys:
        await LoginThrottle.filter(key=key).using_db(connection).update(touched_at=now)
    rows = await LoginThrottle.filter(key__in=keys).using_db(connection)
    return {row.key: row for row in rows}


async def admit_attempt(username: str, address: str) -> Admission:
    """Admit one login attempt (counting it as a failure until `attempt_succeeded`) or refuse it."""
    address_key, pair_key = _address_key(address), _pair_key(username, address)
    keys = sorted([address_key, pair_key])
    await LoginThrottle.bulk_create([LoginThrottle(key=key) for key in keys], ignore_conflicts=True)
    async with in_transaction() as connection:
        rows = await _locked_rows(keys, connection)
        now = utc_now()
        by_address, pair = rows[address_key], rows[pair_key]
        window_started = aware(by_address.window_started_at)
        if window_started is None or now - window_started >= ADDRESS_WINDOW:
            by_address.failures, by_address.window_started_at = 0, now
            window_started = now
        last_failure = aware(pair.last_failure_at)
        if last_failure is None or now - last_failure >= PAIR_MEMORY:
            pair.failures, pair.next_allowed_at = 0, None
        wait = _seconds_until(aware(pair.next_allowed_at), now)
        if by_address.failures >= MAX_FAILURES_PER_ADDRESS:
            wait = max(wait, _seconds_until(window_started + ADDRESS_WINDOW, now))
        if not wait:
            by_address.failures += 1
            pair.failures += 1
            pair.last_failure_at = now
            pair.next_allowed_at = now + delay_after(pair.failures)
        await by_address.save(using_db=connection)
        await pair.save(using_db=connection)
    return Admission(admitted=not wait, retry_after_seconds=wait)


async def attempt_succeeded(username: str, address: str) -> None:
    """The admitted attempt had the right password: give its failure back and clear the account's delay."""
    address_key, pair_key = _address_key(address), _pair_key(username, address)
    async with in_transaction() as connection:
        rows = await _locked_rows(sorted([address_key, pair_key]), connection)
        if by_address := rows.get(address_key):
            by_address.failures = max(0, by_address.failures - 1)
            await by_address.save(using_db=connection, update_fields=["failures"])
        if pair := rows.get(pair_key):
            pair.failures, pair.last_failure_at, pair.next_allowed_at = 0, None, None
            await pair.save(
                using_db=connection, update_fields=["failures", "last_failure_at", "next_allowed_at"]
            )


async def forget_stale_counters(older_than: timedelta = PAIR_MEMORY) -> int:
    """Delete counters nobody touched for a day (they would be reset on their next use anyway)."""
    return await LoginThrottle.filter(touched_at__lt=utc_now() - older_than).delete()


# Public forms that create something (a partner's sign-up): per client address, at most
# `SUBMISSIONS_PER_WINDOW` within `SUBMISSION_WINDOW`, counted on the same locked rows as logins.
SUBMISSION_WINDOW = timedelta(hours=1)
SUBMISSIONS_PER_WINDOW = 5


async def admit_submission(
    form: str, address: str, limit: int = SUBMISSIONS_PER_WINDOW, window: timedelta = SUBMISSION_WINDOW
) -> Admission:
    """Count one submission of a public form from this address, or say how long it must wait."""
    key = f"form:{form[:32]}|{address[:64]}"
    await LoginThrottle.bulk_create([LoginThrottle(key=key)], ignore_conflicts=True)
    async with in_transaction() as connection:
        row = (await _locked_rows([key], connection))[key]
        now = utc_now()
        started = aware(row.window_started_at)
        if started is None or now - started >= window:
            row.failures, row.window_started_at, started = 0, now, now
        if row.failures >= limit:
            await row.save(using_db=connection)
            return Admission(admitted=False, retry_after_seconds=_seconds_until(started + window, now))
        row.failures += 1
        await row.save(using_db=connection)
    return Admission(admitted=True)
