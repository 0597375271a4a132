import math

import pandas as pd
import pytest

from hlwb import evaluate as E
from hlwb import targets as T
from hlwb import transfer
from hlwb.encoders import ResNetTrunk, save_encoder
from hlwb.fingerprint import machine

COLUMNS = {"encoder", "method", "strategy", "generator", "sampling", "augment", "seed", "target", "protocol",
           "metric", "value", "eval_seed", "draw", "precision", "pretrain_cpu", "eval_cpu"}


# ---- target_specs ----

def test_target_specs_expands_the_shift_target_once_per_corruption():
    specs = transfer.target_specs("fashion_mnist, digits,fashion_mnist_shift", "blur,contrast")
    assert specs == [("fashion_mnist", "fashion_mnist", {}), ("digits", "digits", {}),
                     ("shift_blur", "fashion_mnist_shift", {"corruption": "blur"}),
                     ("shift_contrast", "fashion_mnist_shift", {"corruption": "contrast"})]


def test_target_specs_refuses_unknown_names_and_lists_the_valid_ones():
    with pytest.raises(KeyError) as e:
        transfer.target_specs("digits,imagenet", "blur")
    assert "imagenet" in str(e.value) and all(t in str(e.value) for t in T.TARGETS)
    assert [s[0] for s in transfer.target_specs("cifar10,cifar10_shift", "blur")] == ["cifar10", "shift_blur"]
    with pytest.raises(KeyError) as e:
        transfer.target_specs("fashion_mnist_shift", "blur,snow")
    assert "snow" in str(e.value) and all(c in str(e.value) for c in T.CORRUPTIONS)


# ---- find_encoders ----

def _save(path, init_seed: int, **meta) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    trunk = E.random_encoder(4, (1, 1, 1, 1), init_seed)
    assert isinstance(trunk, ResNetTrunk)
    save_encoder(path, trunk, meta=meta)


def test_find_encoders_lists_every_run_folder(tmp_path):
    _save(tmp_path / "simclr-real" / "encoder.pt", 0, method="simclr", strategy="real")
    _save(tmp_path / "byol-hl_random" / "encoder.pt", 1, method="byol", strategy="hl_random")
    (tmp_path / "not-a-run").mkdir()  # a folder without encoder.pt is ignored
    found = transfer.find_encoders(tmp_path)
    assert found == {"byol-hl_random": tmp_path / "byol-hl_random" / "encoder.pt",
                     "simclr-real": tmp_path / "simclr-real" / "encoder.pt"}


def test_find_encoders_on_an_empty_sweep_points_at_notebook_05(tmp_path):
    with pytest.raises(FileNotFoundError, match="--only 05_contrastive_pretraining"):  # the command that writes them
        transfer.find_encoders(tmp_path)


# ---- evaluate_all ----

def _tiny_digits(seed: int = 0) -> T.Target:
    """A 20-per-class train / 10-per-class test subset of the digits target (fast probes)."""
    full = T.digits(seed=seed)
    tr = T.stratified_sample(full.y_train, 20, seed)
    te = T.stratified_sample(full.y_test, 10, seed)
    return T.Target("digits", full.x_train[tr], full.y_train[tr], full.x_test[te], full.y_test[te],
                    full.classes)


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    """Two saved width-4 encoders and a `targets.load` that serves the small digits subset."""
    meta = {"generator": "biggan", "sampling": "continuous", "augment": "paper"}
    _save(tmp_path / "pre" / "simclr-real" / "encoder.pt", 0, method="simclr", strategy="real", seed=3,
          **{**meta, "generator": "", "sampling": ""})
    _save(tmp_path / "pre" / "simclr-hl_random" / "encoder.pt", 1, method="simclr", strategy="hl_random",
          seed=4, **meta)
    tiny, calls = _tiny_digits(), []

    def load(name, spec=None, **kw):
        calls.append((name, kw))
        return tiny if spec is None else T.convert(tiny, spec)

    monkeypatch.setattr(T, "load", load)
    return tmp_path, calls


def test_evaluate_all_writes_tidy_rows_and_a_cache_per_encoder(sweep):
    tmp, calls = sweep
    encoders = transfer.find_encoders(tmp / "pre")
    specs = transfer.target_specs("digits", "")
    df = transfer.evaluate_all(encoders, ["pixels"], specs, ["linear", "knn"], seed=0, cache=tmp / "rows")
    assert calls == [("digits", {"seed": 0})]
    assert set(df.columns) == COLUMNS
    assert set(df.encoder) == {"ref-pixels", "simclr-real", "simclr-hl_random"}
    for name in ("ref-pixels", "simclr-real", "simclr-hl_random"):
        assert (tmp / "rows" / f"{name}.csv").stat().st_size > 0
    # linear: top1, top5, l2; knn_k20 and knn_k200: top1, top5 -> 7 rows per encoder and target
    assert df.groupby("encoder").size().to_dict() == {"ref-pixels": 7, "simclr-real": 7, "simclr-hl_random": 7}
    assert set(df.protocol) == {"linear", "knn_k20", "knn_k200"}
    assert set(df.target) == {"digits"} and (df.draw == "").all() and (df.eval_seed == 0).all()
    hl = df[df.encoder == "simclr-hl_random"].iloc[0]
    assert (hl.method, hl.strategy, hl.generator, hl.sampling, hl.augment, hl.seed) == \
        ("simclr", "hl_random", "biggan", "continuous", "paper", 4)
    real = df[df.encoder == "simclr-real"].iloc[0]
    assert (real.strategy, real.generator, real.sampling, real.seed) == ("real", "", "", 3)
    ref = df[df.encoder == "ref-pixels"].iloc[0]
    assert (ref.method, ref.strategy, ref.generator, ref.seed) == ("reference", "pixels", "", 0)
    # every row says how and where its number was made: training precision, CPUs (unrecorded: "")
    assert (df.precision == "fp32").all() and (df.eval_cpu == machine()["cpu"]).all() and (df.pretrain_cpu == "").all()
    acc = df[(df.protocol == "linear") & (df.metric == "top1")].value
    assert ((acc >= 0) & (acc <= 1)).all()
    # pixels on digits are far above chance (0.1) even with 20 labels per class
    assert df[(df.encoder == "ref-pixels") & (df.protocol == "linear") & (df.metric == "top1")].value.iloc[0] > 0.6


def test_evaluate_all_reads_cached_encoders_back_without_recomputing(sweep, monkeypatch):
    tmp, _ = sweep
    encoders = transfer.find_encoders(tmp / "pre")
    specs = transfer.target_specs("digits", "")
    first = transfer.evaluate_all(encoders, ["pixels"], specs, ["linear", "knn"], seed=0, cache=tmp / "rows")

    def boom(*a, **k):
        raise AssertionError("evaluate_encoder called although every encoder is cached")

    monkeypatch.setattr(E, "evaluate_encoder", boom)
    second = transfer.evaluate_all(encoders, ["pixels"], specs, ["linear", "knn"], seed=0, cache=tmp / "rows")
    pd.testing.assert_frame_equal(first, second)
    # a new encoder is the only one evaluated (here: it reaches the patched function)
    _save(tmp / "pre" / "byol-real" / "encoder.pt", 2, method="byol", strategy="real")
    with pytest.raises(AssertionError, match="although every encoder is cached"):
        transfer.evaluate_all(transfer.find_encoders(tmp / "pre"), ["pixels"], specs, ["linear"], seed=0,
                              cache=tmp / "rows")
    # a cache written without the per-image correctness now asked for is not taken as done
    (tmp / "pre" / "byol-real" / "encoder.pt").unlink()
    with pytest.raises(AssertionError, match="although every encoder is cached"):
        transfer.evaluate_all(encoders, ["pixels"], specs, ["linear", "knn"], seed=0, cache=tmp / "rows",
                              keep_correct=("digits",))


# ---- accuracy_table, gain_over_real, headline ----

def _row(method, strategy, target, seed, value, protocol="linear", metric="top1", draw="", sampling="continuous",
         augment="fair"):
    return {"encoder": f"{method}-{strategy}-{sampling}-{seed}", "method": method, "strategy": strategy,
            "generator": "biggan", "sampling": sampling, "augment": augment, "seed": seed, "target": target,
            "protocol": protocol, "metric": metric, "value": value, "eval_seed": 0, "draw": draw}


@pytest.fixture
def frame():
    rows = []
    for t, shift in (("digits", 0.0), ("letters", -0.2)):
        for seed, v in enumerate((0.70, 0.74, 0.78)):
            rows.append(_row("simclr", "hl_random", t, seed, v + shift))
        for seed, v in enumerate((0.80, 0.84)):
            rows.append(_row("simclr", "hl_learned", t, seed, v + shift))
        rows.append(_row("simclr", "real", t, 0, 0.75 + shift))
        rows.append(_row("simclr", "gaussian", t, 0, 0.60 + shift))
        rows.append(_row("simclr", "learned_all", t, 0, 0.65 + shift))
        rows.append(_row("byol", "real", t, 0, 0.50 + shift))
        rows.append(_row("byol", "hl_random", t, 0, 0.55 + shift))
    rows.append(_row("simclr", "hl_random", "digits", 0, 0.10, sampling="fixed"))
    rows.append(_row("simclr", "hl_random", "digits", 0, 0.99, augment="paper"))
    rows.append(_row("simclr", "hl_random", "digits", 0, 0.99, metric="top5"))
    rows.append(_row("simclr", "hl_random", "digits", 0, 0.99, protocol="knn_k20"))
    for d in range(3):  # per-draw few-shot rows of the protocol asked for: never pooled
        rows.append(_row("simclr", "hl_random", "digits", 0, 0.0, draw=str(d)))
    rows.append(_row("simclr", "hl_random", "shift_blur", 0, 0.5))  # a target without a baseline
    rows.append(_row("simclr", "real", "shift_blur", 0, 0.4))
    rows.append(_row("simclr", "real", "no_hl", 0, 0.4))  # a target without an HL run: no headline row
    return pd.DataFrame(rows)


def _get(acc, method, strategy, target):
    r = acc[(acc.method == method) & (acc.strategy == strategy) & (acc.target == target)]
    assert len(r) == 1, (method, strategy, target, r)
    return r.iloc[0]


def test_accuracy_table_mean_std_over_seeds(frame):
    acc = transfer.accuracy_table(frame)
    assert list(acc.columns) == ["method", "strategy", "target", "mean", "std", "n_seeds"]
    r = _get(acc, "simclr", "hl_random", "digits")
    assert r["n_seeds"] == 3  # the draw rows, the fixed / fair runs, top5 and knn are not pooled
    assert r["mean"] == pytest.approx(0.74)
    assert r["std"] == pytest.approx(0.04)  # sample std (ddof=1) of 0.70, 0.74, 0.78
    r = _get(acc, "simclr", "hl_learned", "letters")
    assert (r["n_seeds"], r["mean"], r["std"]) == (2, pytest.approx(0.62), pytest.approx(math.sqrt(2) * 0.02))
    assert _get(acc, "simclr", "real", "digits")["std"] == 0.0  # one seed: 0, not NaN


def test_accuracy_table_keeps_fixed_sampling_and_the_paper_augment_apart(frame):
    acc = transfer.accuracy_table(frame)
    fixed = _get(acc, "simclr", "hl_random (fixed)", "digits")
    assert (fixed["mean"], fixed["n_seeds"]) == (pytest.approx(0.10), 1)
    assert _get(acc, "simclr", "hl_random (paper T_x)", "digits")["mean"] == pytest.approx(0.99)
    assert transfer.views_label("hl_random", "fixed", "paper") == "hl_random (fixed) (paper T_x)"
    assert transfer.views_label("real", "", "fair") == "real"


def test_accuracy_table_other_protocol_and_metric(frame):
    acc = transfer.accuracy_table(frame, protocol="knn_k20")
    assert len(acc) == 1 and acc["mean"].iloc[0] == pytest.approx(0.99)
    assert transfer.accuracy_table(frame, metric="top5")["mean"].tolist() == [pytest.approx(0.99)]


def test_gain_over_real_subtracts_the_same_methods_real_run(frame):
    gain = transfer.gain_over_real(transfer.accuracy_table(frame))
    g = gain.set_index(["method", "strategy", "target"]).gain
    assert g[("simclr", "hl_learned", "digits")] == pytest.approx(0.82 - 0.75)
    assert g[("simclr", "gaussian", "letters")] == pytest.approx(0.60 - 0.75)
    assert g[("byol", "hl_random", "digits")] == pytest.approx(0.55 - 0.50)  # byol's real, not simclr's
    assert g[("simclr", "real", "digits")] == pytest.approx(0.0)
    assert g[("simclr", "hl_random (fixed)", "digits")] == pytest.approx(0.10 - 0.75)
    assert ("simclr", "real", "no_hl") in g.index


def test_headline_reports_the_arm_chosen_on_validation_not_the_best_test_mean(frame):
    acc = transfer.accuracy_table(frame)
    # hl_learned has the best test mean (0.82 on digits); validation chose hl_random: the headline is hl_random
    head = {h["target"]: h for h in transfer.headline(acc, best="hl_random")}
    assert set(head) == {"digits", "letters", "shift_blur"}  # no HL run on no_hl
    d = head["digits"]
    assert (d["method"], d["hl_strategy"], d["baseline"], d["selected_on"]) == \
        ("simclr", "hl_random", "learned_all", "validation")
    assert d["hl_mean"] == pytest.approx(0.74) and d["hl_seeds"] == 3 and d["hl_std"] == pytest.approx(0.04)
    assert d["baseline_mean"] == pytest.approx(0.65) and d["margin_baseline"] == pytest.approx(0.74 - 0.65)
    assert d["real_mean"] == pytest.approx(0.75) and d["margin_real"] == pytest.approx(0.74 - 0.75)
    assert head["letters"]["margin_real"] == pytest.approx(0.54 - 0.55)
    s = head["shift_blur"]
    assert s["hl_strategy"] == "hl_random" and "baseline" not in s and "margin_baseline" not in s
    assert s["margin_real"] == pytest.approx(0.1)
    learned = {h["target"]: h for h in transfer.headline(acc, best="hl_learned")}
    assert set(learned) == {"digits", "letters"} and learned["digits"]["hl_mean"] == pytest.approx(0.82)
    byol = transfer.headline(acc, method="byol", best="hl_random")
    assert [(h["target"], h["hl_strategy"], "baseline" in h) for h in byol] == \
        [("digits", "hl_random", False), ("letters", "hl_random", False)]
    with pytest.raises(ValueError, match="best_hl_arm"):
        transfer.headline(acc)  # no choice by test mean
    with pytest.raises(KeyError, match="hl_random_paper"):
        transfer.headline(acc, best="hl_random_paper")


def test_fmt_pm():
    assert transfer.fmt_pm(0.7412, 0.0123, 3) == "74.1 ± 1.2"
    assert transfer.fmt_pm(0.7412, 0.0, 1) == "74.1"


def test_accuracy_table_of_the_csv_read_back_with_pandas_defaults(frame, tmp_path):
    (tmp_path / "transfer.csv").write_text(frame.to_csv(index=False))
    again = pd.read_csv(tmp_path / "transfer.csv")
    pd.testing.assert_frame_equal(transfer.accuracy_table(again), transfer.accuracy_table(frame))


def test_rows_are_named_by_the_study_arm(sweep):
    tmp, _ = sweep
    _save(tmp / "arm" / "simclr-hl_random_delta-s0" / "encoder.pt", 2, method="simclr", strategy="hl_random",
          arm="hl_random_delta", seed=0, generator="biggan", sampling="continuous", augment="fair")
    df = transfer.evaluate_all(transfer.find_encoders(tmp / "arm"), [], transfer.target_specs("digits", ""),
                               ["linear"], seed=0, cache=tmp / "rows_arm")
    assert set(df.strategy) == {"hl_random_delta"}  # not the shared strategy name hl_random


def test_per_image_correctness_is_kept_and_gives_paired_gains(sweep):
    tmp, _ = sweep
    specs = transfer.target_specs("digits", "")
    df = transfer.evaluate_all(transfer.find_encoders(tmp / "pre"), ["pixels"], specs, ["linear", "knn"], seed=0,
                               cache=tmp / "rows_c", keep_correct=("digits",))
    assert (tmp / "rows_c" / "simclr-real.correct.pt").exists() and (tmp / "rows_c" / "ref-pixels.correct.pt").exists()
    top1 = df[(df.metric == "top1") & (df.protocol == "linear")].set_index("encoder").value
    g = transfer.paired_gains(tmp / "rows_c", {"real": ["simclr-real"], "hl": ["simclr-hl_random"]}, "ref-pixels",
                              target="digits", n_boot=300)
    assert g["real"]["gain"] == pytest.approx(100 * (top1["simclr-real"] - top1["ref-pixels"]))
    assert g["hl"]["ci_low"] <= g["hl"]["gain"] <= g["hl"]["ci_high"] and g["hl"]["n_images"] == 100
    knn = transfer.paired_gains(tmp / "rows_c", {"real": ["simclr-real"]}, "ref-pixels", target="digits",
                                protocol="knn_k20", n_boot=50)
    k20 = df[(df.metric == "top1") & (df.protocol == "knn_k20")].set_index("encoder").value
    assert knn["real"]["gain"] == pytest.approx(100 * (k20["simclr-real"] - k20["ref-pixels"]))
    with pytest.raises(FileNotFoundError, match="keep_correct"):
        transfer.paired_gains(tmp / "rows_c", {"x": ["nope"]}, "ref-pixels", target="digits")


def test_study_tables_gains_over_references_and_arm_differences(sweep):
    tmp, _ = sweep
    _save(tmp / "study" / "simclr-real-s0" / "encoder.pt", 0, method="simclr", strategy="real", arm="real", seed=0,
          generator="", sampling="", augment="fair")
    _save(tmp / "study" / "simclr-real-s1" / "encoder.pt", 5, method="simclr", strategy="real", arm="real", seed=1,
          generator="", sampling="", augment="fair")
    _save(tmp / "study" / "simclr-hl_random_paper-s0" / "encoder.pt", 1, method="simclr", strategy="hl_random",
          arm="hl_random_paper", seed=0, generator="biggan", sampling="continuous", augment="fair")
    _save(tmp / "study" / "simclr-hl_random_paper-paper-s0" / "encoder.pt", 2, method="simclr",
          strategy="hl_random", arm="hl_random_paper", seed=0, generator="biggan", sampling="continuous",
          augment="paper")
    _save(tmp / "study" / "byol-real-s0" / "encoder.pt", 3, method="byol", strategy="real", arm="real", seed=0,
          generator="", sampling="", augment="fair")
    df = transfer.evaluate_all(transfer.find_encoders(tmp / "study"), ["pixels", "random"],
                               transfer.target_specs("digits", ""), ["linear", "knn"], seed=0,
                               cache=tmp / "rows_s", ref_width=4, keep_correct=("digits",), random_seeds=2)
    fair = transfer.arm_runs(df)
    assert fair == {"hl_random_paper": ["simclr-hl_random_paper-s0"], "real": ["simclr-real-s0", "simclr-real-s1"]}
    assert transfer.arm_runs(df, augment="paper") == {"hl_random_paper": ["simclr-hl_random_paper-paper-s0"]}
    assert transfer.arm_runs(df, method="byol") == {"real": ["byol-real-s0"]}
    tab = transfer.gains_table(df, tmp / "rows_s", fair, target="digits", n_boot=200)
    top1 = df[(df.metric == "top1") & (df.draw.astype(str) == "")].set_index(["encoder", "protocol"]).value
    real = tab[(tab.arm == "real") & (tab.protocol == "linear")].iloc[0]
    vals = [100 * top1[("simclr-real-s0", "linear")], 100 * top1[("simclr-real-s1", "linear")]]
    assert real.n_seeds == 2 and real["mean"] == pytest.approx(sum(vals) / 2)
    assert real.gain_pixels == pytest.approx(real["mean"] - 100 * top1[("ref-pixels", "linear")])
    assert real.ci_low_random <= real.gain_random <= real.ci_high_random
    assert set(tab.protocol) == {"linear", "knn_k20"}
    # the random trunk is two init seeds here (3 by default), its gain over their mean; pixels one vector
    trunks = [("ref-random", "linear"), ("ref-random-s1", "linear")]
    assert real.gain_random == pytest.approx(real["mean"] - 100 * sum(top1[t] for t in trunks) / 2)
    assert (real.method_random, real.seeds_random, real.method_pixels, real.seeds_pixels) == \
        ("welch_t", 2, "one_sample_t", 0)
    hl1 = tab[(tab.arm == "hl_random_paper") & (tab.protocol == "linear")].iloc[0]
    assert (hl1.method_pixels, hl1.method_random) == ("images_only", "pooled_t")  # one seed: said, not hidden
    d = transfer.differences(tmp / "rows_s", [("hl", fair["hl_random_paper"], "real", fair["real"])],
                             target="digits", n_boot=200)
    lin = d[d.protocol == "linear"].iloc[0]
    hl = tab[(tab.arm == "hl_random_paper") & (tab.protocol == "linear")].iloc[0]
    assert lin["diff"] == pytest.approx(hl["mean"] - real["mean"])
    assert lin.ci_low <= lin["diff"] <= lin.ci_high and lin.resolved == (lin.ci_low > 0 or lin.ci_high < 0)
    assert lin.method == "pooled_t" and lin.p_holm >= lin.p_value and lin.family == "arm differences"
    # a sweep with one arm has no pair: an empty table that still has the columns the notebook reads
    none = transfer.differences(tmp / "rows_s", [], target="digits", n_boot=200)
    assert len(none) == 0 and list(none.columns) == transfer.DIFF_COLUMNS
    assert len(none[(none.protocol == "linear") & none.resolved]) == 0


def test_evaluate_all_in_parallel_workers_matches_one_process(tmp_path):
    _save(tmp_path / "pre" / "simclr-real" / "encoder.pt", 0, method="simclr", strategy="real", seed=0)
    _save(tmp_path / "pre" / "simclr-synth" / "encoder.pt", 1, method="simclr", strategy="synth", seed=0)
    specs = transfer.target_specs("digits", "")  # real digits in each spawned worker (no monkeypatch there)
    enc = transfer.find_encoders(tmp_path / "pre")
    one = transfer.evaluate_all(enc, ["pixels"], specs, ["knn"], seed=0, cache=tmp_path / "a", keep_correct=())
    two = transfer.evaluate_all(enc, ["pixels"], specs, ["knn"], seed=0, cache=tmp_path / "b", keep_correct=(),
                                jobs=2)
    assert len(one) == len(two) > 0
    pd.testing.assert_frame_equal(one, two)


def test_a_retrained_encoder_of_the_same_name_is_scored_again(sweep, monkeypatch):
    tmp, _ = sweep
    specs = transfer.target_specs("digits", "")
    path = tmp / "pre" / "simclr-real" / "encoder.pt"
    enc = {"simclr-real": path}
    first = transfer.evaluate_all(enc, [], specs, ["linear"], seed=0, cache=tmp / "rows_k")
    _save(path, 7, method="simclr", strategy="real", seed=3)  # same run name, other weights
    second = transfer.evaluate_all(enc, [], specs, ["linear"], seed=0, cache=tmp / "rows_k")
    assert not first.value.equals(second.value)

    def boom(*a, **k):
        raise AssertionError("scored again although nothing changed")

    monkeypatch.setattr(E, "evaluate_encoder", boom)
    third = transfer.evaluate_all(enc, [], specs, ["linear"], seed=0, cache=tmp / "rows_k")
    pd.testing.assert_frame_equal(second, third)
    with pytest.raises(AssertionError, match="scored again"):  # another protocol is another key
        transfer.evaluate_all(enc, [], specs, ["knn"], seed=0, cache=tmp / "rows_k")


def test_fewshot_curves_average_seeds_instead_of_joining_them():
    rows = []
    for seed, v in ((0, 0.5), (1, 0.7), (2, 0.9)):
        for shots, add in ((1, 0.0), (5, 0.05), (10, 0.1)):
            rows.append({**_row("simclr", "real", "digits", seed, v + add, protocol=f"fewshot_{shots}",
                                metric="top1_mean")})
    rows.append(_row("simclr", "real", "digits", 0, 0.0, protocol="fewshot_1", metric="top1_mean", augment="paper"))
    rows.append(_row("byol", "real", "digits", 0, 0.0, protocol="fewshot_1", metric="top1_mean"))
    rows.append({**_row("reference", "pixels", "digits", 0, 0.3, protocol="fewshot_1", metric="top1_mean"),
                 "augment": "", "sampling": ""})
    c = transfer.fewshot_curves(pd.DataFrame(rows), "simclr")["digits"]
    assert c["real"]["shots"] == [1, 5, 10] and c["real"]["n_seeds"] == [3, 3, 3]  # one point per shots
    assert c["real"]["mean"] == pytest.approx([70.0, 75.0, 80.0]) and c["real"]["std"] == pytest.approx([20.0] * 3)
    assert c["pixels"]["mean"] == pytest.approx([30.0]) and set(c) == {"real", "pixels"}


# ---- seed-level intervals on a cache of per-image correctness (no encoder is evaluated) ----

def _cache(tmp_path, runs: dict[str, tuple[int, float]], n: int = 2000):
    """A cache as evaluate_all leaves it: per run its rows (seed, provenance) and its correctness; ``runs``
    name -> (seed, accuracy). Returns the rows (one linear top-1 per run) and the correctness."""
    import torch

    from hlwb import checkpoint

    g = torch.Generator().manual_seed(0)
    easy = torch.rand(n, generator=g)  # shared image difficulty: the arms agree on most images
    rows, corr = [], {}
    for name, (seed, acc) in runs.items():
        c = (easy + 0.25 * torch.rand(n, generator=g)) < acc * 1.125
        corr[name] = c
        ref = name.startswith("ref-")
        row = {"encoder": name, "method": "reference" if ref else "simclr", "strategy": name.split("-")[1],
               "seed": seed, "target": "fashion_mnist", "protocol": "linear", "metric": "top1",
               "value": c.float().mean().item(), "draw": "", "precision": "fp32" if ref else "bf16",
               "pretrain_cpu": "" if ref else "Intel Xeon", "eval_cpu": "AMD EPYC"}
        rows.append(row)
        (tmp_path / f"{name}.csv").write_text(pd.DataFrame([row]).to_csv(index=False))
        checkpoint.save(tmp_path / f"{name}.correct.pt", {"fashion_mnist": {"linear": c}}, kind="correct")
    return pd.DataFrame(rows), corr


def test_arm_differences_pair_seeds_and_carry_holm_and_provenance(tmp_path):
    import numpy as np

    from hlwb import intervals

    runs = {f"simclr-a-s{s}": (s, 0.85 + 0.004 * s) for s in range(5)}
    runs |= {f"simclr-b-s{s}": (s, 0.84 + 0.004 * s) for s in range(5)}
    runs |= {f"simclr-c-s{s}": (s, 0.84) for s in range(5, 8)}
    _, corr = _cache(tmp_path, runs)
    a, b, c = ([n for n in runs if n.startswith(f"simclr-{x}-")] for x in "abc")
    d = transfer.differences(tmp_path, [("a", a, "b", b[::-1]), ("a", a, "c", c)], protocols=("linear",),
                             family="verdict")
    assert list(d.columns) == transfer.DIFF_COLUMNS
    ab, ac = d.iloc[0], d.iloc[1]
    # seed s of a against seed s of b, whatever order the names come in: the paired t of the per-seed differences
    want = intervals.seed_interval(np.stack([corr[n].numpy() for n in a]), np.stack([corr[n].numpy() for n in b]),
                                   paired=True)
    assert (ab.method, ab.ci_low, ab.ci_high) == ("paired_t", pytest.approx(want.ci_low), pytest.approx(want.ci_high))
    assert ac.method == "welch_t" and (ac.seeds_a, ac.seeds_b) == (5, 3)  # other seeds: unpaired
    assert list(d.p_holm) == pytest.approx(list(intervals.holm(d.p_value))) and set(d.family) == {"verdict"}
    assert list(d.resolved_holm) == [p < 0.05 for p in d.p_holm]
    assert (ab.precision, ab.pretrain_cpu, ab.eval_cpu) == ("bf16", "Intel Xeon", "AMD EPYC")
    show = transfer.differences_display(d)
    assert list(show["seeds"]) == ["5/5", "5/3"] and list(show.method) == ["paired_t", "welch_t"]
    boot = transfer.differences(tmp_path, [("a", a, "b", b)], protocols=("linear",), interval="bootstrap",
                                n_boot=200).iloc[0]
    assert boot.method == "bootstrap" and boot["diff"] == pytest.approx(ab["diff"])


def test_gains_table_averages_the_random_trunks_init_seeds(tmp_path):
    runs = {f"simclr-a-s{s}": (s, 0.85 + 0.004 * s) for s in range(5)}
    runs |= {"ref-pixels": (0, 0.83), "ref-random": (0, 0.78), "ref-random-s1": (1, 0.74), "ref-random-s2": (2, 0.8)}
    df, corr = _cache(tmp_path, runs)
    assert transfer.reference_runs(df, "ref-random") == ["ref-random", "ref-random-s1", "ref-random-s2"]
    assert transfer.reference_runs(df, "ref-pixels") == "ref-pixels"
    tab = transfer.gains_table(df, tmp_path, {"a": [n for n in runs if n.startswith("simclr-")]},
                               protocols=("linear",))
    r = tab.iloc[0]
    trunk = sum(corr[n].float().mean().item() for n in ("ref-random", "ref-random-s1", "ref-random-s2")) / 3
    assert r.gain_random == pytest.approx(r["mean"] - 100 * trunk)
    assert (r.method_random, r.seeds_random, r.method_pixels, r.seeds_pixels) == ("welch_t", 3, "one_sample_t", 0)
    assert r.p_holm_pixels == pytest.approx(r.p_value_pixels) and r.resolved_holm_pixels == (r.p_holm_pixels < 0.05)
    assert (r.precision, r.pretrain_cpu) == ("bf16", "Intel Xeon")
    assert "Holm (pixels, trunk)" in transfer.gains_display(tab)
    # one init seed only (the former reference): its seed variance is not counted, and the interval says so
    one = transfer.paired_gains(tmp_path, {"a": [n for n in runs if n.startswith("simclr-")]}, "ref-random")["a"]
    assert one["method"] == "one_sample_t" and one["n_seeds_ref"] == 0
