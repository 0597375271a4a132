"""The smoke pipeline on the offline colour set (profile ``smoke_color``): every stage a profile on another
dataset runs, end to end, with generators and an oracle trained on the colour images in stage 01."""

import json

import pytest
import torch

from hlwb import config, generators, oracle, pipeline
from hlwb.encoders import load_encoder
from hlwb.spec import ImageSpec

pytestmark = pytest.mark.slow


def test_smoke_color_pipeline_end_to_end(tmp_path):
    out = tmp_path / "run"
    pipeline.run_pipeline("smoke_color", out=out, jobs=2)  # the sweep two runs side by side (CI: 2 cores)
    s = json.loads((out / "summary.json").read_text())
    assert set(s["stages"]) == set(config.DATASET_STAGES)
    assert all(v["status"] == "ran" for v in s["stages"].values())
    stage = out / "01_hl_generator"
    gen = generators.load(stage / "biggan.pt", device="cpu")
    assert gen.spec == ImageSpec(3, 32)  # trained on the colour images, its file records their spec
    orc = oracle.load(stage / "oracle.pt", device="cpu")
    assert orc.spec.shape == (3, 32, 32) and len(orc.spec.classes) == 10
    x = gen.generate(gen.sample_latents(4, seed=0))
    assert x.shape == (4, 3, 32, 32) and not torch.equal(x[:, 0], x[:, 1])  # colour, not repeated gray
    res = json.loads((stage / "results.json").read_text())
    assert res["biggan"]["fd_oracle"] > 0
    sweep = out / "05_contrastive_pretraining"
    runs = sorted(p.parent.name for p in sweep.glob("*/encoder.pt"))
    assert {"simclr-real-s0", "simclr-hl_random_paper-s0", "simclr-flat_matched-s0", "simclr-hl_learned-s0",
            "gcrl_a1_b1-real-s0"} <= set(runs)
    enc = load_encoder(sweep / "simclr-hl_random_paper-s0" / "encoder.pt", device="cpu")
    assert enc.spec.shape == (3, 32, 32)
    r = json.loads((sweep / "simclr-hl_random_paper-s0" / "results.json").read_text())
    assert r["generator"] == str(stage / "biggan.pt")  # the generator stage 01 trained, not the shipped one
    rows = (out / "06_transfer" / "transfer.csv").read_text()
    assert "digits" in rows and "shift_blur" in rows
    assert (out / "figures" / "biggan_samples.png").stat().st_size > 0
