"""The bounded request queue between async callers and the batcher.

Like text-embeddings-inference's queue plus its request semaphore: a fixed number of slots covers
every post admitted and not yet answered (waiting, being batched, or on the model), so memory stays
bounded under overload. A full queue makes callers wait for a slot, or raise `Overloaded` when they
asked not to wait. A caller that gives up (its future is cancelled, e.g. a timed-out HTTP request)
has its posts that are still waiting dropped and their slots freed at once. Everything here runs on
the event loop thread; no locks are needed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field


class Overloaded(RuntimeError):
    """The engine has no free queue slots and the caller asked not to wait."""


class NotStarted(RuntimeError):
    """The engine is not started, or is stopping: it admits nothing."""


@dataclass(eq=False)  # identity: the queue removes the very post whose caller gave up
class QueuedPost:
    """One post waiting to be scored: its text and the future its caller awaits."""

    text: str
    future: asyncio.Future
    enqueued_at: float = field(default_factory=time.monotonic)


class RequestQueue:
    """Bounded FIFO of `QueuedPost` with windows taken by the batcher."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._free_slots = capacity
        self._pending: deque[QueuedPost] = deque()
        self._closed = False
        self._slot_freed = asyncio.Event()
        self._post_arrived = asyncio.Event()

    @property
    def depth(self) -> int:
        """Posts waiting to be batched."""
        return len(self._pending)

    async def acquire_slot(self) -> None:
        """Wait until a slot is free and take it (backpressure for callers that may wait)."""
        while self._free_slots == 0:
            self._slot_freed.clear()
            await self._slot_freed.wait()
        self._free_slots -= 1

    def try_acquire_slots(self, count: int) -> None:
        """Take `count` slots at once or none: raise `Overloaded` when fewer are free."""
        if count > self._free_slots:
            raise Overloaded(f"{count} posts asked, {self._free_slots} of {self.capacity} queue slots free")
        self._free_slots -= count

    def release_slots(self, count: int) -> None:
        """Give back the slots of answered posts."""
        self._free_slots += count
        self._slot_freed.set()

    def put(self, post: QueuedPost) -> None:
        """Queue a post whose slot the caller already holds."""
        if self._closed:
            raise NotStarted("the queue is closed")
        self._pending.append(post)
        post.future.add_done_callback(lambda _: self._drop_if_cancelled(post))
        self._post_arrived.set()

    def _drop_if_cancelled(self, post: QueuedPost) -> None:
        # Only a post still waiting is dropped; one already taken into a window is answered (to
        # nobody) and frees its slot with its batch.
        if post.future.cancelled() and post in self._pending:
            self._pending.remove(post)
            self.release_slots(1)

    def close(self) -> None:
        """Refuse new posts; `next_window` drains what is queued, then returns empty."""
        self._closed = True
        self._post_arrived.set()

    async def next_window(self, max_posts: int, fill_posts: int, max_wait_s: float) -> list[QueuedPost]:
        """The oldest queued posts (at most `max_posts`), once `fill_posts` are queued or the oldest
        post has waited `max_wait_s`. Returns an empty list only when the queue is closed and empty."""
        while True:
            if self._pending:
                oldest_wait = time.monotonic() - self._pending[0].enqueued_at
                if len(self._pending) >= fill_posts or oldest_wait >= max_wait_s or self._closed:
                    return self._take(max_posts)
                timeout: float | None = max_wait_s - oldest_wait
            elif self._closed:
                return []
            else:
                timeout = None
            self._post_arrived.clear()
            try:
                await asyncio.wait_for(self._post_arrived.wait(), timeout)
            except TimeoutError:
                pass

    def _take(self, max_posts: int) -> list[QueuedPost]:
        return [self._pending.popleft() for _ in range(min(max_posts, len(self._pending)))]
