"""Walker-vs-critic training, the InfoNCE min-max of METHODS.md §1.3, and the §1.4 table.

Per batch, two alternating steps through the one loop (:func:`hlwb.train.fit`):
  1. critic step: minimise InfoNCE(f(g(z)), f(g(T(z)))) on detached views;
  2. walker step: maximise the same InfoNCE through the frozen generator.
Net: min_T max_f I_NCE(g(z); g(T(z))), with I >= log(2B - 1) - L_NCE. The plain NT-Xent is
reported (the reference multiplies it by tau / 0.07). No distance term: the oracle agreement
logged every step is what tells whether the walker left the anchor's class.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from . import checkpoint, train
from . import latents as L
from .encoders import Critic
from .generators import HLGenerator
from .oracle import Oracle
from .ssl.losses import nt_xent
from .train import check_finite, fit
from .walkers import LearnedWalker, Walker, delta


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
    walker_hidden: int = 256
    seed: int = 0
    ckpt_every: int = 100        # steps (x batch = samples)
    snapshot_every: int = 0      # steps between kept (walker, critic) snapshots; 0: none
    early_stop: bool = False     # reference rule: stop once the critic loss > 2.5 after 100k samples
    early_stop_loss: float = 2.5
    early_stop_after: int = 100_000


def train_walker(gen: HLGenerator, selected: list[int] | None, cfg: MinMaxConfig,
                 work_dir: str | Path | None = None, oracle: Oracle | None = None,
                 desc: str = "walker") -> tuple[LearnedWalker, Critic, list[dict]]:
    """Train a learned walker over ``selected`` chunks (None: all, the COP-Gen baseline)."""
    gen.eval()
    for p in gen.parameters():
        p.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        walker = LearnedWalker(gen.chunks, selected, hidden=cfg.walker_hidden).to(gen.device)
        critic = Critic(cfg.critic_width).to(gen.device)
    opt_w = torch.optim.Adam(walker.parameters(), lr=cfg.lr_walker, betas=(cfg.beta1, cfg.beta2))
    opt_c = torch.optim.Adam(critic.parameters(), lr=cfg.lr_critic, betas=(cfg.beta1, cfg.beta2))
    log_b = math.log(2 * cfg.batch - 1)

    work = Path(work_dir) if work_dir else None
    if cfg.snapshot_every and work is None:
        raise ValueError("snapshot_every needs a work_dir to keep the snapshots in")

    def step(i: int) -> dict[str, float]:
        z = gen.sample_latents(cfg.batch, seed=cfg.seed * 1_000_003 + i)
        with torch.no_grad():
            x = gen(z)
        zp = walker(z)
        xp = gen(zp)  # one pass; its graph depends on the walker only, so the critic step below leaves it valid
        # 1. critic: minimise InfoNCE on detached views
        loss_c = nt_xent(critic(x), critic(xp.detach()), cfg.tau)
        check_finite("critic loss", loss_c, i)
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        opt_c.step()
        # 2. walker: maximise InfoNCE of the updated critic through the frozen generator
        with torch.no_grad():
            hx = critic(x)
        loss_w = -nt_xent(hx, critic(xp), cfg.tau)
        check_finite("walker loss", loss_w, i)
        opt_w.zero_grad(set_to_none=True)
        loss_w.backward()
        opt_w.step()
        critic.zero_grad(set_to_none=True)  # the walker step's gradients on the critic are not used
        logs = {"infonce": loss_c.item(), "mi_bound": log_b - loss_c.item(), "walker_infonce": -loss_w.item()}
        d = delta(z, [t.detach() for t in zp]).mean(0)
        logs.update({f"delta_{k}": v for k, v in enumerate(d.tolist())})
        if oracle is not None:
            logs["oracle_agreement"] = (oracle.predict(x) == oracle.predict(xp.detach())).float().mean().item()
        if cfg.snapshot_every and (i + 1) % cfg.snapshot_every == 0:
            checkpoint.save(snapshot_path(work, i + 1), {"step": i + 1, "samples": (i + 1) * cfg.batch,
                                                          "walker": walker.state_dict(),
                                                          "critic": critic.state_dict()}, kind="walker-snapshot")
        return logs

    def stop(i: int, logs: dict) -> bool:
        return (cfg.early_stop and (i + 1) * cfg.batch >= cfg.early_stop_after
                and logs["infonce"] > cfg.early_stop_loss)

    records = fit(step, modules={"walker": walker, "critic": critic}, optimizers={"w": opt_w, "c": opt_c},
                  steps=cfg.steps, ckpt_path=work / "train_state.pt" if work else None,
                  ckpt_every=cfg.ckpt_every, meta={"config": dataclasses.asdict(cfg), "selected": selected},
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
    """The walker and critic kept at one snapshot of :func:`train_walker`."""
    state = checkpoint.load(path, kind="walker-snapshot")
    walker = LearnedWalker(gen.chunks, selected, hidden=cfg.walker_hidden).to(gen.device)
    critic = Critic(cfg.critic_width).to(gen.device)
    walker.load_state_dict(state["walker"])
    critic.load_state_dict(state["critic"])
    return walker.eval(), critic.eval()


def smoothed(records: list[dict], key: str = "infonce", window: int = 20) -> list[float]:
    """Trailing moving average of ``key`` over the logged steps (the per-batch InfoNCE is noisy)."""
    return train.moving_average([r[key] for r in records], window)


def matched_infonce(curves: dict[str, list[float]], snapshot_steps: list[int]) -> tuple[float, dict[str, int]]:
    """A common InfoNCE level and, per walker, the snapshot step whose smoothed InfoNCE is closest.

    ``curves[name][i]`` is the smoothed InfoNCE after step ``i + 1``. The level is the lowest of the
    walkers' highest snapshot values, so every walker reached it at some snapshot (a walker starts
    at the identity, where InfoNCE is lowest, and its InfoNCE rises as it moves further).
    """
    if not snapshot_steps:
        raise ValueError("no snapshots: train with MinMaxConfig(snapshot_every > 0)")
    at = {name: {s: c[s - 1] for s in snapshot_steps if s <= len(c)} for name, c in curves.items()}
    level = min(max(v.values()) for v in at.values())
    return level, {name: min(v, key=lambda s: abs(v[s] - level)) for name, v in at.items()}


@torch.no_grad()
def anchor_batches(gen: HLGenerator, n_anchors: int = 10_000, batch: int = 64, seed: int = 10**6,
                   oracle: Oracle | None = None) -> list[dict]:
    """The anchors of :func:`monte_carlo`, decoded once so several walkers can share them:
    per batch its index, latents, images and (with an oracle) the oracle's labels."""
    out = []
    for j, start in enumerate(range(0, n_anchors, batch)):
        n = min(batch, n_anchors - start)
        z = gen.sample_latents(n, seed=seed, start=start)  # anchor start + i of seed, whatever the batch
        x = gen.generate(z)
        out.append({"j": j, "z": z, "x": x, "y": oracle.predict(x) if oracle is not None else None})
    return out


@torch.no_grad()
def monte_carlo(gen: HLGenerator, walker: Walker, critic: Critic, oracle: Oracle | None = None,
                n_anchors: int = 10_000, batch: int = 64, tau: float = 0.1, seed: int = 10**6,
                anchors: list[dict] | None = None) -> dict:
    """METHODS.md §1.4 per walker: mean/std of Delta per chunk over ``n_anchors`` anchors, the
    critic's InfoNCE and MI bound (batches of ``batch``), and the oracle's label agreement.
    ``anchors`` (from :func:`anchor_batches` with the same arguments) skips decoding them again."""
    critic.eval()
    walker.eval()
    if anchors is None:
        anchors = anchor_batches(gen, n_anchors, batch, seed, oracle)
    deltas, losses, agree = [], [], []
    for a in anchors:
        z, x = a["z"], a["x"]
        zp = walker(z, seed=L.row_seed(seed, a["j"], L.EXTRA))  # the walker's noise: its own stream
        xp = gen.generate(zp)
        deltas.append(delta(z, zp))
        if len(x) == batch:
            losses.append(nt_xent(critic(x), critic(xp), tau).item())
        if oracle is not None:
            agree.append(a["y"] == oracle.predict(xp))
    d = torch.cat(deltas)
    if len(d) != n_anchors:
        raise ValueError(f"anchors hold {len(d)} anchors, expected n_anchors={n_anchors}")
    loss = sum(losses) / len(losses) if losses else float("nan")  # no full batch: no InfoNCE
    out = {"n_anchors": n_anchors, "infonce": loss, "mi_bound": math.log(2 * batch - 1) - loss,
           **{f"delta_mean_{k}": v for k, v in enumerate(d.mean(0).tolist())},
           **{f"delta_std_{k}": v for k, v in enumerate(d.std(0).tolist())}}
    if oracle is not None:
        out["oracle_agreement"] = torch.cat(agree).float().mean().item()
    return out
