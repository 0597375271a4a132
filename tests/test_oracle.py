import pytest
import torch

from hlwb import data, oracle


@pytest.fixture(scope="module")
def orc():
    return oracle.load()


def test_shipped_oracle_accuracy_at_least_91_percent(orc):
    test = data.fashion_mnist("test")
    assert oracle.accuracy(orc, test) >= 0.91
    assert orc.meta["test_accuracy"] >= 0.91


def test_probs_predict_features(orc):
    x = data.fashion_mnist("test").images[:64]
    p = orc.probs(x)
    assert p.shape == (64, 10) and torch.allclose(p.sum(1), torch.ones(64), atol=1e-5)
    assert torch.equal(orc.predict(x), p.argmax(1))
    assert orc.features(x).shape == (64, 256)
    # uint8 and float inputs are the same images
    assert torch.equal(orc.predict(data.to_float(x)), orc.predict(x))


def test_bad_shape_is_refused(orc):
    with pytest.raises(ValueError, match=r"oracle is built for 1x32x32 images, got a 3-d tensor \(2, 28, 28\)"):
        orc.predict(torch.zeros(2, 28, 28))
