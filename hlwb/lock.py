"""One writer per directory: a lock file holding the writer's pid and host.

``DirLock(path)`` creates ``<path>/.hlwb.lock`` exclusively (``O_CREAT | O_EXCL``). A second writer
is refused with a message naming the holder; a lock whose process is gone (same host, pid not
alive) is stale and taken over. Used by the pipeline for its ``--out`` folder, by ``publish`` for the run
it copies, and by the training loop for its work directory.
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
    """Another live process holds the directory; the message says where to write instead, naming
    ``flag`` (the option of the command that was run that chooses the directory) when known."""

    def __init__(self, directory: Path, holder: str, flag: str | None = None):
        self.directory, self.holder, self.flag = Path(directory), holder, flag
        elsewhere = f"use another directory ({flag})" if flag else "use another directory"
        super().__init__(f"{directory} is in use by {holder}; wait for it, or {elsewhere}. If that process is "
                         f"gone, delete {Path(directory) / LOCK_NAME}")

    def __reduce__(self):  # rebuilt from its parts (a worker process re-raises it in the parent)
        return (LockedError, (self.directory, self.holder, self.flag))

    def with_flag(self, flag: str) -> LockedError:
        """The same refusal, naming ``flag`` (for a command line: ``--work-dir``, ``--out``)."""
        return LockedError(self.directory, self.holder, flag)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class DirLock:
    """``with DirLock(directory, what):`` one writer in ``directory``; ``flag`` names the option that
    chose the directory, for the message a second writer gets."""

    def __init__(self, directory: str | Path, what: str = "hlwb", flag: str | None = None):
        self.path = Path(directory) / LOCK_NAME
        self.what = what
        self.flag = flag
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
                    since = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(h.get('since', 0)))
                    raise LockedError(self.path.parent, f"{h.get('what', 'another run')} (pid {h.get('pid')} on "
                                      f"{h.get('host')}, since {since})", self.flag) from None
                self.path.unlink(missing_ok=True)  # stale (its process is gone) or unreadable: take over
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise LockedError(self.path.parent, "another writer that keeps re-creating its lock", self.flag)

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
