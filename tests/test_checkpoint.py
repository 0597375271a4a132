import os
import pickle

import pytest
import torch

from hlwb import checkpoint, generators, oracle


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_roundtrip_and_atomic(tmp_path):
    p = tmp_path / "a" / "c.pt"
    checkpoint.save(p, {"w": torch.ones(3), "meta": {"k": [1, 2.0, "x"]}}, kind="thing")
    s = checkpoint.load(p, kind="thing")
    assert torch.equal(s["w"], torch.ones(3)) and s["meta"]["k"] == [1, 2.0, "x"]
    assert [f.name for f in p.parent.iterdir()] == ["c.pt"]  # no temporary file left behind


def test_pickled_object_is_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"format": "hlwb/generator", "payload": Evil()}, p)
    with pytest.raises(checkpoint.CheckpointError, match="refused.*unpickling runs code"):
        generators.load(p)
    with pytest.raises(checkpoint.CheckpointError, match="refused"):
        oracle.load(p)


def test_plain_pickle_file_is_refused(tmp_path):
    p = tmp_path / "plain.pkl"
    p.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(p, kind="generator")


def test_foreign_checkpoint_is_refused(tmp_path):
    p = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, p)  # a bare state dict from elsewhere
    with pytest.raises(checkpoint.CheckpointError, match="expected an hlwb checkpoint of kind 'generator'"):
        generators.load(p)
    checkpoint.save(p, {"x": torch.zeros(1)}, kind="oracle")
    with pytest.raises(checkpoint.CheckpointError, match="found format 'hlwb/oracle'"):
        generators.load(p)


def test_save_refuses_unsafe_values(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="not a tensor or plain Python value"):
        checkpoint.save(tmp_path / "x.pt", {"obj": Evil()}, kind="thing")
    assert not (tmp_path / "x.pt").exists()


def test_missing_file(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "none.pt", kind="oracle")


def test_atomic_write_has_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        checkpoint.atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_non_checkpoint_files_get_specific_messages(tmp_path):
    lfs = tmp_path / "lfs.pt"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    with pytest.raises(checkpoint.CheckpointError, match="git lfs pull"):
        checkpoint.load(lfs, kind="generator")
    html = tmp_path / "page.pt"
    html.write_text("<html>404</html>")
    with pytest.raises(checkpoint.CheckpointError, match="not a torch checkpoint"):
        checkpoint.load(html, kind="generator")
    good = tmp_path / "good.pt"
    checkpoint.save(good, {"w": torch.ones(1000)}, kind="thing")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:600])
    with pytest.raises(checkpoint.CheckpointError, match="truncated or corrupt"):
        checkpoint.load(cut, kind="thing")


def test_a_kill_inside_an_atomic_write_leaves_debris_that_the_next_start_removes(tmp_path):
    """SIGKILL while the temporary file is being written: the target is never half-written, and
    the temporary file (never picked up as data) goes when a run next starts in the directory."""
    import signal
    import subprocess
    import sys
    import time

    from hlwb.train import fit

    work = tmp_path / "w"
    work.mkdir()
    size = 64 << 20
    code = ("import sys; from hlwb.checkpoint import atomic_write_bytes as w\n"
            f"data = b'x' * {size}\n"
            "while True: w(sys.argv[1], data)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(work / "train_state.pt")])
    deadline = time.time() + 60
    try:
        while not list(work.glob(".train_state.pt.*.tmp")) and time.time() < deadline:
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    debris = list(work.glob(".train_state.pt.*.tmp"))
    assert debris, "the kill did not land inside a write"
    target = work / "train_state.pt"
    assert not target.exists() or target.stat().st_size == size  # whole or absent, never half
    target.unlink(missing_ok=True)  # (not a checkpoint: bytes) so that fit starts fresh
    lin = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    fit(lambda i: {"loss": 0.0}, modules={"m": lin}, optimizers={"o": opt}, steps=1, ckpt_path=target)
    assert not list(work.glob(".*.tmp"))
