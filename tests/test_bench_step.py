"""bench step: where one pretraining step's time goes."""

from hlwb import bench


def test_bench_step_splits_a_step_into_its_phases():
    out = bench.bench_step(n=1, batch=8, width=4, strategy="hl_random", device="cpu", knn_train=200, knn_test=100)
    for phase in ("decode", "augment", "forward", "backward", "optimiser"):
        assert out[f"{phase}_s"] > 0, phase
    assert out["knn_eval_s"] > 0 and out["precision"] in ("fp32", "bf16")
    shares = sum(out[f"{k}_share"] for k in ("decode", "augment", "forward", "backward", "optimiser", "knn"))
    assert abs(shares - 1) < 1e-9 and "step" in bench.BENCHES
