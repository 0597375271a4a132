import subprocess
import sys


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


def test_download_data_cut_off_mid_file_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    import urllib.request

    from hlwb import cli

    class Stalled:  # connects, then the transfer times out
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            raise TimeoutError("The read operation timed out")

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Stalled())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli.main(["download-data"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hlwb download-data: error: cannot download") and "timed out" in err
    assert "Traceback" not in err
    assert list((tmp_path / "hlwb" / "fashion-mnist").iterdir()) == []  # no .part file left


def test_bench_help_lists_every_benchmark():
    from hlwb.bench import BENCHES

    r = run("bench", "--help")
    assert r.returncode == 0 and all(name in r.stdout for name in BENCHES)
