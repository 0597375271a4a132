from hlwb import bench


def test_bench_views_reports_every_source():
    out = bench.bench_views(n=1, batch=8, width=4)
    for key in ("a_real_pairs_per_s", "b_two_passes_pairs_per_s", "b1_one_pass_2B_pairs_per_s",
                "c_shared_prefix_pairs_per_s", "d_step_a_real_steps_per_s", "positive_speedup_shared_prefix"):
        assert out[key] > 0, key
    assert out["ratio_a_real_vs_real"] == 1.0 and out["peak_rss_mb"] > 0


def test_bench_explorer_reports_latency():
    out = bench.bench_explorer(n_changes=6, n_positives=2)
    assert out["n_changes"] == 6 and 0 < out["median_ms"] <= out["max_ms"]
