"""Walker-vs-critic training, the InfoNCE min-max of docs/methods.md §3, and the §1.4 table.

Per batch, two alternating steps through the one loop (:func:`hlwb.train.fit`):
  1. critic step: minimise InfoNCE(f(g(z)), f(g(T(z)))) on detached views;
  2. walker step: maximise the same InfoNCE through the frozen generator.
Net: min_T max_f I_NCE(g(z); g(T(z))), with I >= log(2B - 1) - L_NCE. The plain NT-Xent is
reported; the reference's code multiplies it by tau / 0.07, so its stopping threshold 2.5 is
1.75 plain at tau 0.1 (``scaled`` converts; the early-stop rule compares in those units).

No distance term: nothing in the objective keeps the walker on the anchor's class, so the
walker used downstream is a *selected* snapshot. :func:`evaluate_snapshots` measures every
kept snapshot on held-out anchors (eval-mode Monte-Carlo InfoNCE in plain and scaled units,
normalised MI 1 - L / log(2B - 1), per-chunk mean and std of z' - z, distance of z' to the
prior's support, oracle agreement) and :func:`select_snapshot` applies a stated rule (RULES).

Devices: every function that computes takes ``device`` (:func:`hlwb.devices.resolve`, default
"auto"); the generator, walker and critic given are moved there in place (``nn.Module.to``), the
modules built are initialised on the host under their seed and then moved, and the oracle is
left where it is (it takes the images to its device and gives its labels back on theirs).
Latent codes and the walker's noise are drawn on the host and moved (the same on every device).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from . import amp, checkpoint, devices, train
from . import latents as L
from .encoders import Critic
from .generators import HLGenerator
from .oracle import Oracle
from .ranges import check_ranges
from .ssl.losses import nt_xent
from .train import check_finite, fit
from .walkers import LearnedWalker, Walker, delta

TAU_BASE = 0.07  # the reference scales its NT-Xent by tau / TAU_BASE


def scaled(loss_plain: float, tau: float) -> float:
    """A plain NT-Xent value in the reference's units (``loss * tau / 0.07``)."""
    return loss_plain * tau / TAU_BASE


@dataclass(frozen=True)
class MinMaxConfig:
    steps: int = 400
    batch: int = 64              # B anchors: 2B views per InfoNCE
    tau: float = 0.1
    lr_walker: float = 8e-5      # reference lrs at batch 64
    lr_critic: float = 5e-5
    beta1: float = 0.5
    beta2: float = 0.999
    critic_width: int = 16
    walker_hidden: int = 0       # 0: hidden width = the walker's input width (mi_ml_gen)
    seed: int = 0
    ckpt_every: int = 100        # steps (x batch = samples)
    snapshot_every: int = 0      # steps between kept (walker, critic) snapshots; 0: none
    early_stop: bool = False     # reference rule: stop once the per-batch critic loss, in the reference's
    early_stop_loss: float = 2.5  # scaled units (plain x tau / 0.07), exceeds this after early_stop_after
    early_stop_after: int = 100_000  # samples (mi_ml_gen: 100k samples, threshold 2.5 = 1.75 plain)
    precision: str = "fp32"      # fp32, or bf16: the training step's generator and critic under autocast (hlwb.amp)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        amp.check(self.precision)


def config_meta(cfg: MinMaxConfig) -> dict:
    """The config as stored with a walker run (:func:`hlwb.amp.stored`)."""
    return amp.stored(dataclasses.asdict(cfg))


def is_tied(gen: HLGenerator, selected: list[int] | None) -> bool:
    """A walker over several chunks of a tied-z generator (StyleGAN) moves their one z."""
    return gen.tied_chunks and (selected is None or len(selected) > 1)


def build_walker(gen: HLGenerator, selected: list[int] | None, cfg: MinMaxConfig) -> LearnedWalker:
    return LearnedWalker(gen.chunks, selected, hidden=cfg.walker_hidden, tied=is_tied(gen, selected)).to(gen.device)


def support_distance(gen: HLGenerator, latents: L.Latents) -> torch.Tensor:
    """Per sample, the L2 distance of the whole code to the prior's support, the cube
    ``[-T, T]^D`` with T the generator's truncation (0 inside; no bound: all zeros)."""
    z = L.concat(latents)
    t = gen.default_truncation
    if t is None:
        return torch.zeros(len(z), device=z.device)
    return (z - z.clamp(-t, t)).norm(dim=1)


def train_walker(gen: HLGenerator, selected: list[int] | None, cfg: MinMaxConfig,
                 work_dir: str | Path | None = None, oracle: Oracle | None = None,
                 desc: str = "walker",
                 device: str | torch.device = "auto") -> tuple[LearnedWalker, Critic, list[dict]]:
    """Train a learned walker over ``selected`` chunks (None: all, the COP-Gen baseline).

    Logged per step: the critic's InfoNCE (plain and scaled), MI bound, normalised MI, per
    chunk mean ||z' - z|| (``delta_k``) and per-dimension std of z' - z (``shift_std_k``),
    the distance of z' to the prior's support and (with an oracle) the batch's agreement.
    ``device``: where ``gen`` (moved in place), the walker, the critic and every step live;
    a step copies nothing back to the host but the logged scalars. ``cfg.precision="bf16"``
    runs the step's generator passes and critic under bfloat16 autocast in channels-last layout
    (the losses in fp32; measured 0.67 -> 0.25 s per step at one thread, batch 64). The walker
    itself runs in fp32, but the generator's first layers read z' in bf16 (relative rounding
    ~4e-3: a shift much smaller than that moves the image by rounding noise, not by the shift);
    the logged oracle agreement is taken on the float32-cast views. Snapshot evaluation and the Monte-Carlo
    tables (:func:`evaluate_snapshots`, :func:`monte_carlo`) always run in fp32.
    """
    device = devices.resolve(device)
    gen.to(device)
    gen.eval()
    for p in gen.parameters():
        p.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        walker = build_walker(gen, selected, cfg)
        critic = Critic(cfg.critic_width, channels=gen.spec.channels, size=gen.spec.size).to(gen.device)
    amp.prepare(gen, cfg.precision)
    amp.prepare(critic, cfg.precision)
    opt_w = torch.optim.Adam(walker.parameters(), lr=cfg.lr_walker, betas=(cfg.beta1, cfg.beta2))
    opt_c = torch.optim.Adam(critic.parameters(), lr=cfg.lr_critic, betas=(cfg.beta1, cfg.beta2))
    log_b = math.log(2 * cfg.batch - 1)

    work = Path(work_dir) if work_dir else None
    if cfg.snapshot_every and work is None:
        raise ValueError("snapshot_every needs a work_dir to keep the snapshots in")

    def step(i: int) -> dict[str, float]:
        z = gen.sample_latents(cfg.batch, seed=cfg.seed * 1_000_003 + i)
        zp = walker(z)  # fp32 walker: its shift is exact, the generator's input layers then see z' in bf16
        with amp.autocast(cfg.precision, device):
            with torch.no_grad():
                x = gen(z).float()
            xp = gen(zp).float()  # one pass; its graph depends on the walker only, so the critic step below leaves it valid
            # 1. critic: minimise InfoNCE on detached views (nt_xent itself runs in fp32)
            loss_c = nt_xent(critic(x), critic(xp.detach()), cfg.tau)
        check_finite("critic loss", loss_c, i)
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        opt_c.step()
        # 2. walker: maximise InfoNCE of the updated critic through the frozen generator
        with amp.autocast(cfg.precision, device):
            with torch.no_grad():
                hx = critic(x)
            loss_w = -nt_xent(hx, critic(xp), cfg.tau)
        check_finite("walker loss", loss_w, i)
        opt_w.zero_grad(set_to_none=True)
        loss_w.backward()
        opt_w.step()
        critic.zero_grad(set_to_none=True)  # the walker step's gradients on the critic are not used
        lc = loss_c.item()
        logs = {"infonce": lc, "infonce_scaled": scaled(lc, cfg.tau), "mi_bound": log_b - lc,
                "nmi": 1 - lc / log_b, "walker_infonce": -loss_w.item()}
        zd = [t.detach() for t in zp]
        logs.update({f"delta_{k}": v.item() for k, v in enumerate(delta(z, zd).mean(0))})  # (K,) scalars
        logs.update({f"shift_std_{k}": (b - a).std().item() for k, (a, b) in enumerate(zip(z, zd))})
        logs["support_dist"] = support_distance(gen, zd).mean().item()
        if oracle is not None:
            logs["oracle_agreement"] = (oracle.predict(x) == oracle.predict(xp.detach())).float().mean().item()
        if cfg.snapshot_every and (i + 1) % cfg.snapshot_every == 0:
            checkpoint.save(snapshot_path(work, i + 1), {"step": i + 1, "samples": (i + 1) * cfg.batch,
                                                          "walker": walker.state_dict(),
                                                          "critic": critic.state_dict()}, kind="walker-snapshot")
        return logs

    def stop(i: int, logs: dict) -> bool:
        return (cfg.early_stop and (i + 1) * cfg.batch >= cfg.early_stop_after
                and logs["infonce_scaled"] > cfg.early_stop_loss)  # the reference's units

    records = fit(step, modules={"walker": walker, "critic": critic}, optimizers={"w": opt_w, "c": opt_c},
                  steps=cfg.steps, ckpt_path=work / "train_state.pt" if work else None,
                  ckpt_every=cfg.ckpt_every, meta={"config": config_meta(cfg), "selected": selected},
                  desc=desc, log_path=work / "log.jsonl" if work else None, log_every=1, stop=stop,
                  seed=cfg.seed)
    return walker, critic, records


def read_log(work_dir: str | Path) -> list[dict]:
    """Every logged step of a :func:`train_walker` run in ``work_dir``, in step order."""
    return train.read_log(Path(work_dir) / "log.jsonl")


def snapshot_path(work_dir: str | Path, step: int) -> Path:
    return Path(work_dir) / "snapshots" / f"step_{step:07d}.pt"


def load_snapshot(path: str | Path, gen: HLGenerator, selected: list[int] | None,
                  cfg: MinMaxConfig) -> tuple[LearnedWalker, Critic]:
    """The walker and critic kept at one snapshot of :func:`train_walker`, on the generator's device."""
    state = checkpoint.load(path, kind="walker-snapshot", map_location=gen.device)
    walker = build_walker(gen, selected, cfg)
    critic = Critic(cfg.critic_width, channels=gen.spec.channels, size=gen.spec.size).to(gen.device)
    walker.load_state_dict(state["walker"])
    critic.load_state_dict(state["critic"])
    return walker.eval(), critic.eval()


def smoothed(records: list[dict], key: str = "infonce", window: int = 20) -> list[float]:
    """Trailing moving average of ``key`` over the logged steps (the per-batch InfoNCE is noisy)."""
    return train.moving_average([r[key] for r in records], window)


def matched_infonce(curves: dict[str, dict[int, float]], ceiling: float,
                    start: dict[str, int] | None = None) -> tuple[float, dict[str, int]]:
    """A common InfoNCE level and, per walker, the snapshot whose InfoNCE is closest to it.

    ``curves[name][step]`` is a walker's Monte-Carlo (eval-mode, held-out) InfoNCE at a kept
    snapshot; only snapshots at or after ``start[name]`` count (the step where the walker's
    training critic loss was lowest: before it the critic is still learning, and its InfoNCE is
    high because the *critic* is poor, not because the walker moved). The level is ``ceiling``
    (the reference's stopping level, 1.75 plain) or, if some walker never got that high, the
    lowest of the walkers' highest values, so every walker reached the level at some snapshot.
    """
    start = start or {}
    curves = {n: {s: v for s, v in c.items() if s >= start.get(n, 0)} for n, c in curves.items()}
    if not curves or any(not c for c in curves.values()):
        raise ValueError("no snapshots: train with MinMaxConfig(snapshot_every > 0)")
    level = min([ceiling] + [max(c.values()) for c in curves.values()])
    return level, {name: min(c, key=lambda s: (abs(c[s] - level), s)) for name, c in curves.items()}


@torch.no_grad()
def anchor_batches(gen: HLGenerator, n_anchors: int = 10_000, batch: int = 64, seed: int = 10**6,
                   oracle: Oracle | None = None, truncation: float | None = None,
                   device: str | torch.device = "auto") -> list[dict]:
    """The anchors of :func:`monte_carlo`, decoded once so several walkers can share them:
    per batch its index, latents, images and (with an oracle) the oracle's labels, all on
    ``device`` (``gen`` is moved there). ``truncation`` bounds |z| of the anchors (None: the
    family's default)."""
    gen.to(devices.resolve(device))
    out = []
    for j, start in enumerate(range(0, n_anchors, batch)):
        n = min(batch, n_anchors - start)
        z = gen.sample_latents(n, seed=seed, start=start, truncation=truncation)  # anchor start + i of seed
        x = gen.generate(z)
        out.append({"j": j, "z": z, "x": x, "y": oracle.predict(x) if oracle is not None else None})
    return out


@torch.no_grad()
def monte_carlo(gen: HLGenerator, walker: Walker, critic: Critic, oracle: Oracle | None = None,
                n_anchors: int = 10_000, batch: int = 64, tau: float = 0.1, seed: int = 10**6,
                anchors: list[dict] | None = None, device: str | torch.device = "auto") -> dict:
    """docs/methods.md §3 per walker: mean/std of Delta per chunk over ``n_anchors`` anchors, the
    critic's InfoNCE (plain and scaled), MI bound and normalised MI (batches of ``batch``), per
    chunk the mean and per-dimension std of z' - z, the distance of z' to the prior's support,
    and the oracle's label agreement. ``anchors`` (from :func:`anchor_batches` with the same
    arguments) skips decoding them again (anchors made on another device are copied to ``device``,
    where ``gen``, ``walker`` and ``critic`` are moved)."""
    device = devices.resolve(device)
    for m in (gen, walker, critic):
        m.to(device)
    critic.eval()
    walker.eval()
    if anchors is None:
        anchors = anchor_batches(gen, n_anchors, batch, seed, oracle, device=device)
    deltas, shifts, support, losses, agree = [], [], [], [], []
    for a in anchors:
        z, x = [t.to(device) for t in a["z"]], a["x"].to(device)
        zp = walker(z, seed=L.row_seed(seed, a["j"], L.EXTRA))  # the walker's noise: its own stream
        xp = gen.generate(zp)
        deltas.append(delta(z, zp))
        shifts.append([b - c for b, c in zip(zp, z)])
        support.append(support_distance(gen, zp))
        if len(x) == batch:
            losses.append(nt_xent(critic(x), critic(xp), tau).item())
        if oracle is not None:
            agree.append(a["y"].to(device) == oracle.predict(xp))
    d = torch.cat(deltas)
    if len(d) != n_anchors:
        raise ValueError(f"anchors hold {len(d)} anchors, expected n_anchors={n_anchors}")
    loss = sum(losses) / len(losses) if losses else float("nan")  # no full batch: no InfoNCE
    log_b = math.log(2 * batch - 1)
    sh = [torch.cat([s[k] for s in shifts]) for k in range(d.shape[1])]
    sup = torch.cat(support)
    out = {"n_anchors": n_anchors, "infonce": loss, "infonce_scaled": scaled(loss, tau), "mi_bound": log_b - loss,
           "nmi": 1 - loss / log_b,
           **{f"delta_mean_{k}": v for k, v in enumerate(d.mean(0).tolist())},
           **{f"delta_std_{k}": v for k, v in enumerate(d.std(0).tolist())},
           **{f"shift_mean_{k}": s.mean().item() for k, s in enumerate(sh)},
           **{f"shift_std_{k}": s.std().item() for k, s in enumerate(sh)},
           "support_dist": sup.mean().item(), "outside_support": (sup > 0).float().mean().item()}
    if oracle is not None:
        out["oracle_agreement"] = torch.cat(agree).float().mean().item()
    return out


def evaluate_snapshots(gen: HLGenerator, work_dir: str | Path, selected: list[int] | None, cfg: MinMaxConfig,
                       anchors: list[dict], oracle: Oracle | None = None, smooth: int = 20,
                       device: str | torch.device = "auto") -> list[dict]:
    """Every kept snapshot of a :func:`train_walker` run on held-out ``anchors``: the
    :func:`monte_carlo` quantities with that snapshot's walker and critic, plus ``step``,
    ``samples`` and ``train_infonce`` (the training curve's moving average at that step).
    ``shift_std`` / ``shift_mean`` / ``delta_moved`` summarise the moved chunks. The snapshots
    are loaded onto ``device`` (``gen`` is moved there)."""
    device = devices.resolve(device)
    gen.to(device)
    moved = list(range(len(gen.chunks))) if selected is None else list(selected)
    n = sum(len(a["x"]) for a in anchors)
    curve = smoothed(read_log(work_dir), "infonce", smooth)
    rows = []
    for path in sorted((Path(work_dir) / "snapshots").glob("step_*.pt")):
        step = int(path.stem.split("_")[1])
        w, c = load_snapshot(path, gen, selected, cfg)
        m = monte_carlo(gen, w, c, oracle, n_anchors=n, batch=len(anchors[0]["x"]), tau=cfg.tau, anchors=anchors,
                        device=device)
        dims = [gen.chunks[k].dim for k in moved]
        rows.append({"step": step, "samples": step * cfg.batch,
                     "train_infonce": curve[step - 1] if step <= len(curve) else float("nan"), **m,
                     "delta_moved": sum(m[f"delta_mean_{k}"] for k in moved) / len(moved),
                     "shift_mean": sum(m[f"shift_mean_{k}"] * d for k, d in zip(moved, dims)) / sum(dims),
                     "shift_std": math.sqrt(sum(m[f"shift_std_{k}"] ** 2 * d for k, d in zip(moved, dims)) / sum(dims))})
    return rows


# Rules that choose the snapshot used downstream (rows from :func:`evaluate_snapshots`).
RULES = {
    "reference": "mi_ml_gen's stop: the first snapshot past `after` samples whose held-out InfoNCE, in the "
                 "reference's scaled units, exceeds the threshold (2.5 scaled = 1.75 plain); never reached: the last",
    "critic_min": "COP-Gen's choice: the snapshot at the minimum of the training critic loss (moving average)",
    "genrep_sigma": "COP-Gen's monitor: the snapshot whose per-dimension std of z' - z over the moved chunks "
                    "is closest to GenRep's sigma (0.2 BigGAN, 0.25 StyleGAN)",
    "oracle": "ORACLE-GUIDED (uses labels): the last snapshot before the held-out oracle agreement first "
              "falls below the level (0.9)",
}


def select_snapshot(rows: list[dict], rule: str, *, threshold_scaled: float = 2.5, after: int = 0,
                    sigma: float = 0.2, level: float = 0.9) -> dict:
    """The snapshot row chosen by ``rule`` (see RULES), with ``rule``, ``triggered`` (whether the
    rule's condition was met, rather than falling back) and ``oracle_guided`` added."""
    if rule not in RULES:
        raise KeyError(f"unknown selection rule {rule!r}; valid: {', '.join(RULES)}")
    if not rows:
        raise ValueError("no snapshots to select from: train with MinMaxConfig(snapshot_every > 0)")
    rows = sorted(rows, key=lambda r: r["step"])
    triggered = True
    if rule == "reference":
        past = [r for r in rows if r["samples"] >= after and r["infonce_scaled"] > threshold_scaled]
        pick = past[0] if past else rows[-1]
        triggered = bool(past)
    elif rule == "critic_min":
        pick = min(rows, key=lambda r: (r["train_infonce"], r["step"]))
    elif rule == "genrep_sigma":
        pick = min(rows, key=lambda r: (abs(r["shift_std"] - sigma), r["step"]))
    else:
        below = [i for i, r in enumerate(rows) if r["oracle_agreement"] < level]
        if not below:
            pick = rows[-1]
        elif below[0] == 0:
            pick, triggered = rows[0], False  # even the first snapshot is below the level
        else:
            pick = rows[below[0] - 1]
    return {**pick, "rule": rule, "triggered": triggered, "oracle_guided": rule == "oracle"}


def monte_carlo_at(gen: HLGenerator, work_dir: str | Path, step: int, selected: list[int] | None,
                   cfg: MinMaxConfig, anchors: list[dict], oracle: Oracle | None = None,
                   device: str | torch.device = "auto") -> dict:
    """:func:`monte_carlo` of the snapshot kept at ``step`` of the run in ``work_dir`` (its walker
    and its critic) on shared ``anchors``, on ``device`` (``gen`` is moved there)."""
    device = devices.resolve(device)
    gen.to(device)
    w, c = load_snapshot(snapshot_path(work_dir, step), gen, selected, cfg)
    n = sum(len(a["x"]) for a in anchors)
    return monte_carlo(gen, w, c, oracle, n_anchors=n, batch=len(anchors[0]["x"]), tau=cfg.tau, anchors=anchors,
                       device=device)
