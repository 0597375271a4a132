import pytest
import torch

from hlwb import targets as T


def _check(tg: T.Target, n_classes: int) -> None:
    for x, y in ((tg.x_train, tg.y_train), (tg.x_test, tg.y_test)):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 32, 32) and len(x) == len(y)
        assert x.min() >= -1 and x.max() <= 1
        assert y.dtype == torch.int64 and set(y.unique().tolist()) == set(range(n_classes))
        # background at -1 as in the pretraining data: most pixels of an image are dark
        assert x.median() < -0.5
    assert tg.n_classes == n_classes == len(tg.classes)


def _no_shared_images(a: torch.Tensor, b: torch.Tensor) -> bool:
    return not {x.numpy().tobytes() for x in a} & {x.numpy().tobytes() for x in b}


def test_fashion_mnist_is_balanced_seeded_and_from_the_official_splits():
    tg = T.fashion_mnist(n_train=200, n_test=100, seed=0)
    _check(tg, 10)
    assert len(tg.x_train) == 200 and len(tg.x_test) == 100
    assert tg.y_train.bincount().tolist() == [20] * 10 and tg.y_test.bincount().tolist() == [10] * 10
    again, other = T.fashion_mnist(200, 100, seed=0), T.fashion_mnist(200, 100, seed=1)
    assert torch.equal(tg.x_train, again.x_train) and torch.equal(tg.x_test, again.x_test)
    assert not torch.equal(tg.x_train, other.x_train)


def test_digits_split_is_stratified_disjoint_and_seeded():
    tg = T.digits(seed=0)
    _check(tg, 10)
    assert len(tg.x_train) + len(tg.x_test) == 1797
    frac = tg.y_test.bincount().float() / (tg.y_test.bincount() + tg.y_train.bincount()).float()
    assert ((frac - 0.3).abs() < 0.01).all()
    assert _no_shared_images(tg.x_train, tg.x_test)
    assert torch.equal(tg.x_test, T.digits(seed=0).x_test)
    assert not torch.equal(tg.x_test, T.digits(seed=1).x_test)


def test_stratified_split_partitions_the_indices():
    labels = torch.arange(100) % 4
    rest, held = T.stratified_split(labels, 0.25, seed=3)
    assert sorted(torch.cat([rest, held]).tolist()) == list(range(100))
    assert labels[held].bincount().tolist() == [6] * 4  # round(0.25 * 25)


def test_letters_have_26_balanced_classes_and_are_deterministic_per_seed_and_index():
    tg = T.letters(n_train=104, n_test=52, seed=0)
    _check(tg, 26)
    assert tg.y_train.bincount().tolist() == [4] * 26 and tg.y_test.bincount().tolist() == [2] * 26
    assert tg.x_train.max() > 0.5  # ink is drawn
    assert _no_shared_images(tg.x_train, tg.x_test)
    again = T.letters(n_train=104, n_test=52, seed=0)
    assert torch.equal(tg.x_train, again.x_train) and torch.equal(tg.x_test, again.x_test)
    other = T.letters(n_train=104, n_test=52, seed=1)
    assert torch.equal(tg.y_train, other.y_train) and not torch.equal(tg.x_train, other.x_train)
    # sample i depends on (seed, i) only, not on the batch it is rendered in
    x, y = T.render_letters([5, 110], seed=0)
    assert torch.equal(x[0], tg.x_train[5]) and torch.equal(x[1], tg.x_test[110 - 104])
    assert y.tolist() == [5, 110 % 26]


@pytest.mark.parametrize("corruption", list(T.CORRUPTIONS))
def test_shift_corrupts_the_test_side_only_and_keeps_labels(corruption):
    clean = T.fashion_mnist(n_train=100, n_test=50, seed=0)
    tg = T.fashion_mnist_shift(corruption, severity=3, n_train=100, n_test=50, seed=0)
    _check(tg, 10)
    assert tg.name == f"fashion_mnist_shift/{corruption}3"
    assert torch.equal(tg.x_train, clean.x_train) and torch.equal(tg.y_train, clean.y_train)
    assert torch.equal(tg.y_test, clean.y_test)
    changed = (tg.x_test - clean.x_test).abs().flatten(1).amax(1) > 0.05
    assert changed.all()
    again = T.fashion_mnist_shift(corruption, severity=3, n_train=100, n_test=50, seed=0)
    assert torch.equal(tg.x_test, again.x_test)
    stronger = T.corrupt(clean.x_test, corruption, severity=5, seed=0)
    assert (stronger - clean.x_test).abs().mean() > (tg.x_test - clean.x_test).abs().mean()


@pytest.mark.parametrize("corruption", ["gaussian_noise", "occlusion"])
def test_random_corruptions_follow_the_seed(corruption):
    x = T.fashion_mnist(n_train=10, n_test=20, seed=0).x_test
    assert not torch.equal(T.corrupt(x, corruption, 3, seed=0), T.corrupt(x, corruption, 3, seed=1))


def test_bad_names_and_severities_are_refused():
    with pytest.raises(KeyError, match="fashion_mnist, digits, letters, fashion_mnist_shift, .*cifar10"):
        T.load("imagenet")
    assert T.known("cifar10") and T.known("cifar10_shift") and not T.known("imagenet_shift")
    x = torch.zeros(2, 1, 32, 32)
    with pytest.raises(KeyError, match="gaussian_noise, blur, contrast, occlusion"):
        T.corrupt(x, "snow")
    with pytest.raises(ValueError, match="1..5"):
        T.corrupt(x, "blur", severity=0)
    with pytest.raises(ValueError, match="float32"):
        T.Target("bad", torch.zeros(2, 1, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64),
                 x, torch.zeros(2, dtype=torch.int64), ("a",))


def test_registry_builds_with_keyword_arguments():
    tg = T.load("letters", n_train=26, n_test=26, seed=2)
    assert len(tg.x_train) == 26 and tg.name == "letters"


def test_fashion_mnist_target_defaults_to_the_full_splits():
    tg = T.fashion_mnist()
    assert (len(tg.y_train), len(tg.y_test)) == (60_000, 10_000)
    assert torch.bincount(tg.y_train).tolist() == [6000] * 10 and torch.bincount(tg.y_test).tolist() == [1000] * 10


def test_dataset_targets_follow_the_in_distribution_spec():
    """Any labelled dataset is a target; a grayscale 32-px target converts to a colour 64-px spec."""
    from hlwb.spec import ImageSpec

    col = T.load("fashion_mnist_color", n_train=100, n_test=50)
    assert col.spec.shape == (3, 32, 32) and col.n_classes == 10 and len(col.y_test) == 50
    dig = T.load("digits", ImageSpec(3, 64))
    assert dig.x_train.shape[1:] == (3, 64, 64) and dig.x_test.min() >= -1 and dig.x_test.max() <= 1
    assert torch.equal(dig.x_test[:, 0], dig.x_test[:, 2])  # grayscale repeated into R, G and B
    shifted = T.load("fashion_mnist_color_shift", corruption="blur", n_train=100, n_test=50)
    assert shifted.x_test.shape == col.x_test.shape and not torch.equal(shifted.x_test, col.x_test)
    assert torch.equal(T.fashion_mnist(200, 100).x_test, T.in_domain("fashion_mnist", 200, 100).x_test)
    assert T.suite("fashion_mnist") == ("fashion_mnist", "digits", "letters", "fashion_mnist_shift")
