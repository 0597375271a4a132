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
                 "--blocks", "1,1", "--warmup", "2", "--ckpt-every", "2", "--knn-every", "0", "--knn-train", "200",
                 "--knn-test", "100"]


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
            "--knn-every", "0", "--knn-train", "200", "--knn-test", "100"]


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
                        (["--strategy", "real", "--augment", "paper"], "views.augment: checkpoint 'fair', this run 'paper'"),
                        (["--strategy", "real", "--seed", "3"], "config.seed: checkpoint 0, this run 3")]:
        assert main(["pretrain", *CLI_TINY, *extra, "--work-dir", str(work)]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, err
    assert main(["pretrain", *CLI_TINY, "--steps", "2", "--strategy", "real", "--work-dir", str(work)]) == 2
    assert "at step 4, but this run asks for steps=2" in capsys.readouterr().err
    assert (work / "encoder.pt").read_bytes() == enc and (work / "config.json").read_text() == cfg_json
    # evaluation-only settings do not block a resume of the finished run
    assert main(["pretrain", *CLI_TINY[:-6], "--knn-every", "2", "--knn-train", "300", "--knn-test", "50",
                 "--knn-split", "test", "--strategy", "real", "--work-dir", str(work)]) == 0


def test_view_source_spec_names_generator_digest_and_sigmas():
    from hlwb import checkpoint, generators

    src = views.make_source("hl_random", 8, augment="fair", generator="biggan", seed=2)
    s = src.spec
    assert s["strategy"] == "hl_random" and s["seed"] == 2 and s["sampling"] == "continuous"
    assert s["generator_sha256"] == checkpoint.file_sha256(generators.shipped_path("biggan")) and len(s["generator_sha256"]) == 64
    assert s["sigmas"] == [0.0] + [1.0] * (len(s["sigmas"]) - 1) and s["truncation"] == 2.0
    other = views.make_source("hl_random", 8, augment="fair", generator="biggan", seed=2, hl_sigmas=[0.5] * len(s["sigmas"]))
    assert other.spec["sigmas"] != s["sigmas"]


# --- the run settings: one object for notebook 05 and the CLI ---

def test_settings_map_notebook_05s_parameters_onto_the_trainer():
    from hlwb import ssl
    from hlwb.config import ConfigError, PretrainParams
    from hlwb.pretrain import settings

    p = PretrainParams(steps=40, warmup=4, knn_every=0, knn_train=200, knn_test=100)
    cfg = settings(p, "cpu")
    assert cfg.base_lr == ssl.BASE_LR["simclr"] and cfg.ckpt_every == 8 and cfg.knn_every == 40  # 0: at the end
    assert (cfg.width, cfg.blocks, cfg.batch, cfg.dataset, cfg.image_size) == (16, "1,1,1,1", 128, "fashion_mnist", 0)
    assert cfg.precision in ("fp32", "bf16")  # "auto" resolved
    assert settings(PretrainParams(steps=40, warmup=4, base_lr=0.1, ckpt_every=3, precision="fp32"), "cpu").base_lr == 0.1
    with pytest.raises(ConfigError, match="unknown method 'simclr2'"):
        settings(PretrainParams(method="simclr2"), "cpu")
    with pytest.raises(ConfigError, match="strategy='hl_magic' is not a view strategy; valid: real"):
        settings(PretrainParams(strategy="hl_magic"), "cpu")
    with pytest.raises(ConfigError, match="hl_rule must be one of paper, delta"):
        PretrainParams(hl_rule="oracle")
    with pytest.raises(ConfigError, match="dataset='cifar11'"):
        PretrainParams(dataset="cifar11")


def test_run_source_reads_notebook_04s_sigmas_only_for_the_delta_rule(tmp_path):
    import json

    from hlwb.config import PretrainParams
    from hlwb.pretrain import hl_sigmas_for, run_source

    (tmp_path / "s.json").write_text(json.dumps({"biggan": {"sigmas": [0.1, 0.2, 0.3, 0.4]}}))
    p = PretrainParams(strategy="hl_random", hl_rule="delta", hl_sigmas_file=str(tmp_path / "s.json"), batch=4,
                       precision="fp32")
    assert hl_sigmas_for(p) == [0.1, 0.2, 0.3, 0.4]
    assert hl_sigmas_for(PretrainParams(strategy="hl_random", hl_sigmas_file="/nowhere.json")) is None  # paper rule
    src = run_source(p, "cpu")
    assert src.spec["sigmas"] == [0.1, 0.2, 0.3, 0.4] and src.spec["augment"] == "fair" and src.decode_chunk == 128


def test_monitor_split_keeps_fashion_mnists_and_balances_a_class_sorted_split():
    from hlwb import pretrain as P

    unsorted = torch.tensor([3, 1, 2, 0, 1, 2] * 10)
    pool, q = P.monitor_split(unsorted)
    assert torch.equal(pool, torch.arange(50)) and torch.equal(q, torch.arange(50, 60))  # the last sixth
    assert P.val_start(60_000) == P.VAL_SPLIT
    grouped = torch.tensor([0] * 12 + [1] * 18 + [2] * 6)  # a folder dataset: class by class
    pool, q = P.monitor_split(grouped)
    assert sorted(pool.tolist() + q.tolist()) == list(range(36))  # a partition
    assert grouped[q].tolist() == [0, 1, 2, 0, 1, 1]  # the last sixth of each class, in turn
    assert set(q.tolist()) == {10, 11, 27, 28, 29, 35}


def test_unlabelled_folder_runs_without_a_monitor_and_labelled_one_with_a_capped_one(tmp_path, caplog):
    import logging

    import numpy as np
    from PIL import Image

    from hlwb.config import PretrainParams
    from hlwb.pretrain import KnnMonitor, build_method, settings

    rng = np.random.default_rng(0)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (36, 36), dtype=np.uint8)).save(flat / f"{i}.png")
    with caplog.at_level(logging.INFO, logger="hlwb.pretrain"):
        cfg = settings(PretrainParams(dataset=f"folder:{flat}", steps=4, warmup=1, precision="fp32"), "cpu")
    assert cfg.knn_every == 0 and "unlabelled: the kNN monitor is off" in caplog.text
    for c in ("x", "y"):
        (tmp_path / "lab" / c).mkdir(parents=True)
        for i in range(13):
            Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(tmp_path / "lab" / c / f"{i}.png")
    cfg = PretrainConfig(dataset=f"folder:{tmp_path / 'lab'}", **{**TINY, "knn_train": 200, "knn_k": 20})
    mon = KnnMonitor(cfg)
    # 12 train images a class (every 10th is test); the last sixth of each (2) are queries, the rest the memory
    assert (mon.n_memory, mon.n_queries, mon.k) == (20, 4, 20) and sorted(mon.query_labels.tolist()) == [0, 0, 1, 1]
    assert 0.0 <= mon(build_method(cfg).encoder) <= 1.0
