"""OOD scores and metrics on small synthetic data, against naive references."""

import math

import pytest
import torch

from hlwb import ood, ssl
from hlwb.encoders import ResNetTrunk


def _naive_auroc(s_in, s_out) -> float:
    pairs = [1.0 if a > b else 0.5 if a == b else 0.0 for a in s_in.tolist() for b in s_out.tolist()]
    return sum(pairs) / len(pairs)


def _naive_fpr95(s_in, s_out) -> float:
    """The lowest FPR over every threshold at which TPR >= 95 % (scores >= t are 'in')."""
    best = 1.0
    for t in sorted(set(s_in.tolist()) | set(s_out.tolist())):
        tpr = sum(a >= t for a in s_in.tolist()) / len(s_in)
        if tpr >= 0.95:
            best = min(best, sum(b >= t for b in s_out.tolist()) / len(s_out))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_auroc_and_fpr_match_naive_pairwise_references(seed):
    g = torch.Generator().manual_seed(seed)
    s_in = torch.randint(0, 12, (61,), generator=g).double() + 2  # ties within and across the sets
    s_out = torch.randint(0, 12, (37,), generator=g).double()
    assert ood.auroc(s_in, s_out) == pytest.approx(_naive_auroc(s_in, s_out), abs=1e-12)
    assert ood.fpr_at_tpr(s_in, s_out) == pytest.approx(_naive_fpr95(s_in, s_out), abs=1e-12)
    s_in, s_out = torch.randn(40, generator=g) + 1, torch.randn(55, generator=g)  # no ties
    assert ood.auroc(s_in, s_out) == pytest.approx(_naive_auroc(s_in, s_out), abs=1e-12)
    assert ood.fpr_at_tpr(s_in, s_out) == pytest.approx(_naive_fpr95(s_in, s_out), abs=1e-12)
    assert ood.auroc(s_in + 10, s_out) == 1.0 and ood.fpr_at_tpr(s_in + 10, s_out) == 0.0


def test_knn_score_separates_a_clearly_different_set_and_matches_a_naive_loop():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=g), torch.randn(16, generator=g)
    train = a + 0.3 * torch.randn(200, 16, generator=g)
    f_in, f_out = a + 0.3 * torch.randn(50, 16, generator=g), b + 0.3 * torch.randn(50, 16, generator=g)
    s_in, s_out = ood.knn_score(train, f_in, k=5, chunk=7), ood.knn_score(train, f_out, k=5)
    assert ood.auroc(s_in, s_out) > 0.9
    cos = torch.nn.functional.cosine_similarity
    naive = torch.tensor([sorted((1 - cos(f, t, dim=0)).item() for t in train)[4] for f in f_in[:5]])
    torch.testing.assert_close(-s_in[:5], naive, atol=1e-5, rtol=1e-5)


def test_mutation_respects_its_rate_and_seed():
    x = torch.full((8, 1, 32, 32), 0.3)  # off the uint8 grid: every replaced pixel changes
    for rate in (0.1, 0.2, 0.3):
        m = ood.mutate(x, rate, seed=1)
        changed = (m != x).float().mean().item()
        assert abs(changed - rate) < 0.02, (rate, changed)
        assert m.min() >= -1 and m.max() <= 1 and torch.equal(m, ood.mutate(x, rate, seed=1))
    assert torch.equal(ood.mutate(x, 0.0, seed=1), x) and not torch.equal(ood.mutate(x, 0.2, 2), ood.mutate(x, 0.2, 1))
    with pytest.raises(ValueError, match=r"\[0.1, 0.3\]"):
        ood.MutatedViews(None, rate=0.05)


def test_compression_length_increases_with_noise():
    g = torch.Generator().manual_seed(0)
    x = -torch.ones(6, 1, 32, 32)
    x[:, :, 8:24, 10:22] = 0.6
    bits = [ood.compressed_bits((x + s * torch.randn(x.shape, generator=g)).clamp(-1, 1)).mean().item()
            for s in (0.0, 0.1, 0.3, 1.0)]
    assert bits == sorted(bits) and bits[0] < bits[-1] / 3, bits


def _blobs(n: int, seed: int) -> torch.Tensor:
    """A synthetic in-distribution: a bright square on a dark background, 16x16."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, 16, 16)
    for i, (r, c) in enumerate(torch.randint(2, 9, (n, 2), generator=g).tolist()):
        x[i, :, r:r + 6, c:c + 6] = 0.8
    return x


def _fit(images: torch.Tensor, steps: int = 80) -> torch.nn.Module:
    torch.manual_seed(0)
    m = ssl.build("gcrl", ResNetTrunk(4, (1,), size=images.shape[-1]), alpha=1.0, beta=0.0, head_width=8,
                  head_layers=2)  # built for the images' size (the blobs are 16x16)
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = images[torch.randint(len(images), (32,), generator=g)]
        loss, _ = m(x, x.flip(3))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m


def test_likelihood_ratio_and_complexity_scores_on_synthetic_data():
    train, x_in = _blobs(256, 0), _blobs(64, 1)
    x_out = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1  # uniform noise
    fg = _fit(train)
    ll_in, ll_out = ood.log_likelihood(fg, x_in, batch=20), ood.log_likelihood(fg, x_out)
    assert ll_in.shape == (64,) and ood.auroc(ll_in, ll_out) > 0.9
    torch.testing.assert_close(ll_in[:3], fg.log_likelihood(x_in[:3]))
    bg = _fit(torch.cat([ood.mutate(train, 0.2, seed=s)[None] for s in range(2)]).flatten(0, 1))
    lr_in = ood.likelihood_ratio(fg, bg, x_in)
    torch.testing.assert_close(lr_in, ll_in - ood.log_likelihood(bg, x_in))
    assert ood.auroc(lr_in, ood.likelihood_ratio(fg, bg, x_out)) > 0.5
    cs = ood.complexity_score(fg, x_in)
    torch.testing.assert_close(cs, ll_in.double() / math.log(2) + ood.compressed_bits(x_in, fg.bins))
    assert torch.isfinite(cs).all()


def test_mutated_views_are_addressable_by_step():
    class Source:
        def batch_at(self, step):
            return torch.full((4, 1, 8, 8), 0.3), torch.full((4, 1, 8, 8), -0.3)

    v = ood.MutatedViews(Source(), rate=0.2, seed=3)
    a, b = v.batch_at(5)
    assert torch.equal(a, v.batch_at(5)[0]) and not torch.equal(a, v.batch_at(6)[0])
    assert not torch.equal(a != 0.3, b != -0.3)  # the two views are mutated independently
    assert v.spec["mutation_rate"] == 0.2


def test_ood_sets_are_images_in_range():
    x_in, sets = ood.ood_sets(n=20, seed=0)
    assert x_in.shape == (20, 1, 32, 32)
    assert set(sets) == {"digits", "letters", "shift/gaussian_noise3", "shift/blur3", "shift/contrast3",
                         "shift/occlusion3", "vflip", "invert"}
    for name, x in sets.items():
        assert x.ndim == 4 and x.shape[1:] == (1, 32, 32) and 0 < len(x) <= 20, name
        assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1, name
    assert torch.equal(sets["invert"], -x_in) and torch.equal(sets["vflip"], x_in.flip(2))


def test_ood_table_scores_every_model_on_every_set():
    """Likelihood scores only where there is a generative head; the feature score for every
    model; one row per (model, score, set) with AUROC and FPR@95 in [0, 1]."""
    from hlwb.encoders import ResNetTrunk
    from hlwb.ood import ood_table
    from hlwb.pretrain import PretrainConfig, build_method

    gen_model = build_method(PretrainConfig(method="gcrl", width=4, blocks="1,1", gcrl_beta=0.0)).eval()
    background = build_method(PretrainConfig(method="gcrl", width=4, blocks="1,1", gcrl_beta=0.0, seed=1)).eval()
    rows = ood_table({"alpha_only": gen_model, "trunk": ResNetTrunk(4, (1, 1))}, background=background, n=40,
                     n_bank=100, k=3, device="cpu")
    sets = {r["ood_set"] for r in rows}
    assert {"digits", "letters", "vflip", "invert"} <= sets and any(s.startswith("shift/") for s in sets)
    by = {(r["encoder"], r["score"]) for r in rows}
    assert by == {("alpha_only", "knn_k3"), ("alpha_only", "log_likelihood"), ("alpha_only", "complexity"),
                  ("alpha_only", "likelihood_ratio"), ("trunk", "knn_k3")}
    assert len(rows) == len(by) * len(sets)
    assert all(0 <= r["auroc"] <= 1 and 0 <= r["fpr95"] <= 1 and r["n_in"] == 40 for r in rows)


def test_ood_table_scores_equal_the_score_functions():
    """The table reuses each likelihood across its three scores: its AUROCs are those of
    complexity_score and likelihood_ratio computed from scratch."""
    from hlwb import ood
    from hlwb.pretrain import PretrainConfig, build_method

    fg = build_method(PretrainConfig(method="gcrl", width=4, blocks="1,1", gcrl_beta=0.0)).eval()
    bg = build_method(PretrainConfig(method="gcrl", width=4, blocks="1,1", gcrl_beta=0.0, seed=1)).eval()
    rows = {(r["score"], r["ood_set"]): r["auroc"]
            for r in ood.ood_table({"g": fg}, background=bg, n=30, n_bank=60, k=2, device="cpu")}
    x_in, sets = ood.ood_sets(n=30)
    for name in ("digits", "invert"):
        x = sets[name]
        assert rows[("complexity", name)] == ood.auroc(ood.complexity_score(fg, x_in, device="cpu"),
                                                      ood.complexity_score(fg, x, device="cpu"))
        assert rows[("likelihood_ratio", name)] == ood.auroc(ood.likelihood_ratio(fg, bg, x_in, device="cpu"),
                                                            ood.likelihood_ratio(fg, bg, x, device="cpu"))


def test_mutation_replaces_the_seeds_draw_and_the_background_gets_its_weight_decay(tmp_path, monkeypatch):
    """mutate: the values the seed's first (N, C, H, W) uniforms pick (< rate, ~ rate of them), set to
    the levels of its next draw; the background run: mutated weak/strong real views, alpha only, and
    the L2 weight reaches the optimiser (its checkpointed state)."""
    from hlwb import checkpoint, data, views
    from hlwb.latents import make_generator
    from hlwb.pretrain import pretrain

    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(9)) * 2 - 1
    m = ood.mutate(x, 0.2, seed=4)
    g = make_generator(4)
    hit = torch.rand(x.shape, generator=g) < 0.2
    level = torch.randint(0, 256, x.shape, generator=g).float() / 127.5 - 1
    assert torch.equal(m, torch.where(hit, level, x)) and abs(hit.float().mean().item() - 0.2) < 0.02
    fg = {"method": "gcrl", "width": 4,
          "blocks": "1,1", "batch": 4, "steps": 2, "warmup": 1, "gcrl_beta": 1.0, "knn_every": 100}
    cfg = ood.background_config(fg, seed=1, weight_decay=0.05)
    assert (cfg.gcrl_alpha, cfg.gcrl_beta, cfg.knn_every, cfg.steps, cfg.weight_decay) == (1.0, 0.0, 0, 2, 0.05)
    asked = {}

    def small(strategy, batch, **kw):  # make_source's real views of a few images (loading all of train is slow)
        asked.update(kw, strategy=strategy)
        src = views.RealViews(data.fashion_mnist("test").float_images()[:32], batch, preset="simclr", seed=kw["seed"])
        src.spec = {"strategy": strategy}
        return src

    monkeypatch.setattr(views, "make_source", small)
    src = ood.background_source(cfg, rate=0.3, seed=1, device="cpu")
    assert asked["strategy"] == "real" and asked["augment"] == "fair" and asked["dataset"] == "fashion_mnist"
    assert src.spec["mutation_rate"] == 0.3 and "gcrl_views" in src.spec and src.spec["strategy"] == "real"
    pretrain(src, cfg, work_dir=tmp_path / "bg", device="cpu")
    state = checkpoint.load(tmp_path / "bg" / "train_state.pt", kind="train-state")
    assert state["optimizers"]["sgd"]["param_groups"][0]["weight_decay"] == 0.05
    assert state["meta"]["config"]["weight_decay"] == 0.05
