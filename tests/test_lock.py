"""One writer per directory: a live holder is refused by name, a stale lock is taken over."""

import json
import subprocess
import sys

import pytest

from hlwb import pipeline
from hlwb.lock import LOCK_NAME, DirLock, LockedError


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    with DirLock(tmp_path, what="first run"), pytest.raises(LockedError, match=r"in use by first run \(pid \d+"):
        DirLock(tmp_path, what="second").acquire()
    assert not (tmp_path / LOCK_NAME).exists()  # released
    DirLock(tmp_path).acquire().release()


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    import socket

    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                                  "since": 0, "what": "a killed run"}))
    with DirLock(tmp_path) as lock:
        assert lock.holder()["pid"] != int(dead.stdout)


def test_the_pipeline_refuses_an_out_folder_in_use(tmp_path):
    with DirLock(tmp_path, what="another pipeline"), pytest.raises(LockedError, match="another pipeline"):
        pipeline.run_pipeline("smoke", out=tmp_path, only="02_latent_explorer")
