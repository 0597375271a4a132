"""Calibration: per-image correctness matches the evaluation protocol; paired gains; the budget bar."""

import pytest
import torch

from hlwb import calibration as C
from hlwb import evaluate as E
from hlwb import targets as T


def _target():
    g = torch.Generator().manual_seed(0)
    y_tr, y_te = torch.arange(300) % 3, torch.arange(90) % 3
    x_tr = torch.randn(300, 1, 32, 32, generator=g) * 0.5 + y_tr[:, None, None, None] * 0.3
    x_tr = x_tr.clamp(-1, 1)
    x_te = torch.randn(90, 1, 32, 32, generator=g) * 0.5 + y_te[:, None, None, None] * 0.3
    x_te = x_te.clamp(-1, 1)
    return T.Target("toy", x_tr, y_tr, x_te, y_te, ("a", "b", "c"))


def test_per_image_correctness_gives_the_protocol_accuracies():
    tg = _target()
    enc = E.pixel_encoder()
    rows = {(r["protocol"], r["metric"]): r["value"] for r in E.evaluate_encoder(enc, tg, protocols=("linear", "knn"))}
    corr = C.correct_per_image(enc, tg)
    assert set(corr) == {"linear", "knn_k20", "knn_k200"} and corr["linear"].shape == (90,)
    assert C.accuracy(corr["linear"]) == pytest.approx(100 * rows["linear", "top1"])
    assert C.accuracy(corr["knn_k20"]) == pytest.approx(100 * rows["knn_k20", "top1"])
    assert C.accuracy(corr["knn_k200"]) == pytest.approx(100 * rows["knn_k200", "top1"])


def test_paired_gain_interval():
    ref = torch.zeros(1000, dtype=torch.bool)
    ref[:500] = True  # 50 %
    arm = ref.clone()
    arm[500:600] = True  # 60 %: right on every image the reference gets right, and 100 more
    g = C.paired_gain([arm], ref, n_boot=500)
    # per-image gain is 1 on 100 of 1000 images: standard error sqrt(0.1 * 0.9 / 1000) = 0.95 points
    assert g["gain"] == pytest.approx(10.0) and 7.5 < g["ci_low"] < 10.0 < g["ci_high"] < 12.5
    # the same accuracies on unrelated images: the unpaired spread is much wider
    shuffled = arm[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    u = C.paired_gain([shuffled], ref, n_boot=500)
    assert u["ci_high"] - u["ci_low"] > 1.8 * (g["ci_high"] - g["ci_low"])
    two = C.paired_gain([arm, ref], ref, n_boot=500)  # seeds are resampled too
    assert two["gain"] == pytest.approx(5.0) and two["n_seeds"] == 2 and two["ci_low"] < 5 < two["ci_high"]
    with pytest.raises(ValueError, match="same test images"):
        C.paired_gain([arm[:10]], ref)


def test_meets_bar():
    pix, rnd = {"linear": 82.0, "knn_k20": 80.0, "knn_k200": 78.0}, {"linear": 79.5, "knn_k20": 70.0, "knn_k200": 69.0}
    ok = C.meets_bar({"linear": 85.1, "knn_k20": 79.0, "knn_k200": 83.2}, pix, rnd)
    assert ok["meets"] and ok["knn_vs_pixels"] == pytest.approx(3.2)
    short = C.meets_bar({"linear": 84.6, "knn_k20": 81.9, "knn_k200": 80.0}, pix, rnd)
    assert not short["meets"] and short["linear_vs_pixels"] == pytest.approx(2.6)


def test_calibrate_encoders_scores_files_against_both_references(tmp_path):
    from hlwb.encoders import ResNetTrunk, save_encoder

    torch.manual_seed(3)
    save_encoder(tmp_path / "enc.pt", ResNetTrunk(4, (1, 1, 1, 1)), meta={"method": "simclr", "steps": 0})
    res = C.calibrate_encoders([str(tmp_path / "enc.pt")], target=_target())
    assert set(res["references"]) == {"pixels", "random_w4_b1111"}
    row = res["encoders"][str(tmp_path / "enc.pt")]
    assert row["meta"]["steps"] == 0 and row["random_trunk"] == "random_w4_b1111"
    assert row["linear_vs_pixels"] == pytest.approx(row["linear"] - res["references"]["pixels"]["linear"])
    g = row["gain_linear_vs_random"]
    assert g["ci_low"] <= g["gain"] <= g["ci_high"] and g["n_images"] == 90
    assert res["protocol"]["n_train"] == 300
