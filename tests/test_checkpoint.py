import hashlib
import json
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


def _tensor_data_offset(path) -> int:
    """Byte offset, in a torch zip checkpoint, of the middle of its largest tensor record."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len + info.file_size // 2


def _copy_shipped(tmp_path, src):
    import shutil

    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


@pytest.mark.parametrize("which", ["biggan", "oracle"])
def test_flipped_bytes_in_a_shipped_checkpoint_are_refused(tmp_path, which):
    src = generators.shipped_path("biggan") if which == "biggan" else oracle.shipped_path()
    load = generators.load if which == "biggan" else oracle.load
    (tmp_path / "ok").mkdir()
    intact = _copy_shipped(tmp_path / "ok", src)
    load(intact)  # an unchanged copy with its sidecar loads
    bad = _copy_shipped(tmp_path, src)
    raw = bytearray(bad.read_bytes())
    at = _tensor_data_offset(bad)
    raw[at:at + 4] = bytes(b ^ 0xFF for b in raw[at:at + 4])
    bad.write_bytes(bytes(raw))
    expected = json.loads(src.with_suffix(".json").read_text())["sha256"]
    with pytest.raises(checkpoint.CheckpointError) as e:
        load(bad)
    msg = str(e.value)
    assert str(bad) in msg and expected in msg and hashlib.sha256(bytes(raw)).hexdigest() in msg
    assert "git checkout --" in msg and "git lfs pull" in msg


def test_shipped_sidecars_record_the_committed_digest():
    for src in [*(generators.shipped_path(n) for n in generators.SHIPPED), oracle.shipped_path()]:
        assert checkpoint.recorded_sha256(src) == hashlib.sha256(src.read_bytes()).hexdigest(), src.name


def test_shipped_checkpoint_without_digest_is_refused(tmp_path, monkeypatch):
    copy = _copy_shipped(tmp_path, generators.shipped_path("biggan"))
    side = copy.with_suffix(".json")
    side.write_text(json.dumps({k: v for k, v in json.loads(side.read_text()).items() if k != "sha256"}))
    generators.load(copy)  # a user's file without a digest: loads unchecked
    monkeypatch.setattr(generators, "shipped_path", lambda name: copy)
    with pytest.raises(checkpoint.CheckpointError, match='records no "sha256"'):
        generators.load("biggan")


def test_write_sidecar_records_the_digest_load_checks(tmp_path):
    p = tmp_path / "c.pt"
    checkpoint.save(p, {"w": torch.ones(4)}, kind="thing")
    rec = checkpoint.write_sidecar(p, {"command": "x"})
    assert json.loads(p.with_suffix(".json").read_text()) == rec
    assert rec["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    checkpoint.load(p, kind="thing")
    other = tmp_path / "other.pt"
    checkpoint.save(other, {"w": torch.zeros(4)}, kind="thing")
    p.write_bytes(other.read_bytes())  # replaced behind the sidecar's back (not through checkpoint.save)
    with pytest.raises(checkpoint.CheckpointError, match="SHA-256"):
        checkpoint.load(p, kind="thing")
    checkpoint.save(p, {"w": torch.zeros(4)}, kind="thing")  # rewritten through save: the stale digest goes
    assert not p.with_suffix(".json").exists() and checkpoint.load(p, kind="thing")["w"].eq(0).all()



def test_save_with_a_sidecar_is_checked_at_load_and_a_kill_never_leaves_a_stale_digest(tmp_path, monkeypatch, caplog):
    p = tmp_path / "encoder.pt"
    checkpoint.save(p, {"w": torch.ones(4)}, kind="thing", sidecar={"run": "a"})
    rec = json.loads(p.with_suffix(".json").read_text())
    assert rec == {"kind": "thing", "run": "a", "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    with caplog.at_level("WARNING", logger="hlwb.checkpoint"):
        checkpoint.load(p, kind="thing")
    assert "digest unchecked" not in caplog.text  # checked, not warned about

    def killed(path, data):  # the process dies while the new file is written
        raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint, "atomic_write_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(p, {"w": torch.zeros(4)}, kind="thing", sidecar={})
    assert not p.with_suffix(".json").exists()  # the old digest went first: never a digest of another file
    monkeypatch.undo()
    assert checkpoint.load(p, kind="thing")["w"].eq(1).all()  # the old file loads (with a warning, not a refusal)


def _tiny_generator_state():
    from hlwb.generators.biggan import BigGANGenerator

    g = BigGANGenerator(ch=4)
    return {"family": "biggan", "config": g.config(), "state_dict": g.state_dict(), "meta": {}}


def test_generator_config_with_an_extra_key_names_the_file(tmp_path):
    p = tmp_path / "g.pt"
    state = _tiny_generator_state()
    checkpoint.save(p, {**state, "config": {**state["config"], "colour": 3}}, kind="generator")
    with pytest.raises(checkpoint.CheckpointError, match=f"{p}.*unknown key.*'colour'"):
        generators.load(p)


def test_generator_without_state_dict_names_the_file(tmp_path):
    p = tmp_path / "g.pt"
    checkpoint.save(p, {k: v for k, v in _tiny_generator_state().items() if k != "state_dict"}, kind="generator")
    with pytest.raises(checkpoint.CheckpointError, match=f"{p}.*no 'state_dict'"):
        generators.load(p)


def test_weights_that_do_not_fit_name_the_file(tmp_path):
    p = tmp_path / "g.pt"
    state = _tiny_generator_state()
    checkpoint.save(p, {**state, "config": {**state["config"], "ch": 8}}, kind="generator")
    with pytest.raises(checkpoint.CheckpointError, match=f"{p}.*do not fit"):
        generators.load(p)


@pytest.mark.parametrize("config, key", [({"ch": 10**6}, "ch"), ({"ch": 2**40}, "ch"),
                                         ({"chunk_dim": 10**9}, "chunk_dim")])
def test_absurd_generator_size_is_refused_before_allocating(tmp_path, config, key):
    import time
    import tracemalloc

    p = tmp_path / "huge.pt"
    state = _tiny_generator_state()
    checkpoint.save(p, {**state, "config": {**state["config"], **config}}, kind="generator")
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(checkpoint.CheckpointError) as e:
        generators.load(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(p) in str(e.value) and f"{key}={config[key]!r}" in str(e.value) and "parameters" in str(e.value)
    assert time.perf_counter() - t < 5 and peak < 50 * 2**20  # nothing of the model was allocated


def test_absurd_depth_is_refused_quickly(tmp_path):
    import time

    from hlwb.generators.stylegan import StyleGANGenerator

    g = StyleGANGenerator()  # defaults: only the depth is off, so only it is tried back
    p = tmp_path / "deep.pt"
    checkpoint.save(p, {"family": "stylegan", "config": {**g.config(), "mapping_depth": 10**9},
                        "state_dict": g.state_dict()}, kind="generator")
    t = time.perf_counter()
    with pytest.raises(checkpoint.CheckpointError, match="mapping_depth=1000000000"):
        generators.load(p)
    assert time.perf_counter() - t < 30


def test_malformed_oracle_encoder_and_walker_name_the_file(tmp_path):
    from hlwb import encoders, walkers
    from hlwb import latents as L

    p = tmp_path / "o.pt"
    checkpoint.save(p, {"config": {"width": 4, "depth": 2}, "state_dict": {}}, kind="oracle")
    with pytest.raises(checkpoint.CheckpointError, match=f"{p}.*unknown key.*'depth'"):
        oracle.load(p)
    checkpoint.save(p, {"config": {"width": 10**7}, "state_dict": {}}, kind="oracle")
    with pytest.raises(checkpoint.CheckpointError, match=f"{p}.*width=10000000"):
        oracle.load(p)
    e = tmp_path / "e.pt"
    checkpoint.save(e, {"width": 8, "blocks": [1, 1, 1, 1]}, kind="encoder")
    with pytest.raises(checkpoint.CheckpointError, match=f"{e}.*no 'state_dict'"):
        encoders.load_encoder(e)
    checkpoint.save(e, {"width": 10**6, "blocks": [1, 1, 1, 1], "state_dict": {}}, kind="encoder")
    with pytest.raises(checkpoint.CheckpointError, match=f"{e}.*width=1000000"):
        encoders.load_encoder(e)
    w = tmp_path / "w.pt"
    walker = walkers.LearnedWalker((L.Chunk("a", 4, 0), L.Chunk("b", 4, 1)), hidden=8)
    walkers.save_learned(w, walker)
    assert walkers.load_learned(w).selected == [0, 1]
    state = checkpoint.load(w, kind="walker")
    checkpoint.save(w, {**{k: v for k, v in state.items() if k != "format"}, "hidden": 10**9}, kind="walker")
    assert not checkpoint.sidecar_path(w).exists()  # a hand-made file without a digest: its config is still checked
    with pytest.raises(checkpoint.CheckpointError, match=f"{w}.*hidden=1000000000"):
        walkers.load_learned(w)
