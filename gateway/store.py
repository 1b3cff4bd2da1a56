"""A file that persists a node's frame counter across restarts (seqstore's store interface).

Rules kept here:
1. save() writes the new value to a temporary file, fsyncs it and renames it over the old
   one, so a power cut leaves either the old or the new value, never a torn one.
2. load() returns None for a missing file and raises StoreError for a corrupt one: guessing a
   counter could reuse sequence numbers.
"""

from __future__ import annotations

import os


class StoreError(Exception):
    pass


class FileStore:
    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> int | None:
        try:
            with open(self.path, encoding="ascii") as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"cannot read counter file {self.path}: {e.strerror}") from None
        if not text.isdigit():
            raise StoreError(f"counter file {self.path} is corrupt; refusing to guess a value")
        return int(text)

    def save(self, value: int) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{value}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
