"""Benchmarks (``python -m hlwb bench WHAT``): speed targets live here, never in tests."""

from __future__ import annotations

import statistics
import time


def bench_explorer(n_changes: int = 50, generator: str = "biggan", n_positives: int = 6) -> dict:
    """Latency of one slider change in the latent explorer: state update, render, PNG, widget.

    Cycles through the chunks' seed, direction and sigma sliders, as a user would; reports the
    median and 90th percentile over ``n_changes`` changes (after one warm-up render).
    """
    import torch

    from .widgets import LatentExplorer

    ex = LatentExplorer(generator, n_positives=n_positives, device="cpu")  # a CPU benchmark, as reported (threads)
    n_chunks = len(ex.state.chunks)
    kinds = ("seed", "alpha", "sigma")
    times = []
    for i in range(n_changes):
        k, kind = i % n_chunks, kinds[(i // n_chunks) % 3]
        w = ex.sliders[f"chunk{k}_{kind}"]
        new = {"seed": (w.value + 1) % 50, "alpha": 1.0 if w.value != 1.0 else -1.0,
               "sigma": 0.5 if w.value != 0.5 else 1.0}[kind]
        t0 = time.perf_counter()
        w.value = new  # fires the observer synchronously: render + PNG + image update
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"what": "explorer slider change", "generator": generator, "n_changes": n_changes,
            "n_positives": n_positives, "threads": torch.get_num_threads(),
            "median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * times[int(0.9 * len(times))],
            "max_ms": 1000 * times[-1]}


BENCHES = {"explorer": bench_explorer}  # "views" is added below


def _rate(fn, n: int, pairs: int, sync=lambda: None) -> float:
    fn(0)  # warm-up
    sync()
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        fn(i)
    sync()  # a GPU's queue drained: the time is the work's, not its launch's
    return pairs * n / (time.perf_counter() - t0)


def bench_views(n: int = 20, batch: int = 128, generator: str = "biggan", width: int = 16,
                precision: str = "fp32", device: str = "auto", dataset: str = "fashion_mnist") -> dict:
    """Pairs per second of each view source, and of a SimCLR training step fed by each (METHODS §1.7).

    (a) real images from memory + SimCLR augmentation; (b) continuous sampling, anchor and positive
    as two generator passes; (b1) one pass of 2B; (c) shared prefix: only the finer half of the
    chunks moves, so the coarse part is computed once and branched; (d) a training step per source.
    ``precision``: the generator decode and the training step's encoder in fp32 or under bf16
    autocast (:mod:`hlwb.amp`), as ``pretrain`` runs them. ``device``: where everything runs
    (:func:`hlwb.devices.resolve`); on a GPU each timing ends with a synchronise. ``dataset``: the real
    images (its train split), whose image spec the generator and the trunk must have.
    """
    import resource

    import torch

    from . import amp, data, devices, generators
    from .pretrain import PretrainConfig, build_method
    from .spec import require_same
    from .views import GeneratedViews, RealViews, augmentation
    from .walkers import ChunkNoiseWalker

    dev = devices.resolve(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    images = data.load(dataset, "train")
    gen = generators.load(generator, device=dev)
    require_same(gen.spec, images.spec, f"generator {generator!r}")
    k = len(gen.chunks)
    level = k // 2  # chunks level.. move: the finer half
    walker = ChunkNoiseWalker(gen.chunks, [0.0 if c < level else 1.0 for c in range(k)])
    aug = augmentation("simclr", images.spec)
    real = RealViews(devices.to_device(images.float_images(), dev), batch, preset="simclr")
    cont = GeneratedViews(gen, walker, batch, preset="simclr", precision=precision)  # prepares gen's layout
    cont_chunked = GeneratedViews(gen, walker, batch, preset="simclr", decode_chunk=batch, precision=precision)

    @torch.no_grad()
    def two_passes(i):
        z = gen.sample_latents(batch, seed=0, start=i * batch)
        zp = walker(z, seed=i)
        with amp.autocast(precision, dev):
            x1, x2 = gen(z).float(), gen(zp).float()
        return aug(x1), aug(x2)

    @torch.no_grad()
    def shared_prefix(i):
        z = gen.sample_latents(batch, seed=0, start=i * batch)
        zp = walker(z, seed=i)
        with amp.autocast(precision, dev):
            h = gen.prefix(z, level)
            x = gen.from_prefix(torch.cat([h, h]), [torch.cat([a, b]) for a, b in zip(z, zp)], level).float()
        return aug(x[:batch]), aug(x[batch:])

    gen.eval()
    out = {"batch": batch, "width": width, "n": n, "threads": torch.get_num_threads(), "shared_prefix_level": level,
           "precision": precision, "device": devices.describe(dev)}
    sources = {"a_real": real.batch_at, "b_two_passes": two_passes, "b1_one_pass_2B": cont.batch_at,
               "b2_decode_chunk_B": cont_chunked.batch_at, "c_shared_prefix": shared_prefix}
    for name, fn in sources.items():
        out[f"{name}_pairs_per_s"] = _rate(fn, n, batch, sync)
    z0 = gen.sample_latents(batch, seed=0)
    with torch.no_grad(), amp.autocast(precision, dev):
        def timed(fn) -> float:
            sync()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            sync()
            return time.perf_counter() - t0

        t_full = timed(lambda: gen(z0))
        t_after = timed(lambda: gen.from_prefix(gen.prefix(z0, level), z0, level))
        t_prefix = timed(lambda: gen.prefix(z0, level))
        for name in generators.SHIPPED:  # each shipped generator alone, a pass of 2B
            g = gen if name == generator else amp.prepare(generators.load(name, device=dev), precision)
            z2 = g.sample_latents(2 * batch, seed=0)
            g(z2)  # warm-up
            out[f"gen_{name}_images_per_s"] = 2 * batch * n / timed(lambda g=g, z2=z2: g(z2))
    # positive generation when the prefix is shared with the anchor: only the suffix is paid
    out["positive_speedup_shared_prefix"] = t_full / max(1e-9, t_after - t_prefix)
    method = amp.prepare(build_method(PretrainConfig(width=width, dataset=dataset)).to(dev), precision)
    opt = torch.optim.SGD(method.parameters(), lr=0.01)

    def train_step(src):
        def fn(i):
            x1, x2 = src(i)
            with amp.autocast(precision, dev):
                loss, _ = method(amp.inputs(x1, precision), amp.inputs(x2, precision))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return fn

    for name in ("a_real", "b1_one_pass_2B", "b2_decode_chunk_B", "c_shared_prefix"):
        out[f"d_step_{name}_steps_per_s"] = _rate(train_step(sources[name]), max(3, n // 4), 1, sync)
    out["d_step_ratio_continuous_vs_real"] = out["d_step_a_real_steps_per_s"] / out["d_step_b1_one_pass_2B_steps_per_s"]
    out["d_step_ratio_chunked_vs_real"] = out["d_step_a_real_steps_per_s"] / out["d_step_b2_decode_chunk_B_steps_per_s"]
    for name in sources:
        out[f"ratio_{name}_vs_real"] = out[f"{name}_pairs_per_s"] / out["a_real_pairs_per_s"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


BENCHES["views"] = bench_views


def bench_step(n: int = 10, batch: int = 128, width: int = 16, strategy: str = "hl_random",
               precision: str = "fp32", device: str = "auto", knn_every: int = 250, knn_train: int = 5000,
               knn_test: int = 2000) -> dict:
    """Where one pretraining step's time goes (issue 29): median seconds per phase over ``n`` steps of the
    laptop run's settings (notebook 05's defaults: ``strategy``'s views, decode in chunks of 128, SimCLR
    on a width-``width`` 1-1-1-1 trunk, batch ``batch``) — the decode of anchor and positive, the pixel
    augmentation, the forward (trunk, head, loss), the backward, the optimiser step — and one kNN
    monitor evaluation (``knn_train`` memory images, ``knn_test`` queries), also per step at ``knn_every``.
    ``precision`` / ``device`` as ``pretrain``'s."""
    import torch

    from . import amp, devices
    from . import latents as L
    from .config import PretrainParams
    from .pretrain import KnnMonitor, build_method, run_source, settings
    from .views import augment_pair

    dev = devices.resolve(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    p = PretrainParams(strategy=strategy, batch=batch, width=width, precision=precision, device=device,
                       knn_train=knn_train, knn_test=knn_test)
    cfg = settings(p, dev)
    src = run_source(p, dev)
    method = amp.prepare(build_method(cfg).to(dev), cfg.precision)
    opt = torch.optim.SGD(method.parameters(), lr=cfg.base_lr * batch / 256, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    phases: dict[str, list[float]] = {k: [] for k in ("decode", "augment", "forward", "backward", "optimiser")}

    def clock(name, fn, *args):
        sync()
        t0 = time.perf_counter()
        r = fn(*args)
        sync()
        phases[name].append(time.perf_counter() - t0)
        return r

    for i in range(n + 1):  # step 0 warms up
        if hasattr(src, "pair_at"):  # generated views: decode, then T_x
            x1, x2 = clock("decode", src.pair_at, i)
            x1, x2 = clock("augment", augment_pair, src.aug, x1, x2, L.row_seed(src.seed, i, L.RESAMPLE))
        else:  # real views: an index into memory (no decode), T_x included in "augment"
            phases["decode"].append(0.0)
            x1, x2 = clock("augment", src.batch_at, i)
        method.train()
        with amp.autocast(cfg.precision, dev):
            loss, _ = clock("forward", method, amp.inputs(x1, cfg.precision), amp.inputs(x2, cfg.precision))
        clock("backward", loss.backward)
        clock("optimiser", _optimiser_step, opt, method)
        if i == 0:
            for v in phases.values():
                v.clear()
    monitor = KnnMonitor(cfg)
    sync()
    t0 = time.perf_counter()
    monitor(method.encoder)
    sync()
    knn_s = time.perf_counter() - t0
    med = {k: statistics.median(v) for k, v in phases.items()}
    step = sum(med.values()) + knn_s / knn_every
    out = {"what": "pretraining step", "strategy": strategy, "batch": batch, "width": width, "n": n,
           "precision": cfg.precision, "threads": torch.get_num_threads(), "device": devices.describe(dev),
           **{f"{k}_s": v for k, v in med.items()}, "knn_eval_s": knn_s, "knn_every": knn_every,
           "step_s": step}
    out |= {f"{k}_share": v / step for k, v in med.items()} | {"knn_share": knn_s / knn_every / step}
    return out


def _optimiser_step(opt, method) -> None:
    opt.step()
    opt.zero_grad(set_to_none=True)
    method.after_step(0.5)  # EMA, queue, prototypes: part of the step (SimCLR: nothing)


BENCHES["step"] = bench_step
