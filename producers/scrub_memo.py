"""Scrubbing of the short vocabulary fields at the edge (team, service name, subject,
main subject type), remembered.

Channel systems send the same few hundred values in these fields over and over, and running
the scrubber's patterns over each was the larger part of the edge's CPU time for a contact
(measured with py-spy on `klantsignaal bench --runtime kafka`). The memo keeps no raw text:
its key is a BLAKE2b digest of the text under a random key of this process, its value the
scrubbed text, which is what goes on the topic anyway. It is bounded (emptied when full),
and the year is part of the key because the scrubber's dates of birth depend on it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime

from pipeline.privacy import scrub_bounded

MAX_ENTRIES = 4096
MAX_TEXT = 200  # longer texts are free text rather than vocabulary: scrubbed every time


class ScrubMemo:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._key = os.urandom(16)
        self._memo: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def scrub(self, text: str, max_length: int) -> str:
        """Exactly `pipeline.privacy.scrub_bounded(text, max_length)`."""
        if len(text) > MAX_TEXT:
            return scrub_bounded(text, max_length)
        year = datetime.now(UTC).year
        raw = f"{year}|{max_length}|{text}".encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(raw, key=self._key, digest_size=16).digest()
        found = self._memo.get(digest)
        if found is None:
            found = scrub_bounded(text, max_length)
            with self._lock:
                if len(self._memo) >= self.max_entries:
                    self._memo.clear()
                self._memo[digest] = found
        return found

    def __len__(self) -> int:
        return len(self._memo)

    def values(self) -> list[str]:
        """What the memo holds besides digests (for the tests: only scrubbed texts)."""
        return list(self._memo.values())
