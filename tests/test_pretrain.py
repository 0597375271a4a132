import math

import pytest
import torch

from hlwb import data, views
from hlwb.evaluate import knn_accuracy
from hlwb.pretrain import PretrainConfig, pretrain


def test_knn_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    trf, tef = torch.randn(40, 6, generator=g), torch.randn(12, 6, generator=g)
    trl, tel = torch.randint(0, 3, (40,), generator=g), torch.randint(0, 3, (12,), generator=g)
    expected = 0
    for f, y in zip(tef, tel.tolist()):
        sims = sorted(((float(f @ h) / (float(f.norm()) * float(h.norm())), int(c)) for h, c in zip(trf, trl)),
                      key=lambda s: -s[0])[:7]
        votes = [sum(math.exp(s / 0.1) for s, c in sims if c == cls) for cls in range(3)]
        expected += int(max(range(3), key=lambda c: votes[c]) == y)
    assert knn_accuracy(trf, trl, tef, tel, k=7, temperature=0.1, chunk=5) == pytest.approx(expected / 12)


TINY = {"steps": 6, "batch": 16, "width": 4, "blocks": "1,1", "warmup": 2, "ckpt_every": 3, "knn_every": 6,
            "knn_train": 200, "knn_test": 100, "knn_k": 20}


def _source():
    imgs = data.fashion_mnist("test").float_images()[:256]
    return views.RealViews(imgs, batch=16, preset="simclr", seed=0)


@pytest.mark.parametrize("method,precision", [("simclr", "fp32"), ("byol", "fp32"), ("simclr", "bf16")])
def test_pretrain_runs_monitors_and_resumes_identically(method, precision, tmp_path):
    cfg = PretrainConfig(method=method, precision=precision, **TINY)
    full, rec = pretrain(_source(), cfg, tmp_path / "full")
    assert all(math.isfinite(r["loss"]) for r in rec)
    assert 0.0 <= rec[-1]["knn_top1"] <= 1.0
    # the same run killed at step 3 (after its checkpoint), then resumed by a fresh call
    class Killed(RuntimeError):
        pass

    class Dies(views.RealViews):
        def batch_at(self, step):
            if step == 3:
                raise Killed
            return super().batch_at(step)

    src = _source()
    with pytest.raises(Killed):
        pretrain(Dies(src.images, batch=16, preset="simclr", seed=0), cfg, tmp_path / "part")
    resumed, _ = pretrain(_source(), cfg, tmp_path / "part")
    for (n, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), n


PRETRAIN_ARGS = ["--method", "moco", "--strategy", "hl_random", "--steps", "16", "--batch", "8", "--width", "4",
                 "--blocks", "1,1", "--warmup", "2", "--ckpt-every", "2", "--knn-every", "0"]


def _run(work):
    import os
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "hlwb", "pretrain", *PRETRAIN_ARGS, "--work-dir", str(work)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_killed_pretraining_subprocess_resumes_to_the_same_weights(tmp_path, kill_at_first_checkpoint):
    from hlwb import checkpoint

    ref = _run(tmp_path / "ref")
    assert ref.wait(timeout=300) == 0, ref.stdout.read()
    killed_at = kill_at_first_checkpoint(_run(tmp_path / "k"), tmp_path / "k" / "train_state.pt")
    assert not (tmp_path / "k" / "encoder.pt").exists()
    assert 0 < killed_at < 16
    q = _run(tmp_path / "k")
    out = q.communicate(timeout=300)[0]
    assert q.returncode == 0, out
    a = checkpoint.load(tmp_path / "ref" / "encoder.pt", kind="encoder")["state_dict"]
    b = checkpoint.load(tmp_path / "k" / "encoder.pt", kind="encoder")["state_dict"]
    for n in a:
        assert torch.equal(a[n], b[n]), n


def test_knn_monitor_validates_on_train_images_never_on_test(monkeypatch):
    from hlwb import pretrain as P

    seen = []
    real_features = P.features

    def spy(encoder, images, *a, **k):
        seen.append(images)
        return real_features(encoder, images, *a, **k)

    monkeypatch.setattr(P, "features", spy)
    enc = P.build_method(PretrainConfig(**TINY)).encoder.eval()
    train, test = data.fashion_mnist("train"), data.fashion_mnist("test")
    P.knn_monitor(enc, PretrainConfig(**TINY))  # default: the validation split
    memory, queries = seen
    assert torch.equal(queries, train.images[P.VAL_SPLIT:P.VAL_SPLIT + 100])
    assert not any(torch.equal(queries[:5], test.images[i:i + 5]) for i in range(0, 100, 5))
    # the memory never holds a validation query
    idx = torch.randperm(P.VAL_SPLIT, generator=torch.Generator().manual_seed(0))[:200]
    assert torch.equal(memory, train.images[idx])
    seen.clear()
    P.knn_monitor(enc, PretrainConfig(**{**TINY, "knn_split": "test"}))
    assert torch.equal(seen[1], test.images[:100])
    with pytest.raises(ValueError, match="knn_split"):
        P.knn_monitor(enc, PretrainConfig(**{**TINY, "knn_split": "train"}))


CLI_TINY = ["--steps", "4", "--batch", "8", "--width", "4", "--blocks", "1,1", "--warmup", "1", "--ckpt-every", "2",
            "--knn-every", "0", "--knn-train", "200", "--knn-test", "100", "--knn-k", "20"]


def test_a_work_dir_is_never_resumed_as_another_run(tmp_path, capsys):
    """Resuming with another strategy, augmentation or fewer steps would label the weights with
    settings they were not trained with: refused before anything is written, naming the key."""
    from hlwb import checkpoint
    from hlwb.cli import main

    work = tmp_path / "w"
    assert main(["pretrain", *CLI_TINY, "--strategy", "real", "--work-dir", str(work)]) == 0
    enc, cfg_json = (work / "encoder.pt").read_bytes(), (work / "config.json").read_text()
    meta = checkpoint.load(work / "encoder.pt", kind="encoder")["meta"]
    assert meta["views"]["strategy"] == "real" and meta["views"]["preset"] == "simclr"
    capsys.readouterr()
    for extra, says in [(["--strategy", "synth"], "views.strategy: checkpoint 'real', this run 'synth'"),
                        (["--strategy", "real", "--augment", "fair"], "views.augment: checkpoint 'paper', this run 'fair'"),
                        (["--strategy", "real", "--seed", "3"], "config.seed: checkpoint 0, this run 3")]:
        assert main(["pretrain", *CLI_TINY, *extra, "--work-dir", str(work)]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, err
    assert main(["pretrain", *CLI_TINY, "--steps", "2", "--strategy", "real", "--work-dir", str(work)]) == 2
    assert "at step 4, but this run asks for steps=2" in capsys.readouterr().err
    assert (work / "encoder.pt").read_bytes() == enc and (work / "config.json").read_text() == cfg_json
    # evaluation-only settings do not block a resume of the finished run
    assert main(["pretrain", *CLI_TINY[:-4], "--knn-train", "300", "--knn-test", "50", "--knn-k", "10",
                 "--strategy", "real", "--work-dir", str(work)]) == 0


def test_view_source_spec_names_generator_digest_and_sigmas():
    from hlwb import checkpoint, generators

    src = views.make_source("hl_random", 8, augment="fair", generator="biggan", seed=2)
    s = src.spec
    assert s["strategy"] == "hl_random" and s["seed"] == 2 and s["sampling"] == "continuous"
    assert s["generator_sha256"] == checkpoint.file_sha256(generators.shipped_path("biggan")) and len(s["generator_sha256"]) == 64
    assert s["sigmas"] == [0.0] + [1.0] * (len(s["sigmas"]) - 1) and s["truncation"] == 2.0
    other = views.make_source("hl_random", 8, augment="fair", generator="biggan", seed=2, hl_sigmas=[0.5] * len(s["sigmas"]))
    assert other.spec["sigmas"] != s["sigmas"]
