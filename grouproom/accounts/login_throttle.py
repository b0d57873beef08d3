"""Slowing down password guessing: failed logins per account and per address.

After `account_limit` failures for one email address within `window` seconds,
or `address_limit` failures from one client address, further attempts are
refused until the oldest failure leaves the window. A successful login clears
the account's failures. Decided in memory; the therapists' pages also write each
failure to the database and `restore` them at start-up, so that a restart does
not clear them (grouproom/http/therapist_pages.py).
"""

from __future__ import annotations

from collections import defaultdict, deque

MAX_TRACKED_KEYS = 10_000
ACCOUNT, ADDRESS = "account", "address"


class LoginThrottle:
    def __init__(
        self, account_limit: int = 5, address_limit: int = 20, window: float = 15 * 60
    ) -> None:
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.window = window
        self._accounts: defaultdict[str, deque[float]] = defaultdict(deque)
        self._addresses: defaultdict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, email: str, address: str, now: float) -> float | None:
        """Seconds until a login may be tried again, or None when it may now."""
        waits = [
            self._wait(self._accounts, email.strip().lower(), self.account_limit, now),
            self._wait(self._addresses, address, self.address_limit, now),
        ]
        longest = max((wait for wait in waits if wait is not None), default=None)
        return longest

    def failed(self, email: str, address: str, now: float) -> None:
        for table, key in ((self._accounts, email.strip().lower()), (self._addresses, address)):
            if len(table) >= MAX_TRACKED_KEYS and key not in table:
                self._forget_stale(table, now)
            table[key].append(now)

    def succeeded(self, email: str) -> None:
        self._accounts.pop(email.strip().lower(), None)

    def restore(self, kind: str, key: str, at: float) -> None:
        """A failure saved before a restart ("account" or "address"), oldest first."""
        table = self._accounts if kind == ACCOUNT else self._addresses
        table[key.strip().lower() if kind == ACCOUNT else key].append(at)

    def _wait(
        self, table: defaultdict[str, deque[float]], key: str, limit: int, now: float
    ) -> float | None:
        failures = table.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del table[key]
            return None
        if len(failures) < limit:
            return None
        return failures[-limit] + self.window - now

    def _forget_stale(self, table: defaultdict[str, deque[float]], now: float) -> None:
        for key in [k for k, v in table.items() if not v or v[-1] <= now - self.window]:
            del table[key]
