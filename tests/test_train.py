import json
import os
import subprocess
import sys

import pytest
import torch

from hlwb import checkpoint, generators
from hlwb.train import NonFiniteLoss, fit, warmup_cosine


def _toy(tmp_path, nan_at=None, dropout=False):
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the same init in every run
        lin = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Dropout(0.5 if dropout else 0.0),
                                  torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(lin.parameters(), lr=0.05)

    def step(i):
        g = torch.Generator().manual_seed(i)
        x = torch.randn(8, 2, generator=g)
        loss = (lin(x).squeeze(1) - x.sum(1)).pow(2).mean()
        if nan_at is not None and i >= nan_at:
            loss = loss * float("nan")
        opt.zero_grad()
        loss.backward()
        if torch.isfinite(loss):
            opt.step()
        return {"loss": loss.item()}

    return lin, opt, step


def test_fit_lowers_loss_and_resumes_identically(tmp_path):
    lin, opt, step = _toy(tmp_path, dropout=True)
    rec = fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=40, ckpt_path=tmp_path / "a.pt",
              ckpt_every=10, log_every=1, log_path=tmp_path / "a.jsonl", seed=1)
    assert rec[-1]["loss"] < rec[0]["loss"] / 5
    # the same run stopped after 20 steps, then resumed by fresh objects (as after a restart)
    lin2, opt2, step2 = _toy(tmp_path, dropout=True)
    fit(step2, modules={"m": lin2}, optimizers={"o": opt2}, steps=20, ckpt_path=tmp_path / "b.pt",
        ckpt_every=10, log_every=1, log_path=tmp_path / "b.jsonl", seed=1)
    with open(tmp_path / "b.jsonl", "a") as f:
        f.write('{"step": 20, "lo')  # a line cut short by a kill
    lin3, opt3, step3 = _toy(tmp_path, dropout=True)
    fit(step3, modules={"m": lin3}, optimizers={"o": opt3}, steps=40, ckpt_path=tmp_path / "b.pt",
        ckpt_every=10, log_every=1, log_path=tmp_path / "b.jsonl", seed=1)
    for (name, a), b in zip(lin.state_dict().items(), lin3.state_dict().values()):
        assert torch.equal(a, b), name  # dropout masks replayed from (seed, step)
    lines = [json.loads(ln) for ln in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(40))


def test_resume_refuses_another_config_naming_each_key(tmp_path):
    lin, opt, step = _toy(tmp_path)
    meta = {"config": {"lr": 1, "steps": 4, "knn_test": 10}, "views": {"strategy": "real"}}
    fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=4, ckpt_path=tmp_path / "c.pt", meta=meta)
    # evaluation-only settings may change
    fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=4, ckpt_path=tmp_path / "c.pt",
        meta={**meta, "config": {**meta["config"], "knn_test": 99}})
    with pytest.raises(checkpoint.CheckpointError) as e:
        fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=4, ckpt_path=tmp_path / "c.pt",
            meta={"config": {"lr": 2, "steps": 4}, "views": {"strategy": "synth"}})
    msg = str(e.value)
    assert "config.lr: checkpoint 1, this run 2" in msg and "views.strategy: checkpoint 'real', this run 'synth'" in msg
    # more steps change the schedule: another run, unless the caller says steps may grow
    with pytest.raises(checkpoint.CheckpointError, match="config.steps: checkpoint 4, this run 6"):
        fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=6, ckpt_path=tmp_path / "c.pt",
            meta={**meta, "config": {**meta["config"], "steps": 6}})
    fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=6, ckpt_path=tmp_path / "c.pt",
        meta={**meta, "config": {**meta["config"], "steps": 6}}, ignore=("steps",))
    assert checkpoint.load(tmp_path / "c.pt", kind="train-state")["step"] == 6
    # a finished run asked for fewer steps would mislabel its weights: refused, even where steps may grow
    with pytest.raises(checkpoint.CheckpointError, match="at step 6, but this run asks for steps=3"):
        fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=3, ckpt_path=tmp_path / "c.pt",
            meta={**meta, "config": {**meta["config"], "steps": 3}}, ignore=("steps",))


def _bn_toy(blow_at: int, lr: float, blow: bool = True):
    """A model whose batch-norm buffer turns infinite at step ``blow_at`` while the loss stays finite."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(net.parameters(), lr=lr)

    def step(i):
        x = torch.randn(8, 2, generator=torch.Generator().manual_seed(i))
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if blow and i >= blow_at:  # what a too-high learning rate does to running statistics
            net[1].running_var.fill_(float("inf"))
        return {"loss": loss.item()}

    return net, opt, step


def test_nonfinite_buffer_is_never_written_and_a_lower_lr_resumes(tmp_path):
    ck = tmp_path / "w" / "train_state.pt"
    net, opt, step = _bn_toy(blow_at=13, lr=0.02)
    with pytest.raises(NonFiniteLoss, match=r"m\.1\.running_var not finite after step 15.*step 10\) is kept"
                       r".*lower learning rate"):
        fit(step, modules={"m": net}, optimizers={"o": opt}, steps=20, ckpt_path=ck, ckpt_every=5,
            meta={"config": {"lr": 0.02, "steps": 20}})
    state = checkpoint.load(ck, kind="train-state")
    assert state["step"] == 10 and not checkpoint.nonfinite_keys(state)
    # another change than the learning rate is still refused
    net, opt, step = _bn_toy(blow_at=13, lr=0.01, blow=False)
    with pytest.raises(checkpoint.CheckpointError, match="config.seed"):
        fit(step, modules={"m": net}, optimizers={"o": opt}, steps=20, ckpt_path=ck, ckpt_every=5,
            meta={"config": {"lr": 0.01, "steps": 20, "seed": 1}})
    meta = {"config": {"lr": 0.01, "steps": 20}}
    fit(step, modules={"m": net}, optimizers={"o": opt}, steps=20, ckpt_path=ck, ckpt_every=5, meta=meta)
    assert opt.param_groups[0]["lr"] == 0.01  # the new rate, not the checkpoint's
    state = checkpoint.load(ck, kind="train-state")
    assert state["step"] == 20 and not checkpoint.nonfinite_keys(state)
    assert state["meta"]["history"] == [{"from_step": 10, "after": "non-finite stop",
                                         "config.lr": {"was": 0.02, "now": 0.01}}]
    assert not list(ck.parent.glob("*.nonfinite.json"))


def test_checkpoint_save_refuses_nonfinite_and_keeps_the_old_file(tmp_path):
    p = tmp_path / "g.pt"
    checkpoint.save(p, {"w": torch.ones(3)}, kind="x")
    before = p.read_bytes()
    with pytest.raises(checkpoint.NonFiniteError, match=r"state_dict\.b .*NaN or infinite"):
        checkpoint.save(p, {"state_dict": {"a": torch.ones(2), "b": torch.tensor([1.0, float("inf")])}}, kind="x")
    assert p.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))


def test_fit_removes_debris_of_interrupted_writes_and_holds_the_work_dir(tmp_path):
    from hlwb.lock import DirLock, LockedError

    work = tmp_path / "w"
    work.mkdir()
    debris = [work / ".train_state.pt.a1b2c3.tmp", work / ".log.jsonl.zz9.tmp"]
    for d in debris:
        d.write_bytes(b"x" * 100)
    keep = work / "notes.tmp"
    keep.write_text("a user's file")
    lin, opt, step = _toy(tmp_path)
    fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=3, ckpt_path=work / "train_state.pt")
    assert not any(d.exists() for d in debris) and keep.exists()
    assert not (work / ".hlwb.lock").exists()  # released at the end
    with DirLock(work, what="another pretrain"), pytest.raises(LockedError, match="in use by another pretrain"):
        fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=3, ckpt_path=work / "train_state.pt")


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    lin, opt, step = _toy(tmp_path, nan_at=25)
    with pytest.raises(NonFiniteLoss, match="loss is nan at step 25.*last finite checkpoint"):
        fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=40, ckpt_path=tmp_path / "c.pt",
            ckpt_every=10)
    state = checkpoint.load(tmp_path / "c.pt", kind="train-state")
    assert state["step"] == 20
    assert all(torch.isfinite(v).all() for v in state["modules"]["m"].values())


def test_warmup_cosine():
    assert warmup_cosine(0, 100, warmup=10) == pytest.approx(0.1)
    assert warmup_cosine(10, 100, warmup=10) == pytest.approx(1.0)
    assert warmup_cosine(100, 100, warmup=10, final=0.1) == pytest.approx(0.1)


TINY = ["--g-ch", "4", "--d-ch", "4", "--batch", "8", "--steps", "24", "--ckpt-every", "4",
        "--ema-start", "2", "--threads", "1"]


def _train(out, work, extra=()):
    return subprocess.Popen([sys.executable, "-m", "hlwb", "train-generator", *TINY, *extra,
                             "--out", str(out), "--work-dir", str(work)],
                            env={**os.environ, "HLWB_PROGRESS": "0"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_killed_generator_training_resumes_to_the_same_weights(tmp_path, kill_at_first_checkpoint):
    ref = _train(tmp_path / "ref.pt", tmp_path / "ref_work")
    assert ref.wait(timeout=300) == 0, ref.stdout.read()
    killed_at = kill_at_first_checkpoint(_train(tmp_path / "k.pt", tmp_path / "k_work"),
                                         tmp_path / "k_work" / "train_state.pt")
    assert not (tmp_path / "k.pt").exists(), "killed before the end, so no final checkpoint"
    assert 0 < killed_at < 24
    q = _train(tmp_path / "k.pt", tmp_path / "k_work")
    out = q.communicate(timeout=300)[0]
    assert q.returncode == 0, out
    a, b = generators.load(tmp_path / "ref.pt"), generators.load(tmp_path / "k.pt")
    for (n, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), n


def test_early_stop_rule(tmp_path):
    lin, opt, step = _toy(tmp_path)
    rec = fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=100, ckpt_path=tmp_path / "s.pt",
              ckpt_every=50, log_every=1, stop=lambda i, logs: i >= 10 and logs["loss"] < 1.0)
    assert rec[-1]["step"] < 99
    state = checkpoint.load(tmp_path / "s.pt", kind="train-state")
    assert state["step"] == rec[-1]["step"] + 1 and state["stopped"]
    again = fit(step, modules={"m": lin}, optimizers={"o": opt}, steps=100, ckpt_path=tmp_path / "s.pt",
                ckpt_every=50, log_every=1, stop=lambda i, logs: False)
    assert again == []  # an early-stopped run stays stopped


def test_a_refused_generator_resume_writes_nothing_and_names_the_key(tmp_path, capsys):
    from hlwb.cli import main

    args = [*TINY[:TINY.index("--steps")], "--steps", "4", *TINY[TINY.index("--steps") + 2:]]
    out, work = tmp_path / "g.pt", tmp_path / "g_work"
    assert main(["train-generator", *args, "--out", str(out), "--work-dir", str(work)]) == 0
    cfg, g = (work / "config.json").read_text(), out.read_bytes()
    capsys.readouterr()
    assert main(["train-generator", *args, "--g-ch", "8", "--out", str(out), "--work-dir", str(work)]) == 2
    assert "config.g_ch: checkpoint 4, this run 8" in capsys.readouterr().err
    shorter = [a if a != "4" or args[i - 1] != "--steps" else "2" for i, a in enumerate(args)]
    assert main(["train-generator", *shorter, "--out", str(out), "--work-dir", str(work)]) == 2
    assert "at step 4, but this run asks for steps=2" in capsys.readouterr().err
    assert (work / "config.json").read_text() == cfg and out.read_bytes() == g
    # a GAN's updates do not depend on the total: a finished run may be extended
    longer = [a if a != "4" or args[i - 1] != "--steps" else "6" for i, a in enumerate(args)]
    assert main(["train-generator", *longer, "--out", str(out), "--work-dir", str(work)]) == 0
    assert checkpoint.load(work / "train_state.pt", kind="train-state")["step"] == 6


@pytest.mark.slow
def test_two_writers_into_one_work_dir_the_second_is_refused(tmp_path):
    import time

    work = tmp_path / "w"
    cmd = [sys.executable, "-m", "hlwb", "pretrain", "--strategy", "real", "--steps", "3000", "--batch", "8",
           "--width", "4", "--blocks", "1,1", "--knn-every", "0", "--ckpt-every", "10", "--work-dir", str(work)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HLWB_PROGRESS": "0"}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (work / "train_state.pt").exists() and time.time() < deadline:  # holding the lock
            time.sleep(0.05)
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == 2 and "is in use by pretrain simclr" in second.stderr, second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait()
    # the holder was killed: its lock is stale and the next run takes it over
    again = subprocess.run([*cmd, "--seed", "1"], env=env, capture_output=True, text=True, timeout=120, check=False)
    # the lock was taken over, so the run got as far as comparing itself with the checkpoint
    assert again.returncode == 2 and "in use" not in again.stderr
    assert "config.seed: checkpoint 0, this run 1" in again.stderr, again.stderr
