"""One writer per directory: a lock file holding the writer's pid and host.

``DirLock(path)`` creates ``<path>/.hlwb.lock`` exclusively (``O_CREAT | O_EXCL``). A second writer
is refused with a message naming the holder; a lock whose process is gone (same host, pid not
alive) is stale and taken over. Used by the pipeline for its ``--out`` folder.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Self

LOCK_NAME = ".hlwb.lock"


class LockedError(RuntimeError):
    """Another live process holds the directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class DirLock:
    def __init__(self, directory: str | Path, what: str = "hlwb"):
        self.path = Path(directory) / LOCK_NAME
        self.what = what
        self.held = False

    def holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def acquire(self) -> DirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": self.what}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                h = self.holder()
                if h is not None and (h.get("host") != me["host"] or _alive(int(h.get("pid", -1)))):
                    raise LockedError(
                        f"{self.path.parent} is in use by {h.get('what', 'another run')} (pid {h.get('pid')} on "
                        f"{h.get('host')}, since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(h.get('since', 0)))}); "
                        f"wait for it, or write elsewhere (--out). If that process is gone, delete {self.path}") from None
                self.path.unlink(missing_ok=True)  # stale (its process is gone) or unreadable: take over
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise LockedError(f"could not take {self.path}; another writer keeps re-creating it")

    def release(self) -> None:
        if self.held:
            h = self.holder()
            if h is not None and h.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
