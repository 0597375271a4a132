"""One device setting: how it resolves, and that every library entry point that computes honours it.

Each plumbing test runs on the CPU and, where a CUDA GPU is present, on it too: every module the
entry point builds (seen through its training loop or returned) and every tensor it returns is on
the device asked for. On a machine without the device asked for, every entry point refuses before
doing any work (no data read, no module moved, no file written). The training steps of the walker,
the GANs and the RDM copy nothing to the host (``Tensor.cpu``/``numpy``/``tolist``): only logged
scalars cross, with ``.item()``.
"""

import dataclasses

import pytest
import torch
from torch.overrides import TorchFunctionMode

from hlwb import (
    calibration,
    data,
    devices,
    encoders,
    explorer,
    generators,
    minmax,
    ood,
    oracle,
    parallel,
    quality,
    rcg,
    ssl,
    transfer,
)
from hlwb import perturbation as P
from hlwb import targets as T
from hlwb.encoders import Critic, ResNetTrunk, save_encoder
from hlwb.generators import training
from hlwb.generators.biggan import BigGANGenerator
from hlwb.rcg import generator as rcg_generator
from hlwb.rcg import rdm as rcg_rdm
from hlwb.walkers import IdentityWalker

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


# ---- resolve ----

@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without a CUDA GPU (whatever it has), and no torchrun rank."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.delenv("LOCAL_RANK", raising=False)


def test_resolve_on_a_machine_without_a_gpu(no_gpu):
    assert devices.resolve() == devices.resolve("auto") == torch.device("cpu")
    assert devices.resolve("cpu") == devices.resolve(torch.device("cpu")) == devices.resolve(" CPU ") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match=rf"device '{name}' asked for, but this machine has no CUDA GPU"):
            devices.resolve(name)
    for bad in ("tpu", ""):
        with pytest.raises(ValueError, match="auto, cpu, cuda, cuda:N") as e:
            devices.resolve(bad)
        assert repr(bad) in str(e.value)


def test_resolve_with_two_gpus_picks_the_rank_and_refuses_a_third(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("HLWB_DEVICE")  # the suite pins "auto" to the CPU (conftest.py)
    assert devices.resolve("auto") == devices.resolve("cuda") == torch.device("cuda", 0)  # no CUDA tensor made
    monkeypatch.setenv("HLWB_DEVICE", "cpu")
    assert devices.resolve("auto") == torch.device("cpu") and devices.resolve("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setenv("HLWB_DEVICE", "auto")
    with pytest.raises(ValueError, match="HLWB_DEVICE=auto would be circular"):
        devices.resolve("auto")
    monkeypatch.delenv("HLWB_DEVICE")
    with pytest.raises(ValueError, match=r"'cuda:3' \(GPU 3\).*2 GPU\(s\): cuda:0\.\.cuda:1"):
        devices.resolve("cuda:3")
    with pytest.raises(ValueError, match="integer N"):
        devices.resolve("cuda:x")
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's second process
    assert devices.resolve("auto") == devices.resolve("cuda") == torch.device("cuda", 1)
    assert devices.resolve("cuda:0") == torch.device("cuda", 0)  # an explicit index is kept
    assert devices.resolve("auto", local_rank=0) == torch.device("cuda", 0)


# ---- helpers ----

def _tensors(obj):
    """Every tensor in ``obj``: a module's parameters and buffers, an optimiser's state, nested containers."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, torch.nn.Module):
        yield from obj.parameters()
        yield from obj.buffers()
    elif isinstance(obj, torch.optim.Optimizer):  # Adam's step counters stay on the host, by design
        for state in obj.state.values():
            yield from _tensors({k: v for k, v in state.items() if k != "step"})
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        yield from _tensors([getattr(obj, f.name) for f in dataclasses.fields(obj)])


def _all_on(device: str, *objs) -> None:
    found = [t for o in objs for t in _tensors(o)]
    assert found, "nothing to check"
    off = {str(t.device) for t in found if t.device.type != device}
    assert not off, f"tensors on {off}, expected {device}"


class HostCopies(TorchFunctionMode):
    """Records every call that hands a tensor's data to the host (not ``.item()`` of a scalar);
    ``own_code_only``: only calls made by hlwb's own code (the caller's frame is in ``hlwb/``)."""

    WATCHED = frozenset({"cpu", "numpy", "tolist", "__array__"})

    def __init__(self, own_code_only: bool = False):
        super().__init__()
        self.calls: list[str] = []
        self.own_code_only = own_code_only

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.WATCHED and (not self.own_code_only or _called_from_hlwb()):
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def _called_from_hlwb() -> bool:
    """The frame that called the torch function lies in the hlwb package (not kornia, not torch)."""
    import sys
    from pathlib import Path

    import hlwb

    pkg = str(Path(hlwb.__file__).parent)
    f = sys._getframe(2)
    while f is not None and "torch/" in f.f_code.co_filename.replace("\\", "/"):
        f = f.f_back  # skip torch's own wrappers
    return f is not None and f.f_code.co_filename.startswith(pkg)


def _spy(monkeypatch, module, name: str, seen: list, keep=lambda r: r) -> None:
    """Wrap ``module.name``: what each call returns (``keep`` of it) is appended to ``seen``."""
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(keep(out))
        return out

    monkeypatch.setattr(module, name, wrapper)


def _watch_fit(monkeypatch, module, own_code_only: bool = False) -> dict:
    """Wrap ``module.fit``: keep the modules and optimisers it trains, and the host copies each step made."""
    seen: dict = {"modules": {}, "optimizers": {}, "host_copies": [], "steps": 0}
    real = module.fit

    def fit(step, *, modules, optimizers, **kw):
        seen["modules"].update(modules)
        seen["optimizers"].update(optimizers)

        def watched(i):
            with HostCopies(own_code_only) as h:
                logs = step(i)
            seen["host_copies"] += h.calls
            seen["steps"] += 1
            return logs

        return real(watched, modules=modules, optimizers=optimizers, **kw)

    monkeypatch.setattr(module, "fit", fit)
    return seen


@pytest.fixture
def tiny_fashion(monkeypatch):
    """Fashion-MNIST as 256 train and 128 test images (the oracle and GAN trainers read it)."""
    tr, te = data.fashion_mnist("train"), data.fashion_mnist("test")
    small = {"train": data.Dataset("train", tr.images[:256], tr.labels[:256], tr.classes),
             "test": data.Dataset("test", te.images[:128], te.labels[:128], te.classes)}
    monkeypatch.setattr(data, "fashion_mnist", lambda split: small[split])


def _gen() -> BigGANGenerator:
    torch.manual_seed(0)
    g = BigGANGenerator(ch=4)
    g.recompute_statistics(seed=0, n_batches=2, batch=32)
    return g


def _target() -> T.Target:
    g = torch.Generator().manual_seed(0)
    y_tr, y_te = torch.arange(60) % 3, torch.arange(30) % 3
    x_tr = (torch.randn(60, 1, 32, 32, generator=g) * 0.5 + y_tr[:, None, None, None] * 0.3).clamp(-1, 1)
    x_te = (torch.randn(30, 1, 32, 32, generator=g) * 0.5 + y_te[:, None, None, None] * 0.3).clamp(-1, 1)
    return T.Target("toy", x_tr, y_tr, x_te, y_te, ("a", "b", "c"))


def _encoder_file(path) -> str:
    torch.manual_seed(1)
    save_encoder(path, ResNetTrunk(4, (1, 1)), {"method": "simclr", "strategy": "real"})
    return str(path)


def _gcrl():
    torch.manual_seed(0)
    return ssl.build("gcrl", ResNetTrunk(4, (1,)), alpha=1.0, beta=0.0, head_width=8, head_layers=2).eval()


TINY_RDM = rcg.RDMConfig(dim=8, width=32, blocks=1, steps=3, batch=8, ckpt_every=2)
TINY_REP_GAN = rcg.RepGANConfig(rep_dim=5, steps=2, batch=4, g_ch=4, d_ch=4, chunk_dim=6, ema_start=1,
                                stat_batches=1, ckpt_every=2, p_uncond=0.5)


def _rep_pairs():
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 1, 32, 32, generator=g) * 2 - 1, rcg.standardize(torch.randn(16, 5, generator=g))


# ---- training entry points: modules, optimiser state and results on the device; steps stay there ----

@pytest.mark.parametrize("device", DEVICES)
def test_train_walker_and_its_evaluation_stay_on_the_device(device, tmp_path, monkeypatch):
    seen = _watch_fit(monkeypatch, minmax)
    gen, orc = _gen(), oracle.load(device=device)
    cfg = minmax.MinMaxConfig(steps=2, batch=8, critic_width=4, walker_hidden=8, snapshot_every=1)
    walker, critic, rec = minmax.train_walker(gen, [1, 2], cfg, work_dir=tmp_path, oracle=orc, device=device)
    assert len(rec) == 2 and seen["steps"] == 2
    _all_on(device, gen, walker, critic, seen["modules"], seen["optimizers"])
    assert seen["host_copies"] == [], f"a walker step copied to the host: {seen['host_copies']}"
    anchors = minmax.anchor_batches(gen, 16, 8, oracle=orc, device=device)
    _all_on(device, anchors[0]["z"], anchors[0]["x"], anchors[0]["y"])
    mc = minmax.monte_carlo(gen, walker, critic, orc, n_anchors=16, batch=8, anchors=anchors, device=device)
    assert 0 <= mc["oracle_agreement"] <= 1
    rows = minmax.evaluate_snapshots(gen, tmp_path, [1, 2], cfg, anchors, orc, smooth=1, device=device)
    at = minmax.monte_carlo_at(gen, tmp_path, 2, [1, 2], cfg, anchors, orc, device=device)
    assert [r["step"] for r in rows] == [1, 2] and at["infonce"] == rows[1]["infonce"]
    _all_on(device, *minmax.load_snapshot(minmax.snapshot_path(tmp_path, 1), gen, [1, 2], cfg))


@pytest.mark.parametrize("device", DEVICES)
def test_train_gan_and_obtain_stay_on_the_device(device, tmp_path, monkeypatch, tiny_fashion):
    seen = _watch_fit(monkeypatch, training)
    real_stats = BigGANGenerator.recompute_statistics  # the standing statistics, in 1 batch of 8 (not 64 of 256)
    monkeypatch.setattr(BigGANGenerator, "recompute_statistics", lambda self, seed, n_batches=64, batch=256: real_stats(self, seed, 1, 8))
    cfg = training.GANConfig(steps=2, batch=4, g_ch=4, d_ch=4, ema_start=1, ckpt_every=2)
    out = training.train_gan(cfg, tmp_path / "g.pt", tmp_path / "work", device=device)
    assert set(seen["modules"]) == {"G", "D", "G_ema"} and seen["steps"] == 2
    _all_on(device, seen["modules"]["G"], seen["modules"]["D"], seen["optimizers"])
    assert seen["host_copies"] == [], f"a GAN step copied to the host: {seen['host_copies']}"
    _all_on("cpu", torch.load(out, weights_only=True)["state_dict"])  # the file holds host tensors
    gen = generators.load(out, device=device)
    _all_on(device, gen, gen.sample_latents(2, seed=0), gen.generate(gen.sample_latents(2, seed=0)))
    _all_on(device, training.obtain("biggan", False, tmp_path, steps=1, device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_train_oracle_and_load_stay_on_the_device(device, tmp_path, monkeypatch, tiny_fashion):
    seen = _watch_fit(monkeypatch, oracle)
    acc = oracle.train_oracle(oracle.OracleConfig(epochs=1, batch=128, width=2), tmp_path / "o.pt", device=device)
    assert 0 <= acc <= 1 and seen["steps"] == 2
    _all_on(device, seen["optimizers"])  # (its step reads its shift off a host draw with tolist: not watched)
    _all_on("cpu", torch.load(tmp_path / "o.pt", weights_only=True)["state_dict"])
    orc = oracle.load(tmp_path / "o.pt", device=device)
    _all_on(device, orc.net)
    host = data.fashion_mnist("test").images[:8]
    _all_on("cpu", orc.probs(host), orc.features(host))  # results come back where the images are
    _all_on(device, orc.predict(devices.to_device(data.to_float(host), device)))


@pytest.mark.parametrize("device", DEVICES)
def test_train_rdm_and_rep_gan_stay_on_the_device(device, tmp_path, monkeypatch):
    seen_rdm = _watch_fit(monkeypatch, rcg_rdm)
    reps = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    rdm, _ = rcg.train_rdm(reps, TINY_RDM, tmp_path / "rdm", device=device)
    _all_on(device, rdm, seen_rdm["optimizers"], rdm.sample(3, seed=0, steps=2))
    assert seen_rdm["host_copies"] == [], f"an RDM step copied to the host: {seen_rdm['host_copies']}"
    rcg.save_rdm(tmp_path / "rdm.pt", rdm)
    _all_on(device, rcg.load_rdm(tmp_path / "rdm.pt", device=device))

    seen_gan = _watch_fit(monkeypatch, rcg_generator)
    G, _ = rcg.train_rep_gan(_rep_pairs(), TINY_REP_GAN, tmp_path / "rep", device=device)
    _all_on(device, G, seen_gan["modules"], seen_gan["optimizers"])
    assert seen_gan["host_copies"] == [], f"a rep-GAN step copied to the host: {seen_gan['host_copies']}"
    rcg.save_rep_generator(tmp_path / "rep.pt", G)
    G2 = rcg.load_rep_generator(tmp_path / "rep.pt", device=device)
    z = G2.sample_latents(2, seed=0)
    _all_on(device, G2, G2.generate(z, devices.to_device(_rep_pairs()[1][:2], device), guidance=1.0))


# ---- evaluation entry points ----

@pytest.mark.parametrize("device", DEVICES)
def test_perturbation_study_stays_on_the_device(device):
    gen, orc = _gen(), oracle.load(device=device)
    a = P.anchors(gen, orc, 16, seed=0, batch=8, device=device)
    _all_on(device, gen, a)
    res = P.sweep(gen, orc, a, 2, [0.0, 0.5], seed=0, batch=8, keep_images=2, device=device)
    assert res["agree"].shape == (2, 16) and res["agree"][0].all()  # numpy tables on the host
    _all_on(device, res["pairs"], res["images"])
    r = P.proxy_infonce(a.x, res["pairs"][1], n_train=8, steps=1, batch=8, width=4, device=device)
    assert r["mi_bound"] >= 0


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_generator_runs_on_the_device(device, tmp_path, monkeypatch, tiny_fashion):
    g = _gen()
    generators.save(tmp_path / "g.pt", g)
    loaded: list = []
    _spy(monkeypatch, generators, "load", loaded)
    _spy(monkeypatch, oracle, "load", loaded, keep=lambda o: o.net)
    q = quality.evaluate_generator(str(tmp_path / "g.pt"), n=32, n_anchors=8, device=device)
    assert q["fd_oracle"] > 0 and len(q["chunk_agreement"]) == len(g.chunks) and len(loaded) == 2
    _all_on(device, *loaded)


@pytest.fixture
def encoder_loads(monkeypatch) -> list:
    """Every encoder that ``load_encoder`` returns (calibration imports it when called, transfer at import)."""
    loaded: list = []
    _spy(monkeypatch, encoders, "load_encoder", loaded)
    _spy(monkeypatch, transfer, "load_encoder", loaded)
    return loaded


@pytest.mark.parametrize("device", DEVICES)
def test_calibrate_encoders_loads_onto_the_device(device, tmp_path, encoder_loads):
    cal = calibration.calibrate_encoders([_encoder_file(tmp_path / "enc.pt")], target=_target(), device=device)
    assert set(cal["references"]) == {"pixels", "random_w4_b11"} and len(encoder_loads) == 1
    _all_on(device, *encoder_loads)


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_all_gives_every_job_the_device(device, tmp_path, monkeypatch, encoder_loads):
    monkeypatch.setattr(T, "load", lambda name, spec=None, **kw: _target())
    jobs, real_run = [], parallel.run_parallel

    def run(fn, items, n):
        jobs.extend(items)
        return real_run(fn, items, n)

    monkeypatch.setattr(parallel, "run_parallel", run)
    df = transfer.evaluate_all({"e": _encoder_file(tmp_path / "enc.pt")}, ["pixels", "random"], [("toy", "toy", {})],
                               ["linear", "knn"], seed=0, cache=tmp_path / "rows", ref_width=4, ref_blocks=(1, 1),
                               keep_correct=(), device=device, random_seeds=1)
    assert set(df.encoder) == {"e", "ref-pixels", "ref-random"} and len(encoder_loads) == 1
    assert {j[-2] for j in jobs} == {str(devices.resolve(device))}  # each (spawned) job carries the device (then the spec)
    _all_on(device, *encoder_loads)


@pytest.mark.parametrize("device", DEVICES)
def test_ood_scores_run_on_the_device_and_come_back_to_the_host(device):
    m = _gcrl()
    x = _rep_pairs()[0][:6]
    ll = ood.log_likelihood(m, x, batch=4, device=device)
    _all_on(device, m)
    _all_on("cpu", ll, ood.likelihood_ratio(m, _gcrl(), x, batch=4, device=device),
            ood.complexity_score(m, x, batch=4, device=device))
    assert ll.shape == (6,) and 0 <= ood.auroc(ll, ll - 1) <= 1


@pytest.mark.parametrize("device", DEVICES)
def test_explorer_renders_on_the_device(device, tmp_path):
    from hlwb.widgets import LatentExplorer

    path = tmp_path / "g.pt"
    generators.save(path, _gen())
    s = explorer.default_state(str(path), device=device)
    s.n_positives = 2
    r = explorer.render(s, device=device)
    _all_on(device, explorer.generator(str(path), device), r.anchor, r.positives, r.latents)
    assert r.png[:4] == b"\x89PNG" and len(r.labels) == 3
    assert explorer.load_settings(explorer.export(s, r, tmp_path / "view")[0], device=device) == s
    ex = LatentExplorer(str(path), figures_dir=tmp_path, n_positives=2, device=device, anchor_seed=0)
    assert ex.device.type == device and ex.rendered.png == r.png


# ---- a device this machine lacks: refused before any work ----

def _cases(tmp_path) -> dict:
    """Every entry point given ``device``, its inputs built here (before the test forbids work)."""
    from hlwb.widgets import LatentExplorer

    gen, x, critic = _gen(), torch.zeros(64, 1, 32, 32), Critic(4)
    walker = IdentityWalker(gen.chunks)
    fg, bg, pairs, reps = _gcrl(), _gcrl(), _rep_pairs(), torch.randn(32, 8)
    cfg = minmax.MinMaxConfig(steps=1, batch=8)
    ocfg, gcfg = oracle.OracleConfig(epochs=1), training.GANConfig(steps=1)  # their budget checks run here
    state = explorer.ExplorerState()
    return {
        "oracle.train_oracle": lambda d: oracle.train_oracle(ocfg, tmp_path / "o.pt", device=d),
        "oracle.load": lambda d: oracle.load(device=d),
        "quality.evaluate_generator": lambda d: quality.evaluate_generator("biggan", n=8, device=d),
        "calibration.calibrate_encoders": lambda d: calibration.calibrate_encoders(["e.pt"], device=d),
        "training.train_gan": lambda d: training.train_gan(gcfg, tmp_path / "g.pt", device=d),
        "training.obtain": lambda d: training.obtain("biggan", True, tmp_path, steps=1, device=d),
        "generators.load": lambda d: generators.load("biggan", device=d),
        "encoders.load_encoder": lambda d: encoders.load_encoder("e.pt", device=d),
        "minmax.train_walker": lambda d: minmax.train_walker(gen, [1], cfg, tmp_path / "w", device=d),
        "minmax.anchor_batches": lambda d: minmax.anchor_batches(gen, 8, 8, device=d),
        "minmax.monte_carlo": lambda d: minmax.monte_carlo(gen, walker, critic, n_anchors=8, batch=8, device=d),
        "minmax.evaluate_snapshots": lambda d: minmax.evaluate_snapshots(gen, tmp_path, [1], cfg, [], device=d),
        "minmax.monte_carlo_at": lambda d: minmax.monte_carlo_at(gen, tmp_path, 1, [1], cfg, [], device=d),
        "perturbation.anchors": lambda d: P.anchors(gen, None, 8, seed=0, device=d),
        "perturbation.sweep": lambda d: P.sweep(gen, None, None, 0, [0.0], seed=0, device=d),
        "perturbation.proxy_infonce": lambda d: P.proxy_infonce(x, x, 32, 1, batch=16, device=d),
        "transfer.evaluate_all": lambda d: transfer.evaluate_all({}, ["pixels"], [("toy", "toy", {})], ["linear"], 0,
                                                                 tmp_path / "rows", device=d),
        "ood.log_likelihood": lambda d: ood.log_likelihood(fg, x, device=d),
        "ood.likelihood_ratio": lambda d: ood.likelihood_ratio(fg, bg, x, device=d),
        "ood.complexity_score": lambda d: ood.complexity_score(fg, x, device=d),
        "rcg.train_rdm": lambda d: rcg.train_rdm(reps, TINY_RDM, tmp_path / "rdm", device=d),
        "rcg.load_rdm": lambda d: rcg.load_rdm(tmp_path / "rdm.pt", device=d),
        "rcg.train_rep_gan": lambda d: rcg.train_rep_gan(pairs, TINY_REP_GAN, tmp_path / "rep", device=d),
        "rcg.load_rep_generator": lambda d: rcg.load_rep_generator(tmp_path / "rep.pt", device=d),
        "explorer.generator": lambda d: explorer.generator("biggan", d),
        "explorer.render": lambda d: explorer.render(state, device=d),
        "widgets.LatentExplorer": lambda d: LatentExplorer(device=d),
    }


CASES = ["oracle.train_oracle", "oracle.load", "quality.evaluate_generator", "calibration.calibrate_encoders",
         "training.train_gan", "training.obtain", "generators.load", "encoders.load_encoder", "minmax.train_walker",
         "minmax.anchor_batches", "minmax.monte_carlo", "minmax.evaluate_snapshots", "minmax.monte_carlo_at",
         "perturbation.anchors", "perturbation.sweep", "perturbation.proxy_infonce", "transfer.evaluate_all",
         "ood.log_likelihood", "ood.likelihood_ratio", "ood.complexity_score", "rcg.train_rdm", "rcg.load_rdm",
         "rcg.train_rep_gan", "rcg.load_rep_generator", "explorer.generator", "explorer.render",
         "widgets.LatentExplorer"]


@pytest.mark.parametrize("name", CASES)
def test_an_absent_gpu_is_refused_before_any_work(name, tmp_path, monkeypatch, no_gpu):
    call = _cases(tmp_path)[name]

    def work(*_a, **_k):
        raise AssertionError(f"{name} started work before refusing the device")

    for target, attr in [(data, "fashion_mnist"), (T, "load"), (torch.nn.Module, "to"), (torch.Tensor, "to"),
                         (devices, "to_device")]:
        monkeypatch.setattr(target, attr, work)
    monkeypatch.setattr("hlwb.checkpoint.load", work)
    for mod in (oracle, training, minmax, rcg_rdm, rcg_generator):
        monkeypatch.setattr(mod, "fit", work)
    with pytest.raises(ValueError, match=r"device 'cuda' asked for, but this machine has no CUDA GPU"):
        call("cuda")
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("method", ["simclr", "moco", "gcrl"])
@pytest.mark.parametrize("strategy", ["real", "hl_random"])
def test_a_pretraining_step_makes_no_host_copies(monkeypatch, tmp_path, method, strategy):
    """Views (generator decode, walker, kornia T_x) and the method's step stay on the device:
    hlwb's code hands nothing but logged scalars to the host inside a step (bf16 and fp32
    alike). kornia itself reads its sampled crop sizes and colour-op order with ``tolist``
    (RandomResizedCrop, ColorJitter: a few integers per batch), which is kornia's, not counted."""
    from hlwb import pretrain as P
    from hlwb import views

    seen = _watch_fit(monkeypatch, P, own_code_only=True)
    src = views.make_source(strategy, 8, augment="fair", seed=0, device="cpu")
    for precision in ("fp32", "bf16"):
        cfg = P.PretrainConfig(method=method, steps=2, batch=8, width=4, blocks="1,1", warmup=1, knn_every=0,
                               ckpt_every=2, precision=precision)
        P.pretrain(src, cfg, tmp_path / precision, device="cpu")
    assert seen["steps"] == 4 and seen["host_copies"] == [], seen["host_copies"]
    _all_on("cpu", seen["modules"], seen["optimizers"])


def test_the_host_copy_recorder_sees_hlwb_code_and_only_it():
    from hlwb import targets

    with HostCopies(own_code_only=True) as h:
        targets.stratified_split(torch.tensor([0, 1, 0, 1]), 0.5, 0)  # hlwb: labels.unique().tolist()
    assert "tolist" in h.calls
    with HostCopies(own_code_only=True) as h:
        torch.tensor([1, 2]).tolist()  # this test's own call, not hlwb's
    assert h.calls == []
