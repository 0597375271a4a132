"""`python -m hlwb train-rdm` / `train-rep-generator`: from an encoder file to a written,
traceable, resumable model; a width mismatch is refused naming the flag to pass."""

import pytest

from hlwb.checkpoint import file_sha256
from hlwb.cli import main

ENC_ARGS = ["--steps", "2", "--batch", "8", "--width", "4", "--blocks", "1,1", "--warmup", "1", "--ckpt-every", "2",
            "--knn-every", "0", "--strategy", "real"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    work = tmp_path_factory.mktemp("enc")
    assert main(["pretrain", *ENC_ARGS, "--work-dir", str(work)]) == 0
    return work / "encoder.pt"  # width 4, two stages: 8-d features


def test_train_rdm_writes_a_traceable_model_and_refuses_a_width_mismatch(encoder, tmp_path, capsys):
    from hlwb.rcg import load_rdm

    out = tmp_path / "rdm.pt"
    tiny = ["--width", "32", "--blocks", "1", "--steps", "4", "--batch", "16", "--ckpt-every", "2", "--sample-steps", "5"]
    assert main(["train-rdm", "--encoder", str(encoder), "--dim", "16", *tiny[:1], "64", *tiny[2:],
                 "--out", str(out)]) == 2
    assert "have width 8, but --dim is 16: pass --dim 8 (and --width >= 32" in capsys.readouterr().err
    assert not out.exists()
    assert main(["train-rdm", "--encoder", str(encoder), "--dim", "8", *tiny, "--out", str(out),
                 "--device", "cpu"]) == 0
    rdm = load_rdm(out)
    assert rdm.meta["source"]["encoder_sha256"] == file_sha256(encoder)
    assert rdm.meta["source"]["dim"] == 8 and rdm.meta["device"] == "cpu"
    assert rdm.sample(6, seed=0, steps=5).shape == (6, 8)
    assert (tmp_path / "rdm.work" / "train_state.pt").exists()  # the resumable state beside it
    # the shipped form: the finished run, written again from its work dir as a float16 sampler
    small = tmp_path / "rdm_sampler.pt"
    assert main(["train-rdm", "--encoder", str(encoder), "--dim", "8", *tiny, "--out", str(small), "--device", "cpu",
                 "--work-dir", str(tmp_path / "rdm.work"), "--sampler-only"]) == 0
    back = load_rdm(small)
    assert small.stat().st_size < out.stat().st_size and back.meta["source"]["encoder_sha256"] == file_sha256(encoder)
    assert (back.sample(6, seed=0, steps=5) - rdm.sample(6, seed=0, steps=5)).abs().max() < 5e-2


def test_train_rep_generator_writes_a_conditioned_generator(encoder, tmp_path):
    import torch

    from hlwb.rcg import load_rep_generator

    out = tmp_path / "g.pt"
    assert main(["train-rep-generator", "--encoder", str(encoder), "--rep-dim", "8", "--steps", "2", "--batch", "8",
                 "--g-ch", "4", "--d-ch", "4", "--ema-start", "0", "--stat-batches", "1", "--ckpt-every", "2",
                 "--out", str(out)]) == 0
    g = load_rep_generator(out)
    assert g.meta["source"]["encoder_sha256"] == file_sha256(encoder) and g.meta["init"] is None
    z = g.sample_latents(3, seed=0)
    x = g(z, torch.zeros(3, 8))
    assert x.shape == (3, 1, 32, 32) and torch.isfinite(x).all()


def test_posterior_conditions_are_seeded_dictionary_draws_and_argmax_at_low_temperature():
    import torch

    from hlwb import latents as L
    from hlwb.rcg import sphere_prior, standardize
    from hlwb.rcg.commands import posterior_conditions

    reps = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    cond = posterior_conditions(reps, "sphere", k=5, temperature=1e-4, n_dicts=3, seed=7)
    assert torch.equal(cond, posterior_conditions(reps, "sphere", k=5, temperature=1e-4, n_dicts=3, seed=7))
    emb = torch.nn.functional.normalize(standardize(reps), dim=1)
    for d in range(3):
        dictionary = standardize(sphere_prior(5, 6, seed=L.row_seed(7, d)))
        rows = torch.arange(d, 40, 3)
        best = (emb[rows] @ torch.nn.functional.normalize(dictionary, dim=1).T).argmax(1)
        assert torch.allclose(cond[rows], dictionary[best])  # T -> 0: the nearest entry, of row i's own dictionary
    hot = posterior_conditions(reps, "sphere", k=5, temperature=100.0, n_dicts=3, seed=7)
    assert not torch.equal(hot, cond)  # T -> inf: close to a uniform pick, not the nearest


def test_train_rep_generator_on_posterior_draws_records_the_cell(encoder, tmp_path, capsys):
    from hlwb.rcg import load_rep_generator

    tiny = ["--encoder", str(encoder), "--rep-dim", "8", "--steps", "2", "--batch", "8", "--g-ch", "4", "--d-ch", "4",
            "--ema-start", "0", "--stat-batches", "1", "--ckpt-every", "2", "--condition", "posterior"]
    assert main(["train-rep-generator", *tiny, "--out", str(tmp_path / "x.pt")]) == 2  # the rdm prior needs --rdm
    assert "needs the RDM file: pass --rdm" in capsys.readouterr().err
    assert main(["train-rep-generator", *tiny, "--posterior-t", "0", "--out", str(tmp_path / "x.pt")]) == 2
    out = tmp_path / "p.pt"
    assert main(["train-rep-generator", *tiny, "--posterior-prior", "sphere", "--posterior-k", "4", "--posterior-t", "0.05",
                 "--posterior-dicts", "2", "--out", str(out)]) == 0
    g = load_rep_generator(out)
    assert g.meta["condition"] == "posterior"
    assert {k: g.meta["posterior"][k] for k in ("prior", "K", "T", "n_dicts", "dict_seed")} == {
        "prior": "sphere", "K": 4, "T": 0.05, "n_dicts": 2, "dict_seed": 1}
