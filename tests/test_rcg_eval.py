"""RCG's measurements (hlwb.rcg.evaluation), its view source (hlwb.rcg.views, the ``rcg`` strategy
of hlwb.views) and the class-prototype conditioning of ``train-rep-generator``."""

import math
import re

import pytest
import torch

from hlwb import latents as L
from hlwb import rcg
from hlwb.checkpoint import file_sha256
from hlwb.rcg import evaluation as E
from hlwb.rcg.space import class_prototypes
from hlwb.rcg.views import RCGViews
from hlwb.views import augmentation, make_source, preset_for


def _randomise(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    """Overwrite every parameter with seeded noise (zero-initialised layers would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g))


def _rep_gen(rep_dim: int = 5, seed: int = 0) -> rcg.RepConditionedGenerator:
    torch.manual_seed(seed)
    G = rcg.RepConditionedGenerator(ch=4, chunk_dim=6, rep_dim=rep_dim)
    with torch.no_grad():
        G.train()
        G(G.sample_latents(16, seed=0), torch.randn(16, rep_dim))  # non-trivial running statistics
    _randomise(G.rep_proj, seed + 1)
    return G.eval()


def _rdm(dim: int = 5, seed: int = 0) -> rcg.RepresentationDiffusion:
    rdm = rcg.RepresentationDiffusion(dim, 16, 1)
    _randomise(rdm.net, seed)
    rdm.ema.load_state_dict(rdm.net.state_dict())
    return rdm.eval()


def _is_standardised(x: torch.Tensor) -> bool:
    d = x.shape[1]
    return (torch.allclose(x.mean(1), torch.zeros(len(x)), atol=1e-5)
            and torch.allclose(x.norm(dim=1), torch.full((len(x),), math.sqrt(d - 1)), atol=1e-4))


@pytest.fixture(scope="module")
def oracle():
    from hlwb import oracle as O

    return O.load(device="cpu")


@pytest.fixture(scope="module")
def fm_images():
    from hlwb import data

    return data.fashion_mnist("test").float_images()[:6]


@pytest.fixture(scope="module")
def encoder():
    from hlwb.evaluate import random_encoder

    return random_encoder(width=4, blocks=(1, 1), seed=0).eval()  # 8-d features


# --- conditioning draws ---

def test_kmeans_recovers_separated_clusters_with_their_frequencies():
    g = torch.Generator().manual_seed(0)
    centres = 5 * torch.randn(3, 6, generator=g)
    counts = [10, 20, 30]
    labels = torch.cat([torch.full((c,), j) for j, c in enumerate(counts)])
    reps = centres[labels] + 0.05 * torch.randn(60, 6, generator=g)
    cents, sizes = E.kmeans_centroids(reps, 3, seed=0)
    assert cents.shape == (3, 6) and _is_standardised(cents)
    assert float(sizes.sum()) == pytest.approx(1.0)
    truth = rcg.standardize(centres)
    match = torch.cdist(cents, truth).argmin(1)  # each found centroid's true cluster
    assert sorted(match.tolist()) == [0, 1, 2]
    assert torch.allclose(cents, truth[match], atol=0.05)
    assert torch.allclose(sizes.float(), torch.tensor(counts, dtype=torch.float32)[match] / 60, atol=1e-6)


def test_kmeans_k_out_of_range_raises():
    reps = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    for k in (1, 6):
        with pytest.raises(ValueError, match="k must be in"):
            E.kmeans_centroids(reps, k, seed=0)


def test_draw_prototypes_is_seeded_and_respects_weights():
    protos = torch.arange(12.0).reshape(3, 4)
    w = torch.tensor([0.5, 0.0, 0.5])
    a = E.draw_prototypes(protos, w, 200, seed=1)
    assert a.shape == (200, 4)
    assert torch.equal(a, E.draw_prototypes(protos, w, 200, seed=1))
    assert not torch.equal(a, E.draw_prototypes(protos, w, 200, seed=2))
    rows = a[:, 0].tolist()
    assert 4.0 not in rows and {0.0, 8.0} <= set(rows)  # the zero-weight row never drawn, the others are


def test_draw_rows_without_replacement_standardised_and_bounded():
    reps = torch.randn(10, 5, generator=torch.Generator().manual_seed(0)) * 2 + 3
    allrows = E.draw_rows(reps, 10, seed=0)
    assert _is_standardised(allrows)
    full = rcg.standardize(reps)
    idx = torch.cdist(allrows, full).argmin(1)
    assert sorted(idx.tolist()) == list(range(10))  # a permutation: no row twice
    assert torch.allclose(allrows, full[idx], atol=1e-6)
    assert torch.equal(E.draw_rows(reps, 4, seed=3), E.draw_rows(reps, 4, seed=3))
    with pytest.raises(ValueError, match="exceeds"):
        E.draw_rows(reps, 11, seed=0)


def test_label_entropy_uniform_and_single_class():
    ent, low = E.label_entropy_bits(torch.arange(10).repeat(7), n_classes=10)
    assert ent == pytest.approx(math.log2(10)) and low == pytest.approx(0.1)
    ent, low = E.label_entropy_bits(torch.full((9,), 3), n_classes=10)
    assert ent == pytest.approx(0.0, abs=1e-12) and low == 0.0
    ent, low = E.label_entropy_bits(torch.tensor([0, 1, 0, 1]), n_classes=2)
    assert ent == pytest.approx(1.0) and low == pytest.approx(0.5)


def test_generate_matches_the_generator_and_none_is_the_null_path():
    G = _rep_gen()
    rep = rcg.standardize(torch.randn(4, 5, generator=torch.Generator().manual_seed(0)))
    z = G.sample_latents(4, seed=7)
    assert torch.equal(E.generate(G, rep, 4, seed=7, guidance=1.5), G.generate(z, rep, guidance=1.5))
    assert torch.equal(E.generate(G, None, 4, seed=7), G.generate(z, None))
    assert not torch.allclose(E.generate(G, rep, 4, seed=7), E.generate(G, None, 4, seed=7))


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # 6 images, 256-d features
def test_score_row_identical_sets_have_near_zero_fd(oracle, fm_images):
    x = fm_images
    row = E.score_row(x, oracle, oracle.features(x))
    assert set(row) == {"fd_oracle", "label_entropy", "min_class_share"}
    noise = torch.rand(6, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    far = E.score_row(noise, oracle, oracle.features(x))["fd_oracle"]
    assert abs(row["fd_oracle"]) < 1e-2 * far
    assert (row["label_entropy"], row["min_class_share"]) == pytest.approx(E.label_entropy_bits(oracle.predict(x), 10))


# --- the posterior ---

@pytest.mark.parametrize("temperature", [1e-3, 0.1, 10.0])
def test_posterior_cell_bits_bounded_and_choices_from_the_dictionary(temperature):
    g = torch.Generator().manual_seed(0)
    emb = rcg.standardize(torch.randn(12, 5, generator=g))
    k = 7
    dictionary = E.prior_dictionary("sphere", k, 5, seed=1)
    bits, chosen = E.posterior_cell(emb, dictionary, temperature, seed=2)
    assert bits["rate_bits"] <= math.log2(k) + 1e-9
    assert 0.0 <= bits["mi_bits"] <= bits["rate_bits"] + 1e-9
    assert chosen.shape == (12, 5)
    assert torch.cdist(chosen, dictionary).min(1).values.max() < 1e-6  # every choice is a dictionary row
    again = E.posterior_cell(emb, dictionary, temperature, seed=2)
    assert again[0] == bits and torch.equal(again[1], chosen)


def test_posterior_cell_cold_picks_the_nearest_row():
    g = torch.Generator().manual_seed(1)
    emb, dictionary = rcg.standardize(torch.randn(20, 6, generator=g)), E.prior_dictionary("sphere", 9, 6, seed=0)
    _, chosen = E.posterior_cell(emb, dictionary, 1e-6, seed=0)
    cos = torch.nn.functional.normalize(emb, dim=1) @ torch.nn.functional.normalize(dictionary, dim=1).T
    assert torch.equal(chosen, dictionary[cos.argmax(1)])


def test_prior_dictionary_sphere_standardised_and_seeded_rdm_and_errors():
    a = E.prior_dictionary("sphere", 6, 5, seed=0)
    assert a.shape == (6, 5) and _is_standardised(a)
    assert torch.equal(a, E.prior_dictionary("sphere", 6, 5, seed=0))
    assert not torch.allclose(a, E.prior_dictionary("sphere", 6, 5, seed=1))
    rdm = _rdm(5)
    r = E.prior_dictionary("rdm", 4, 5, seed=3, rdm=rdm)
    assert _is_standardised(r) and torch.allclose(r, rcg.standardize(rdm.sample(4, seed=3)))
    with pytest.raises(ValueError, match="needs the RDM"):
        E.prior_dictionary("rdm", 4, 5, seed=0)
    with pytest.raises(ValueError, match="prior must be"):
        E.prior_dictionary("gaussian", 4, 5, seed=0)


KEYS = ("rate_bits", "mi_bits", "agreement", "feature_cosine")


def test_posterior_sweep_rows_bounds_and_determinism(encoder, oracle, fm_images):
    gen, rdm = _rep_gen(rep_dim=8), _rdm(8)
    args = {"ks": [2, 5], "temperatures": [0.05, 1.0], "priors": ("rdm", "sphere"), "n_dicts": 2, "seed": 0,
            "rdm": rdm}
    rows = E.posterior_sweep(fm_images, encoder, gen, oracle, **args)
    assert [(r["prior"], r["K"], r["T"]) for r in rows] == [
        (p, k, t) for p in ("rdm", "sphere") for k in (2, 5) for t in (0.05, 1.0)]
    for r in rows:
        assert all(key in r and key + "_sd" in r for key in KEYS)
        assert r["n"] == 6 and r["n_dicts"] == 2 and r["log2_K"] == pytest.approx(math.log2(r["K"]))
        assert r["log2_N"] == pytest.approx(math.log2(6)) and r["mi_bits"] <= r["log2_N"] + 1e-9  # the MI's ceiling
        assert r["rate_bits"] <= math.log2(r["K"]) + 1e-9 and r["mi_bits"] <= r["rate_bits"] + 1e-9
        assert 0.0 <= r["agreement"] <= 1.0 and -1.0 - 1e-6 <= r["feature_cosine"] <= 1.0 + 1e-6
        assert all(r[key + "_sd"] >= 0 for key in KEYS)
    for cold, hot in zip(rows[0::2], rows[1::2]):  # the same dictionaries at both T: colder, more rate
        assert cold["rate_bits"] >= hot["rate_bits"]
    assert E.posterior_sweep(fm_images, encoder, gen, oracle, **args) == rows
    one = E.posterior_sweep(fm_images, encoder, gen, oracle, ks=[3], temperatures=[0.5], priors=("sphere",),
                            n_dicts=1)
    assert len(one) == 1 and all(one[0][key + "_sd"] == 0.0 for key in KEYS)
    with pytest.raises(ValueError, match="needs the RDM"):
        E.posterior_sweep(fm_images, encoder, gen, oracle, ks=[2], temperatures=[1.0], priors=("rdm",))


def test_reference_agreement_keys_ranges_and_determinism(encoder, oracle, fm_images):
    gen = _rep_gen(rep_dim=8)
    ref = E.reference_agreement(fm_images, encoder, gen, oracle, seed=0)
    assert set(ref) == {"own_rep", "unconditional"}
    for v in ref.values():
        assert set(v) == {"agreement", "feature_cosine"}
        assert 0.0 <= v["agreement"] <= 1.0 and -1.0 - 1e-6 <= v["feature_cosine"] <= 1.0 + 1e-6
    assert E.reference_agreement(fm_images, encoder, gen, oracle, seed=0) == ref


# --- class prototypes and train-rep-generator --condition class ---

def test_class_prototypes_are_standardised_class_means():
    g = torch.Generator().manual_seed(0)
    reps, labels = torch.randn(30, 6, generator=g) * 3 + 1, torch.arange(3).repeat(10)
    protos = class_prototypes(reps, labels, n_classes=3)
    assert protos.shape == (3, 6) and _is_standardised(protos)
    z = rcg.standardize(reps)
    for c in range(3):
        assert torch.allclose(protos[c], rcg.standardize(z[labels == c].mean(0, keepdim=True))[0], atol=1e-5)
    with pytest.raises(ValueError, match="every class needs"):
        class_prototypes(reps, labels, n_classes=4)


def test_train_rep_generator_refuses_an_unknown_condition(tmp_path):
    from hlwb.rcg.commands import train_rep_generator_command

    with pytest.raises(ValueError, match="condition must be one of"):
        train_rep_generator_command(tmp_path / "none.pt", tmp_path / "g.pt", rcg.RepGANConfig(), condition="label")


def test_train_rep_generator_class_condition_trains_on_prototypes(tmp_path_factory, monkeypatch):
    from hlwb.cli import main
    from hlwb.rcg import commands, generator

    work = tmp_path_factory.mktemp("enc")
    assert main(["pretrain", "--steps", "2", "--batch", "8", "--width", "4", "--blocks", "1,1", "--warmup", "1",
                 "--ckpt-every", "2", "--knn-every", "0", "--strategy", "real", "--work-dir", str(work)]) == 0
    enc = work / "encoder.pt"
    seen = {}
    real_encode, real_train = commands.encode_train, generator.train_rep_gan

    def encode(*a, **k):
        seen["encoded"] = out = real_encode(*a, **k)
        return out

    def train(pairs, *a, **k):
        seen["pairs"] = pairs
        return real_train(pairs, *a, **k)

    monkeypatch.setattr(commands, "encode_train", encode)
    monkeypatch.setattr(generator, "train_rep_gan", train)
    out = tmp_path_factory.mktemp("gen") / "g.pt"
    assert main(["train-rep-generator", "--encoder", str(enc), "--rep-dim", "8", "--steps", "2", "--batch", "8",
                 "--g-ch", "4", "--d-ch", "4", "--chunk-dim", "6", "--ema-start", "0", "--stat-batches", "1",
                 "--ckpt-every", "2", "--condition", "class", "--device", "cpu", "--out", str(out)]) == 0
    g = rcg.load_rep_generator(out)
    assert g.meta["condition"] == "class" and g.meta["source"]["encoder_sha256"] == file_sha256(enc)
    assert "labels" not in g.meta["source"]  # the label tensor is not written to the file
    _, reps, source = seen["encoded"]
    labels = source["labels"]
    trained = seen["pairs"][1]
    protos = class_prototypes(reps, labels)
    assert trained.shape == reps.shape and torch.equal(trained, protos[labels])  # one prototype per class
    assert len(torch.unique(trained, dim=0)) == 10 and _is_standardised(protos)


# --- RCG views ---

def _views(guidance: float = 0.0, preset: str = "none", batch: int = 4, **kw) -> RCGViews:
    return RCGViews(_rep_gen(), _rdm(), batch, augmentation(preset), seed=3, rdm_steps=4, guidance=guidance, **kw)


def test_rcg_views_render_one_representation_under_the_two_noises():
    v = _views()
    x1, x2 = v.pair_at(2)
    r = v.reps_at(2)
    assert _is_standardised(r)
    assert torch.allclose(r, rcg.standardize(v.rdm.sample(12, seed=3, steps=4)[8:]), atol=1e-5)  # continuous
    z1 = v.gen.sample_latents(4, seed=3, start=8)
    z2 = v.gen.sample_latents(4, seed=L.row_seed(3, 2, L.NOISE))
    with torch.no_grad():
        assert torch.allclose(x1, torch.tanh(v.gen.activation(z1, r)), atol=1e-5)
        assert torch.allclose(x2, torch.tanh(v.gen.activation(z2, r)), atol=1e-5)
        other = rcg.standardize(torch.randn(4, 5, generator=torch.Generator().manual_seed(0)))
        assert not torch.allclose(x2, torch.tanh(v.gen.activation(z2, other)), atol=1e-3)  # the rep matters
    assert not torch.allclose(x1, x2)


def test_rcg_views_are_addressable_float32_in_range_and_differ_by_step():
    v = _views(preset="no_color")
    a1, a2 = v.pair_at(1)
    b1, b2 = v.pair_at(1)
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    c1, c2 = v.batch_at(1)
    d1, d2 = v.batch_at(1)
    assert torch.equal(c1, d1) and torch.equal(c2, d2)
    assert c1.shape == (4, 1, 32, 32) and c1.dtype == torch.float32 and a1.dtype == torch.float32
    assert all(float(t.abs().max()) <= 1.0 for t in (a1, a2, c1, c2))
    e1, _ = v.pair_at(0)
    assert not torch.allclose(a1, e1)
    chunked = _views(preset="no_color", decode_chunk=3)  # decode in pieces: the same pair
    assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(chunked.pair_at(1), (a1, a2)))


def test_rcg_views_guidance_acts_on_the_conditioning():
    v0, v2 = _views(0.0), _views(2.0)
    x0, x2 = v0.pair_at(0)[0], v2.pair_at(0)[0]
    assert not torch.allclose(x0, x2)
    r, z = v2.reps_at(0), v2.gen.sample_latents(4, seed=3)
    with torch.no_grad():
        ref = torch.tanh(v2.gen.activation(z, r, guidance=2.0))  # c(null) + 3 (c(r) - c(null))
        output_x = torch.tanh(3 * v2.gen.activation(z, r) - 2 * v2.gen.activation(z, None))
    assert torch.allclose(x2, ref, atol=1e-5) and not torch.allclose(x2, output_x, atol=1e-3)


# --- the rcg strategy of make_source ---

def test_preset_for_rcg():
    assert preset_for("rcg", "paper") == "no_color"
    assert preset_for("rcg", "fair") == "simclr"
    assert preset_for("rcg", "fair", fair_preset="crop") == "crop"


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """The shipped RCG files redirected to tmp_path (written by the test)."""
    import hlwb.rcg.views as V

    paths = {name: tmp_path / f"{name}.pt" for name in V.SHIPPED}
    monkeypatch.setattr(V, "shipped_path", lambda name: paths[name])
    return paths


def test_make_source_rcg_names_the_missing_file(shipped):
    with pytest.raises(FileNotFoundError, match="generator"):
        make_source("rcg", batch=4, device="cpu")
    rcg.save_rep_generator(shipped["generator"], _rep_gen())
    with pytest.raises(FileNotFoundError, match=re.escape(str(shipped["rdm"]))):
        make_source("rcg", batch=4, device="cpu")


def test_make_source_rcg_spec_and_batches(shipped):
    rcg.save_rep_generator(shipped["generator"], _rep_gen())
    rcg.save_rdm(shipped["rdm"], _rdm())
    src = make_source("rcg", batch=3, seed=5, device="cpu")
    s = src.spec
    assert s["strategy"] == "rcg" and s["preset"] == "no_color" and s["batch"] == 3 and s["seed"] == 5
    assert s["generator_sha256"] == file_sha256(shipped["generator"])
    assert s["rdm_sha256"] == file_sha256(shipped["rdm"]) and s["rdm_steps"] == 25
    assert s["representation_space"] == {"encoder_sha256": None}  # this file records no encoder
    assert s["sampling"] == "continuous"
    x1, x2 = src.batch_at(0)
    assert x1.shape == x2.shape == (3, 1, 32, 32) and x1.dtype == torch.float32
    assert torch.equal(src.batch_at(0)[0], x1)
    assert not torch.equal(make_source("rcg", batch=3, seed=5, rank=1, device="cpu").batch_at(0)[0], x1)
    fixed = make_source("rcg", batch=3, seed=5, sampling="fixed", n_fixed=5, device="cpu")
    assert fixed.spec["sampling"] == "fixed" and fixed.spec["n_fixed"] == 5
    assert fixed.x1.shape == (5, 1, 32, 32)
    f1, f2 = fixed.batch_at(2)
    assert f1.shape == f2.shape == (3, 1, 32, 32)


def test_representation_space_and_distillation_name_a_compared_encoder():
    from hlwb.rcg.views import distillation, representation_space

    G = _rep_gen()
    G.meta = {"source": {"encoder_sha256": "ab" * 32,
                         "encoder_meta": {"method": "simclr", "arm": "real", "seed": 0, "augment": "fair"}}}
    space = representation_space(G)
    assert space == {"encoder_sha256": "ab" * 32, "method": "simclr", "arm": "real", "seed": 0, "augment": "fair"}
    arms = {"real": (0, 1, 2), "gaussian": (0, 1, 2)}
    note = distillation(space, "simclr", arms)
    assert note.startswith("distillation: the representation space is the 'real' arm's seed-0 simclr encoder")
    assert "[0, 1, 2]" in note
    assert distillation({**space, "seed": 1000}, "simclr", arms) == ""  # a dedicated seed: not a compared run
    assert distillation(space, "byol", arms) == "" and distillation({**space, "arm": "synth"}, "simclr", arms) == ""
    assert distillation(representation_space(_rep_gen()), "simclr", arms) == ""  # nothing recorded


def test_report_rcg_table_says_the_distillation_budget_floor_and_mi_ceiling():
    from hlwb.report import rcg_markdown

    row = {"fd_oracle": 7.0, "label_entropy": 3.3, "min_class_share": 0.08}
    rcg_block = {"ablation": {"real_reps": row, "unconditional_trained": row, "rdm_cfg1": row}, "n_samples": 2000,
                 "n_test": 10000, "representation_space": {"distillation": "distillation: the 'real' arm's seed-0"},
                 "budget": {"conditioned": {"steps": 2000, "batch": 64}, "unconditional_trained": {"steps": 2000, "batch": 64},
                            "init": "biggan"},
                 "rep_fd": {"n": 10000, "rdm_steps": 50, "rdm_vs_train": 0.9, "rdm_vs_test": 0.95,
                            "real_train_vs_test": 0.07, "real_train_vs_train": 0.05},
                 "posterior": [{"prior": "rdm", "K": 8, "T": 0.1, "rate_bits": 2.0, "mi_bits": 1.9, "agreement": 0.3}],
                 "posterior_n": 500, "posterior_mi_ceiling_bits": math.log2(500)}
    text = "\n".join(rcg_markdown(rcg_block))
    assert "**Representation space**: distillation: the 'real' arm's seed-0." in text
    assert "the trained rows 2000 steps x batch 64 from biggan; unconditional_trained 2000 x 64" in text
    assert "real train vs the disjoint rest of train 0.050" in text and "at most log2 N = 8.97 bits" in text
    assert "| real_reps | representations of real train images (RCG's \"oracle\" row) |" in text
    assert "| unconditional_trained | none: the same architecture trained with the null vector always" in text
    assert "| rdm_cfg1 | RDM samples at classifier-free guidance w on the conditioning" in text


def test_report_rcg_rows_in_a_fixed_order_with_each_posterior_row_and_the_references_said():
    from hlwb.report import rcg_markdown

    row = {"fd_oracle": 7.0, "label_entropy": 3.3, "min_class_share": 0.08}
    names = ["real_reps", "rdm_cfg3", "clusters_100", "real", "rdm", "posterior_trained", "clusters_10", "biggan",
             "posterior_on_rep_gen", "unconditional", "unconditional_trained", "rdm_cfg1", "class_labels"]
    block = {"ablation": {n: row for n in sorted(names)},  # as the results file stores them: alphabetically
             "representation_space": {"distillation": "", "arm": "real", "method": "simclr", "seed": 1000},
             "budget": {"conditioned": {"steps": 2000, "batch": 64}, "unconditional_trained": {"steps": 2000, "batch": 64}},
             "guidance": "classifier-free, on the conditioning",
             "posterior_references": {"own_rep": {"agreement": 0.7, "feature_cosine": 0.9}},
             "posterior_trained": {"cell": {"prior": "rdm", "K": 128, "T": 0.1, "n_dicts": 64},
                                   "trained_on_posterior": {"agreement": 0.45, "feature_cosine": 0.75, "mi_bits": 2.0,
                                                            "rate_bits": 2.5}}}
    text = "\n".join(rcg_markdown(block))
    order = [ln.split(" | ")[0].lstrip("| ") for ln in text.splitlines() if ln.startswith("| ") and " | " in ln]
    ablation = [n for n in order if n in names]
    assert ablation == ["real", "biggan", "unconditional_trained", "unconditional", "clusters_10", "clusters_100",
                        "class_labels", "rdm", "rdm_cfg1", "rdm_cfg3", "posterior_trained", "posterior_on_rep_gen",
                        "real_reps"]
    assert "| posterior_trained | draws of the contrastive-softmax posterior, fed to a generator trained on" in text
    assert "| posterior_on_rep_gen | draws of the contrastive-softmax posterior, fed to the representation-cond" in text
    assert "**Representation space**: the real arm's simclr encoder of seed 1000, none of the compared runs." in text
    assert "from an unrecorded start" in text and "Guidance: classifier-free, on the conditioning." in text
    assert "own_rep 70.0 % (feature cosine 0.900)" in text
    assert "| trained_on_posterior | 45.0 % | 0.750 | 2.00 | 2.50 |" in text
