import json
import os
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
    assert r.returncode == 2 and "invalid choice: 'huge'" in r.stderr and "'smoke'" in r.stderr
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


PRE = ["pretrain", "--strategy", "real", "--steps", "2", "--batch", "8", "--width", "4", "--blocks", "1,1",
       "--warmup", "1", "--knn-every", "0", "--knn-train", "200", "--knn-test", "100"]


def test_filesystem_errors_are_one_line_naming_the_path(tmp_path, capsys):
    import os

    from hlwb.cli import main

    afile = tmp_path / "a_file"
    afile.write_text("x")
    assert main([*PRE, "--work-dir", str(afile / "w")]) == 2  # a path through a file
    err = capsys.readouterr().err
    assert str(afile) in err and "is a file, not a directory" in err and "Traceback" not in err
    if os.geteuid() != 0:  # root writes anywhere: a read-only directory only binds others
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert main([*PRE, "--work-dir", str(ro / "w")]) == 2
        assert "permission denied" in capsys.readouterr().err


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    import errno

    from hlwb import checkpoint
    from hlwb.cli import main

    real_fsync = os.fsync

    def full(fd):  # the disk fills while the checkpoint is being written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", full)
    assert main([*PRE, "--work-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "disk is full" in err and "Traceback" not in err
    assert str(tmp_path / "w" / "train_state.pt") in err
    monkeypatch.setattr(checkpoint.os, "fsync", real_fsync)
    assert not list((tmp_path / "w").glob("*.pt")) and not list((tmp_path / "w").glob(".*.tmp"))


@pytest.mark.parametrize("argv,named", [
    (["pretrain", "--ckpt-every", "-1"], "'ckpt_every' = -1"),  # 0 is steps // 5 (notebook 05's rule)
    (["pretrain", "--steps", "10", "--warmup", "50"], "'warmup' = 50"),  # warm-up given, longer than the run
    (["pretrain", "--knn-test", "20000"], "'knn_test' = 20000"),
    (["pretrain", "--knn-train", "60000"], "'knn_train' = 60000"),  # the val memory has 50,000 images
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


# --- pretrain: every strategy, any dataset ---

def test_pretrain_help_lists_every_strategy_and_validates_it():
    import hlwb.rcg  # noqa: F401  (registers rcg)
    from hlwb.views import STRATEGIES

    r = run("pretrain", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())  # argparse wraps lines
    for name, s in STRATEGIES.items():
        assert f"{name} {s.help}" in text, name
    assert "--dataset" in r.stdout and "--image-size" in r.stdout and "--walkers-dir" in r.stdout
    r = run("pretrain", "--strategy", "hl_magic", "--work-dir", "/tmp/never")
    assert r.returncode == 2 and "invalid choice: 'hl_magic'" in r.stderr and "'rcg'" in r.stderr


TINY_RUN = ["--steps", "2", "--batch", "8", "--width", "4", "--blocks", "1,1", "--warmup", "1", "--knn-every", "0",
            "--knn-train", "200", "--knn-test", "50", "--precision", "fp32", "--device", "cpu"]


def _encoder(work):
    from hlwb import checkpoint

    return checkpoint.load(work / "encoder.pt", kind="encoder")


def test_pretrain_trains_on_a_folder_of_pngs(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from hlwb.cli import main

    rng = np.random.default_rng(0)
    for c in ("cats", "dogs"):
        (tmp_path / "pngs" / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "pngs" / c / f"{i}.png")
    data = f"folder:{tmp_path / 'pngs'}"
    work = tmp_path / "w"
    assert main(["pretrain", "--dataset", data, "--image-size", "32", "--strategy", "real", *TINY_RUN,
                 "--work-dir", str(work)]) == 0, capsys.readouterr().err
    state = _encoder(work)
    assert state["spec"] == {"channels": 3, "size": 32, "classes": None}
    assert state["meta"]["views"]["dataset"] == data and state["meta"]["pretrain"]["dataset"] == data
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert 0.0 <= log[-1]["knn_top1"] <= 1.0  # the monitor on the folder's own train split
    # a generated strategy with a generator of another spec: refused before anything is written
    assert main(["pretrain", "--dataset", data, "--strategy", "synth", *TINY_RUN,
                 "--work-dir", str(tmp_path / "w2")]) == 2
    err = capsys.readouterr().err
    assert "built for 1x32x32" in err and "the data is 3x32x32" in err and not (tmp_path / "w2").exists()


def test_pretrain_on_an_unlabelled_folder_says_the_monitor_is_off(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    (tmp_path / "flat").mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(tmp_path / "flat" / f"{i}.png")
    r = run("pretrain", "--dataset", f"folder:{tmp_path / 'flat'}", "--strategy", "real", *TINY_RUN,
            "--work-dir", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    assert "is unlabelled: the kNN monitor is off" in r.stderr
    assert _encoder(tmp_path / "w")["spec"]["channels"] == 1


def test_pretrain_on_fashion_mnist_color_trains_on_colour_views(tmp_path, capsys):
    from hlwb.cli import main

    work = tmp_path / "w"
    assert main(["pretrain", "--dataset", "fashion_mnist_color", "--strategy", "real", *TINY_RUN,
                 "--work-dir", str(work)]) == 0, capsys.readouterr().err
    state = _encoder(work)
    assert state["spec"] == {"channels": 3, "size": 32, "classes": None}  # an encoder records the image spec
    assert state["state_dict"]["stem.0.weight"].shape[1] == 3  # the stem reads three channels
    assert state["meta"]["views"]["preset"] == "simclr" and state["meta"]["views"]["dataset"] == "fashion_mnist_color"
    out, err = capsys.readouterr()
    assert f"encoder: {work / 'encoder.pt'}" in out  # where each output went, and the command that scores it
    assert f"score it: python -m hlwb calibrate {work / 'encoder.pt'} --dataset fashion_mnist_color" in out
    import re

    assert re.search(r"kNN top-1 \d+\.\d\d %", err), err  # the monitor in percent, as every other score


# --- a CLI that explains itself ---

def _subparsers():
    import argparse

    from hlwb.cli import parser

    ap = parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    return ap, sub


def test_help_lists_every_command_once_with_one_line(capsys):
    import re

    from hlwb.cli import COMMANDS, main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for name, c in COMMANDS.items():
        assert len(re.findall(rf"(?<![\w-]){re.escape(name)}(?![\w-])", out)) == 1, name
        assert " ".join(c.help.split()) in " ".join(out.split()), name
    assert "{" not in out  # the command names are not repeated as a choices list


def test_every_flag_has_help_its_choices_and_its_default():
    import argparse

    _, sub = _subparsers()
    seen = set()
    for name, p in sub.choices.items():
        fmt = p._get_formatter()
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            seen.add(a.dest)
            text = fmt._get_help_string(a) % {"default": a.default}
            assert a.help and a.help.strip() != a.dest.replace("_", " "), (name, a.dest)  # not just its name
            if a.option_strings and not a.required and not isinstance(a, argparse._StoreTrueAction):
                assert "(default" in text, (name, a.option_strings, text)
            if a.default not in (None, "", False) and a.option_strings:
                assert str(a.default) in text, (name, a.option_strings, text)
    pre = {a.dest: a for a in sub.choices["pretrain"]._actions}
    from hlwb.ssl import METHODS
    from hlwb.views import STRATEGIES

    assert list(pre["method"].choices) == list(METHODS) and list(pre["strategy"].choices) == list(STRATEGIES)
    assert all(s in pre["strategy"].help for s in STRATEGIES)
    assert "cifar10" in pre["dataset"].help and "folder:PATH" in pre["dataset"].help
    assert "stylegan" in pre["generator"].help
    gen = {a.dest: a for a in sub.choices["train-generator"]._actions}
    assert "biggan" in gen["family"].help and "stylegan" in gen["family"].help
    from hlwb.config import PROFILES

    pipe = {a.dest: a for a in sub.choices["pipeline"]._actions}
    assert list(pipe["profile"].choices) == list(PROFILES)
    assert {"steps", "lr_g", "epochs", "rep_dim", "seed"} <= seen


def test_warmup_scales_to_the_steps_unless_given():
    from hlwb.cli import parser, pretrain_params
    from hlwb.config import ConfigError

    def params(*argv):
        return pretrain_params(parser().parse_args(["pretrain", "--strategy", "real", "--work-dir", "w", *argv]))

    assert params("--steps", "20").warmup == 2
    assert params().warmup == 50  # the laptop budget: the default, unchanged
    assert params("--steps", "20", "--warmup", "5").warmup == 5
    with pytest.raises(ConfigError, match="warmup"):  # given explicitly and too long: refused, not rewritten
        params("--steps", "20", "--warmup", "50")


def test_pipeline_prints_where_its_outputs_are_not_the_results_table(tmp_path, monkeypatch, capsys):
    from hlwb import cli, pipeline

    calls = []
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *a, **k: calls.append((a, k)) or "| a | b |\n" * 692)
    assert cli.main(["pipeline", "--profile", "smoke", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert calls and "| a | b |" not in out and len(out.splitlines()) <= 5
    assert f"report: {tmp_path / 'run' / 'report.md'}" in out and "python -m hlwb publish --run" in out
    monkeypatch.chdir(tmp_path)
    from hlwb.config import REPO_ROOT

    assert cli.main(["pipeline", "--profile", "smoke", "--out", str(REPO_ROOT / "runs" / "smoke")]) == 0
    assert "report: runs/smoke/report.md" in capsys.readouterr().out  # inside the repository: relative to it
    assert cli.main(["pipeline", "--profile", "laptop_deep", "--out", str(tmp_path / "deep")]) == 0
    assert "publish it into figures/laptop_deep/ and figures/results_laptop_deep.json" in capsys.readouterr().out


def test_publish_says_how_many_files_went_where_not_every_path(monkeypatch, capsys, tmp_path):
    from hlwb import cli, pipeline
    from hlwb.config import REPO_ROOT

    files = [REPO_ROOT / "notebooks" / f"0{i}.ipynb" for i in range(1, 9)]
    files += [REPO_ROOT / "figures" / f"f{i}.png" for i in range(40)] + [REPO_ROOT / "figures" / "published.json"]
    monkeypatch.setattr(pipeline, "publish_run", lambda run, force=False: files)
    assert cli.main(["publish", "--run", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].endswith("notebooks/ (8), figures/ (41)") and "published 49 files" in out[0]
    assert "figures/published.json" in out[1] and str(REPO_ROOT) not in "".join(out)


def test_logging_keeps_papermill_to_its_warnings():
    import logging

    from hlwb.progress import setup_logging

    setup_logging()
    pm = logging.getLogger("papermill")
    assert not pm.isEnabledFor(logging.INFO) and pm.isEnabledFor(logging.WARNING)
    assert logging.getLogger("hlwb.pipeline").isEnabledFor(logging.INFO)  # the pipeline's own lines still show
