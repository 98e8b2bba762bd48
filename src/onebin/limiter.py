"""Failed-token limiting that cannot be made to forget and is shared by forked workers.

An attacker review of the first limiter (an LRU table per address, in each process)
found three ways around it: spraying more addresses than the table holds evicted a
lockout; every IPv6 client owns at least a /64, so it could rotate addresses at
will; and with ``--workers N`` each worker counted alone. Here keys are reduced to
what a client actually controls (``client_key``), and counts live in a fixed-size
count-min sketch in shared memory, so a spray can only make the limiter stricter
(more false positives), never more forgetful. False positives only ever cost a
request with a bad token a 429 instead of a 401: valid tokens are never limited.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import math
import mmap
import os
import secrets
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Protocol

UNPARSABLE_KEY = "unparsable-address"
_COUNTER_MAX = 0xFFFF  # counters are saturating uint16
_HEADER = 16  # two int64 window numbers, one per counter slot


def client_key(address: str) -> str:
    """The limiter key for a client address: what one client can cheaply vary, folded.

    IPv6 is reduced to its /64 because that is the smallest block ISPs hand out;
    IPv4-mapped IPv6 is the IPv4 client it stands for. Anything else (a Unix socket
    peer, "unknown") shares one bounded key instead of keying on an attacker's string.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return UNPARSABLE_KEY
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # Via the integer so that a scope ("%eth0") cannot make keys unbounded.
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class FailureLimiter(Protocol):
    """Counts failed attempts per key and says when a key must wait.

    Contract:
    - ``key`` is any string, normally from ``client_key``. A key never seen may try now.
    - ``now`` is a reading of ``clock``, in seconds: every sharer of the counts must
      read the same clock (``time.monotonic`` for processes on one host, wall time
      for replicas on several). Callers in other threads or processes may pass
      values slightly out of order; no failure may be dropped because of that.
    - ``retry_after`` returns None while the key may try, else the seconds (>= 0) until
      it may, assuming it records no more failures meanwhile.
    - Under load an implementation may over-count (limit a key that made few failures)
      but must never under-count: other keys' activity cannot lower a key's count.
      Its storage is bounded: fixed at construction, or pruned of expired windows.
    - Both methods are coroutines called on the event loop, and must not block it
      (a database round trip runs on a thread). A database fault surfaces as the
      engine's ``StoreFault``. Cancelling a call may leave its failure counted or
      not, never half-counted. An implementation says which processes share its counts.
    """

    clock: Callable[[], float]

    async def retry_after(self, key: str, now: float) -> float | None: ...

    async def record_failure(self, key: str, now: float) -> None: ...


def seconds_until_allowed(
    current: int, previous: int, elapsed: float, *, max_failures: int, window_seconds: float
) -> float | None:
    """None if another attempt is allowed now, else the seconds until it is.

    A key's count is its failures in the current fixed window plus the previous one.
    The usual sliding-window estimate weighs the previous window by the part still
    covered, as if its failures were spread evenly; ten failures in three seconds
    across a window boundary then counted 9.9 and let an eleventh through. Counting
    the previous window whole never under-counts the failures of the last
    ``window_seconds``: a key at the limit waits until the window that put it there
    stops counting, at most two windows.
    """
    if current + previous < max_failures:
        return None
    if current < max_failures:  # the previous window stops counting when this one ends
        return window_seconds - elapsed
    return 2 * window_seconds - elapsed  # this window must end, then stop counting too


class SharedFailureLimiter:
    """A ``FailureLimiter`` whose counts are shared by every process forked after it is built.

    Counts live in a count-min sketch (``depth`` rows of ``width`` saturating uint16
    counters, conservative update, keyed hashing so an attacker cannot aim collisions at
    a victim) for each of two fixed windows, in a MAP_SHARED mapping of an anonymous
    file. Processes exclude each other with a POSIX record lock on that file, which the
    kernel drops if the holder dies (even by SIGKILL); threads use a ``threading.Lock``
    because POSIX locks belong to the whole process.

    Its counts never leave the host, so it suits one server (``--workers`` included),
    not replicas behind a load balancer (``store.limiter.DatabaseFailureLimiter``).
    The ``*_sync`` methods are the same steps for a caller without an event loop; the
    coroutines just call them, as a few memory operations cannot block the loop.
    """

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        width: int = 65536,
        depth: int = 4,
    ) -> None:
        if not 1 <= max_failures < _COUNTER_MAX or window_seconds <= 0:
            raise ValueError("need 1 <= max_failures < 65535 and window_seconds > 0")
        if width < 1 or not 1 <= depth <= 16:  # 16 rows x 4 bytes is blake2b's longest digest
            raise ValueError("need width >= 1 and 1 <= depth <= 16")
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock: Callable[[], float] = time.monotonic
        self._width, self._depth = width, depth
        self._salt = secrets.token_bytes(16)
        slot_bytes = 2 * width * depth
        self._fd = _anonymous_file(_HEADER + 2 * slot_bytes)
        self._map = mmap.mmap(self._fd, _HEADER + 2 * slot_bytes)  # MAP_SHARED by default
        view = memoryview(self._map)
        self._windows = view[:_HEADER].cast("q")  # which window each slot counts
        self._slots = [
            view[_HEADER + i * slot_bytes : _HEADER + (i + 1) * slot_bytes].cast("H")
            for i in (0, 1)
        ]
        self._thread_lock = threading.Lock()
        _instances.add(self)

    @property
    def memory_bytes(self) -> int:
        """Size of the shared mapping: fixed at construction."""
        return len(self._map)

    async def retry_after(self, key: str, now: float) -> float | None:
        return self.retry_after_sync(key, now)

    async def record_failure(self, key: str, now: float) -> None:
        self.record_failure_sync(key, now)

    def retry_after_sync(self, key: str, now: float) -> float | None:
        cells = self._cells(key)
        window = math.floor(now / self.window_seconds)
        with self._locked():
            current = self._count(window, cells)
            previous = self._count(window - 1, cells)
        return seconds_until_allowed(
            current,
            previous,
            now - window * self.window_seconds,
            max_failures=self.max_failures,
            window_seconds=self.window_seconds,
        )

    def record_failure_sync(self, key: str, now: float) -> None:
        cells = self._cells(key)
        window = math.floor(now / self.window_seconds)
        slot = window % 2
        with self._locked():
            # A slot is only ever moved forward: a caller whose clock reading is a few
            # microseconds stale counts in the newer window rather than wiping it.
            if self._windows[slot] < window:
                # Cleared before it is relabelled, so a holder killed halfway through
                # leaves the old label and the next caller clears it again.
                self._slots[slot][:] = _zeros(len(self._slots[slot]))
                self._windows[slot] = window
            counters = self._slots[slot]
            # Conservative update: raise only the cells at the minimum, which keeps
            # other keys' estimates as low as the sketch allows.
            target = min(min(counters[cell] for cell in cells) + 1, _COUNTER_MAX)
            for cell in cells:
                counters[cell] = max(counters[cell], target)

    def close(self) -> None:
        """Unmap and close; only for tests and shutdown, after the last call."""
        _instances.discard(self)
        for view in (*self._slots, self._windows):
            view.release()
        self._map.close()
        os.close(self._fd)

    def _cells(self, key: str) -> list[int]:
        digest = hashlib.blake2b(
            key.encode("utf-8", "surrogatepass"), key=self._salt, digest_size=4 * self._depth
        ).digest()
        return [
            row * self._width
            + int.from_bytes(digest[4 * row : 4 * row + 4], "little") % self._width
            for row in range(self._depth)
        ]

    def _count(self, window: int, cells: list[int]) -> int:
        slot = window % 2
        if self._windows[slot] != window:
            return 0  # the slot holds another window, so this one saw no failures
        return min(self._slots[slot][cell] for cell in cells)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)


def _anonymous_file(size: int) -> int:
    """A zero-filled file of ``size`` bytes with no name, open read-write."""
    if hasattr(os, "memfd_create"):  # Linux: memory only, works with a read-only /tmp
        fd = os.memfd_create("onebin-limiter", os.MFD_CLOEXEC)
    else:
        fd, path = tempfile.mkstemp(prefix="onebin-limiter-")
        os.unlink(path)
    os.ftruncate(fd, size)
    return fd


def _zeros(count: int) -> memoryview:
    return memoryview(bytes(2 * count)).cast("H")


# A fork while another thread held a limiter's thread lock would leave the child's copy
# locked forever; POSIX record locks are not inherited, so only this needs resetting.
_instances: weakref.WeakSet[SharedFailureLimiter] = weakref.WeakSet()


def _reset_thread_locks() -> None:
    for limiter in _instances:
        limiter._thread_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_thread_locks)
