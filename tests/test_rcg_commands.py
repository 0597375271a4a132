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
