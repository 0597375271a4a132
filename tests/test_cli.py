import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "hlwb", *args], capture_output=True, text=True, timeout=120)  # noqa: PLW1510 (the tests check the return code)


def test_unknown_family_lists_valid():
    r = run("train-generator", "--family", "nope", "--out", "/tmp/x.pt")
    assert r.returncode == 2 and "valid: biggan, stylegan" in r.stderr


def test_eval_generator_missing_checkpoint():
    r = run("eval-generator", "/no/such.pt")
    assert r.returncode == 2 and "neither a shipped generator" in r.stderr


def test_pickle_checkpoint_refused_by_cli(tmp_path):
    import torch

    p = tmp_path / "evil.pt"
    torch.save({"x": subprocess.Popen}, p)  # a class reference: needs a full unpickle
    r = run("eval-generator", str(p), "--n", "10")
    assert r.returncode == 2 and "refused" in r.stderr


def test_pipeline_bad_profile_and_stage():
    r = run("pipeline", "--profile", "huge")
    assert r.returncode == 2 and "unknown profile 'huge'" in r.stderr and "smoke" in r.stderr
    r = run("pipeline", "--profile", "smoke", "--only", "99_nothing")
    assert r.returncode == 2 and "unknown stage" in r.stderr and "01_hl_generator" in r.stderr


def test_bad_bool_argument():
    r = run("train-generator", "--out", "/tmp/x.pt", "--steps", "ten")
    assert r.returncode == 2 and "--steps" in r.stderr


def test_download_data_without_network_is_one_message(tmp_path, monkeypatch, capsys):
    import urllib.error
    import urllib.request

    from hlwb import cli

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli.main(["download-data"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hlwb download-data: error: cannot download Fashion-MNIST")
    assert "apt-get install dataset-fashion-mnist" in err and "HLWB_DATA" in err and str(tmp_path) in err
    assert "Traceback" not in err


def test_bench_help_lists_every_benchmark():
    from hlwb.bench import BENCHES

    r = run("bench", "--help")
    assert r.returncode == 0 and all(name in r.stdout for name in BENCHES)


@pytest.mark.parametrize("argv,named", [
    (["pretrain", "--ckpt-every", "0"], "'ckpt_every' = 0"),  # was a ZeroDivisionError
    (["pretrain", "--steps", "10"], "'warmup' = 50"),  # warm-up longer than the run
    (["pretrain", "--knn-test", "20000"], "'knn_test' = 20000"),
    (["pretrain", "--knn-train", "60000"], "'knn_train' = 60000"),  # the val memory has 50,000 images
    (["pretrain", "--knn-t", "0"], "'knn_t' = 0.0"),
    (["pretrain", "--batch", "1"], "'batch' = 1"),
    (["train-generator", "--out", "{tmp}/g.pt", "--lr-g", "0"], "'lr_g' = 0.0"),
    (["train-generator", "--out", "{tmp}/g.pt", "--ckpt-every", "0"], "'ckpt_every' = 0"),
    (["train-oracle", "--out", "{tmp}/o.pt", "--batch", "100000"], "'batch' = 100000"),
    (["eval-generator", "biggan", "--n", "0"], "'--n' = 0"),
    (["eval-generator", "biggan", "--anchors", "0"], "'--anchors' = 0"),
    (["calibrate", "{tmp}/e.pt", "--seed", "-1"], "'--seed' = -1"),
    (["pipeline", "--profile", "smoke", "--jobs", "0"], "'--jobs' = 0"),
    (["bench", "explorer", "--n", "0"], "'--n' = 0"),
])
def test_out_of_range_flag_is_one_message(argv, named, tmp_path, capsys):
    from hlwb import cli

    work = tmp_path / "work"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "pretrain":
        argv += ["--work-dir", str(work)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hlwb {argv[0]}: error: parameter {named} ") and "out of range: must be" in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
