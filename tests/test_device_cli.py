"""The commands take ``--device``: an absent device is refused before anything is written, and
the device a run used is recorded beside its config (issue 20)."""

import json

from hlwb.cli import main

CLI_TINY = ["--steps", "4", "--batch", "8", "--width", "4", "--blocks", "1,1", "--warmup", "1", "--ckpt-every", "2",
            "--knn-every", "0", "--strategy", "real"]


def test_pretrain_refuses_an_absent_gpu_before_writing(tmp_path, capsys):
    work = tmp_path / "w"
    for dev in ("cuda", "cuda:1"):
        assert main(["pretrain", *CLI_TINY, "--device", dev, "--work-dir", str(work)]) == 2
        err = capsys.readouterr().err
        assert f"device '{dev}' asked for, but this machine has no CUDA GPU" in err and "Traceback" not in err
    assert not work.exists()
    assert main(["pretrain", *CLI_TINY, "--device", "tpu", "--work-dir", str(work)]) == 2
    assert "unknown device 'tpu'; valid: auto, cpu, cuda, cuda:N" in capsys.readouterr().err


def test_pretrain_records_the_device_it_ran_on(tmp_path):
    work = tmp_path / "w"
    assert main(["pretrain", *CLI_TINY, "--precision", "bf16", "--work-dir", str(work)]) == 0  # auto -> cpu here
    cfg = json.loads((work / "config.json").read_text())
    assert cfg["device"] == "cpu" and cfg["precision"] == "bf16"


def test_bench_views_takes_device_and_precision_only_for_views(capsys):
    assert main(["bench", "explorer", "--n", "1", "--precision", "bf16"]) == 2
    assert "--precision is a setting of `bench views`" in capsys.readouterr().err
    assert main(["bench", "views", "--n", "1", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_every_training_and_evaluation_command_takes_device(tmp_path, capsys):
    """An absent GPU is refused by each command, naming it, before anything is written."""
    cmds = {"train-generator": ["--steps", "1", "--out", str(tmp_path / "g.pt")],
            "train-oracle": ["--out", str(tmp_path / "o.pt")],
            "eval-generator": ["biggan", "--n", "10", "--anchors", "2"],
            "calibrate": [str(tmp_path / "missing.pt")],
            "train-rdm": ["--encoder", str(tmp_path / "e.pt"), "--out", str(tmp_path / "r.pt")],
            "train-rep-generator": ["--encoder", str(tmp_path / "e.pt"), "--out", str(tmp_path / "rg.pt")],
            "pretrain": [*CLI_TINY, "--work-dir", str(tmp_path / "w")]}
    for cmd, extra in cmds.items():
        assert main([cmd, *extra, "--device", "cuda:0"]) == 2, cmd
        err = capsys.readouterr().err
        assert "device 'cuda:0' asked for, but this machine has no CUDA GPU" in err, (cmd, err)
    assert list(tmp_path.iterdir()) == []
