"""DDP on CPU: 2 gloo processes against one process on the whole batch, and a real torchrun."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from hlwb import checkpoint, data, ssl, views
from hlwb import distributed as D
from hlwb.encoders import ResNetTrunk
from hlwb.pretrain import PretrainConfig, pretrain
from hlwb.ssl.losses import nt_xent

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, port: int, worker, out) -> None:
    """One spawned rank: the environment torchrun would set, then the process group, then ``worker``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    info = D.init_from_env("cpu")
    assert (info.rank, info.world_size, info.is_main) == (rank, WORLD, rank == 0)
    try:
        worker(rank, out)
    finally:
        D.cleanup()


def _spawn(worker, out) -> None:
    mp.spawn(_entry, args=(_free_port(), worker, out), nprocs=WORLD, join=True)


def _embeddings():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)  # a global batch of 8 pairs


def _moco():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = ssl.build("moco", ResNetTrunk(4, (1,)), dim=8, hidden=16, queue=32)
        return m.eval()  # batch-norm per sample: half a batch gives the same keys as the whole one


def _images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 8, 1, 32, 32, generator=g) * 2 - 1  # (view, sample, C, H, W)


def _gather_worker(rank: int, out) -> None:
    z1, z2 = _embeddings()
    b = len(z1) // WORLD
    a1, a2 = (z[rank * b:(rank + 1) * b].clone().requires_grad_() for z in (z1, z2))
    loss = nt_xent(a1, a2, tau=0.2)
    loss.backward()
    m, x = _moco(), _images()
    with torch.no_grad():
        m(x[0, rank * b:(rank + 1) * b], x[1, rank * b:(rank + 1) * b])
    m.after_step(0.5)
    torch.save({"loss": loss.detach(), "g1": a1.grad, "g2": a2.grad, "keys": m.queue.keys,
                "ptr": m.queue.ptr}, out / f"rank{rank}.pt")


def test_gathered_nt_xent_and_moco_queue_match_one_process_on_the_whole_batch(tmp_path):
    _spawn(_gather_worker, tmp_path)
    r = [torch.load(tmp_path / f"rank{i}.pt") for i in range(WORLD)]
    z1, z2 = (z.clone().requires_grad_() for z in _embeddings())
    ref = nt_xent(z1, z2, tau=0.2)
    ref.backward()
    # rank r's loss is the mean over its anchors, so the mean over ranks is the whole-batch loss
    assert torch.stack([x["loss"] for x in r]).mean().item() == pytest.approx(ref.item(), rel=1e-5)
    assert r[0]["loss"].item() != pytest.approx(r[1]["loss"].item())  # the ranks hold different anchors
    # a rank's gradient is that of the sum of the rank losses; averaging over ranks (DDP) divides by WORLD
    for name, z in (("g1", z1), ("g2", z2)):
        got = torch.cat([x[name] for x in r]) / WORLD
        torch.testing.assert_close(got, z.grad, rtol=1e-5, atol=1e-6)
    # MoCo: every rank enqueued the keys of the whole batch, in the same order
    m, x = _moco(), _images()
    with torch.no_grad():
        m(x[0], x[1])
    m.after_step(0.5)
    assert torch.equal(r[0]["keys"], r[1]["keys"]) and int(r[0]["ptr"]) == int(m.queue.ptr) == 8
    torch.testing.assert_close(r[0]["keys"], m.queue.keys, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(m.queue.keys[:8], _moco().queue.keys[:8])  # the enqueue changed something


def _gcrl():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = ssl.build("gcrl", ResNetTrunk(4, (1,)), hidden=16, proj_dim=8, head_width=8, head_layers=2)
        return m.eval()  # batch-norm per sample, as for _moco


def _gcrl_worker(rank: int, out) -> None:
    m, x = _gcrl(), _images()
    b = x.shape[1] // WORLD
    loss, logs = m(x[0, rank * b:(rank + 1) * b], x[1, rank * b:(rank + 1) * b])
    loss.backward()
    params = [p for p in m.parameters() if p.requires_grad]
    D.average_gradients(params)  # what pretrain() does after backward
    torch.save({"grads": [p.grad for p in params], "l_gen": logs["l_gen"], "l_con": logs["l_con"]},
               out / f"rank{rank}.pt")


def test_ddp_gcrl_gradients_match_one_process_on_the_whole_batch(tmp_path):
    """NT-Xent gathers its negatives, the generative term is a per-image mean: the averaged
    gradient of both is the single-process gradient of L = alpha L_gen + beta L_con on the batch."""
    _spawn(_gcrl_worker, tmp_path)
    r = [torch.load(tmp_path / f"rank{i}.pt") for i in range(WORLD)]
    m, x = _gcrl(), _images()
    loss, logs = m(x[0], x[1])
    loss.backward()
    assert sum(x["l_gen"] for x in r) / WORLD == pytest.approx(logs["l_gen"], rel=1e-5)
    assert sum(x["l_con"] for x in r) / WORLD == pytest.approx(logs["l_con"], rel=1e-5)
    ref = [p.grad for p in m.parameters() if p.requires_grad]
    assert len(ref) == len(r[0]["grads"]) and any(g.abs().sum() > 0 for g in ref)
    for i, g in enumerate(ref):
        torch.testing.assert_close(r[0]["grads"][i], g, rtol=1e-4, atol=1e-6)
        assert torch.equal(r[0]["grads"][i], r[1]["grads"][i])


TINY = PretrainConfig(method="moco", steps=4, batch=8, width=4, blocks="1,1", warmup=1, ckpt_every=2,
                      knn_every=0)


class Killed(RuntimeError):
    pass


class _Dies(views.RealViews):
    def batch_at(self, step):
        if step == 3:
            raise Killed
        return super().batch_at(step)


def _pretrain_worker(rank: int, out) -> None:
    imgs = data.fashion_mnist("test").float_images()[:256]
    seed = D.rank_seed(TINY.seed, rank)
    with pytest.raises(ValueError, match="identical batches"):  # the same source on both ranks is refused
        pretrain(views.RealViews(imgs, batch=8, seed=TINY.seed), TINY, None)
    # an uninterrupted run; rank 1 is handed its own directory, which must stay empty
    full, _ = pretrain(views.RealViews(imgs, batch=8, seed=seed), TINY, out / f"full{rank}")
    # the same run killed after its step-2 checkpoint, then resumed by every rank from rank 0's file
    with pytest.raises(Killed):
        pretrain(_Dies(imgs, batch=8, seed=seed), TINY, out / "part")
    resumed, _ = pretrain(views.RealViews(imgs, batch=8, seed=seed), TINY, out / "part")
    torch.save({"full": full.state_dict(), "resumed": resumed.state_dict()}, out / f"rank{rank}.pt")


def test_ddp_pretraining_keeps_ranks_identical_and_resumes_exactly(tmp_path):
    _spawn(_pretrain_worker, tmp_path)
    r = [torch.load(tmp_path / f"rank{i}.pt") for i in range(WORLD)]
    ref = r[0]["full"]
    for i in range(WORLD):
        for run in ("full", "resumed"):
            for n, t in ref.items():
                assert torch.equal(r[i][run][n], t), (i, run, n)
    assert not (tmp_path / "full1").exists()  # only rank 0 writes
    assert {p.name for p in (tmp_path / "full0").iterdir()} == {"train_state.pt", "log.jsonl", "ranks.json"}
    state = checkpoint.load(tmp_path / "part" / "train_state.pt", kind="train-state")
    assert state["meta"]["world_size"] == WORLD and state["step"] == 4
    # the queue holds 4 steps x 2 ranks x 8 keys
    assert int(ref["queue.ptr"]) == 4 * WORLD * 8


def test_world_size_without_a_process_group_is_refused(monkeypatch):
    assert D.init_from_env() == D.DistInfo() and D.world_size() == 1
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="no process group is initialised"):
        pretrain(views.RealViews(torch.zeros(4, 1, 32, 32), batch=2), TINY, None)
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="RANK.*torchrun"):
        D.init_from_env("cpu")


ARGS = ["pretrain", "--method", "simclr", "--strategy", "real", "--steps", "4", "--batch", "16",
        "--width", "4", "--blocks", "1,1", "--warmup", "1", "--ckpt-every", "2", "--knn-every", "0"]


def _cli(prefix: list[str], work) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HLWB_HEADLESS": "1"}
    env = {k: v for k, v in env.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return subprocess.run([sys.executable, *prefix, "-m", "hlwb", *ARGS, "--work-dir", str(work)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                          check=False)


@pytest.mark.slow
def test_torchrun_pretrain_two_ranks(tmp_path):
    run = _cli(["-m", "torch.distributed.run", "--nproc_per_node", str(WORLD), "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port())], tmp_path / "ddp")
    assert run.returncode == 0, run.stdout
    files = {p.name for p in (tmp_path / "ddp").iterdir()}
    assert files == {"train_state.pt", "encoder.pt", "encoder.json", "log.jsonl", "ranks.json", "config.json"}, files
    # every rank's digest of its final state, gathered and written by rank 0, matches what rank 0 saved
    ranks = json.loads((tmp_path / "ddp" / "ranks.json").read_text())
    state = checkpoint.load(tmp_path / "ddp" / "train_state.pt", kind="train-state")
    assert ranks["world_size"] == WORLD and len(ranks["state_sha256"]) == WORLD
    assert set(ranks["state_sha256"]) == {D.digest(state["modules"]["method"].values()).hex()}
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["world_size"] == WORLD
    assert len((tmp_path / "ddp" / "log.jsonl").read_text().splitlines()) == 4  # rank 0 alone logs
    # one process with the same seed is rank 0 alone: it saw half the data, so it ends elsewhere
    one = _cli([], tmp_path / "one")
    assert one.returncode == 0, one.stdout
    a = checkpoint.load(tmp_path / "ddp" / "encoder.pt", kind="encoder")["state_dict"]
    b = checkpoint.load(tmp_path / "one" / "encoder.pt", kind="encoder")["state_dict"]
    assert a.keys() == b.keys() and not all(torch.equal(a[n], b[n]) for n in a)
    assert not (tmp_path / "one" / "ranks.json").exists()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_ranks_stop_when_the_torchrun_launcher_is_killed(tmp_path):
    """kill -9 of torchrun cannot signal its workers; each rank's watchdog sees its parent gone."""
    import signal
    import time

    work = tmp_path / "ddp"
    env = {k: v for k, v in {**os.environ, "OMP_NUM_THREADS": "1", "HLWB_HEADLESS": "1"}.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    args = list(ARGS)
    args[args.index("--steps") + 1] = "5000"  # a run far longer than the test
    launcher = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(WORLD),
                                 "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "hlwb",
                                 *args, "--work-dir", str(work)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (work / "train_state.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert (work / "train_state.pt").exists(), "the ranks never wrote a checkpoint"
    ranks = _children(launcher.pid)
    assert len(ranks) == WORLD, ranks
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.time() + 30
    while any(_alive(p) for p in ranks) and time.time() < deadline:
        time.sleep(0.1)
    still = [p for p in ranks if _alive(p)]
    for p in still:
        os.kill(p, signal.SIGKILL)
    assert not still, "ranks kept training after their launcher died"
    assert not (work / "encoder.pt").exists()
    assert checkpoint.load(work / "train_state.pt", kind="train-state")["step"] < 5000
