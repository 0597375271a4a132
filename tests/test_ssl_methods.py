"""Each method: a few steps lower its loss on a small fixed problem, without collapse."""

import pytest
import torch

from hlwb import ssl
from hlwb.encoders import ResNetTrunk


def _views(seed: int, n: int = 32):
    """A fixed problem: n prototype images; a view = prototype + noise + random shift."""
    g = torch.Generator().manual_seed(0)
    protos = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    g = torch.Generator().manual_seed(seed)
    idx = torch.arange(n)

    def view():
        x = protos[idx] + 0.3 * torch.randn(n, 1, 32, 32, generator=g)
        return torch.roll(x, shifts=int(torch.randint(-2, 3, (1,), generator=g)), dims=3)

    return view(), view()


@pytest.mark.parametrize("name", list(ssl.METHODS))
def test_method_lowers_its_loss_without_collapse(name):
    torch.manual_seed(0)
    kw = {"moco": {"queue": 64}, "swav": {"n_prototypes": 16, "freeze_prototypes_steps": 2},
          "gcrl": {"head_width": 16, "head_layers": 2}}.get(name, {})
    m = ssl.build(name, ResNetTrunk(width=8, blocks=(1, 1)), **kw)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    x1, x2 = _views(0)
    with torch.no_grad():  # warm-up without updates: fills MoCo's queue with real keys
        for i in range(3):
            m(*_views(100 + i))
            m.after_step(0.0)
        first, _ = m(x1, x2)
    steps = 25
    for i in range(steps):
        a, b = _views(i)
        loss, logs = m(a, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.after_step((i + 1) / steps)
    with torch.no_grad():
        last, logs = m(x1, x2)
    assert last.item() < first.item(), f"{name}: {first.item():.4f} -> {last.item():.4f}"
    assert logs["z_std"] > 0.02, f"{name} collapsed: per-dimension std {logs['z_std']:.4f}"


def test_unknown_method_lists_valid():
    with pytest.raises(KeyError, match="valid: simclr, simsiam, moco, byol, swav"):
        ssl.build("dino", ResNetTrunk(8, (1,)))


def test_momentum_state():
    from hlwb.ssl.momentum import EMA, Queue, cosine_momentum

    assert cosine_momentum(0.996, 0.0) == pytest.approx(0.996) and cosine_momentum(0.996, 1.0) == 1.0
    net = torch.nn.Linear(3, 2)
    ema = EMA(net)
    with torch.no_grad():
        net.weight.add_(1.0)
    before = ema.net.weight.clone()
    ema.update(net, 0.9)
    assert torch.allclose(ema.net.weight, 0.9 * before + 0.1 * net.weight)
    q = Queue(5, 2)
    q.push(torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    q.push(torch.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]))  # wraps around
    assert int(q.ptr) == 1 and torch.allclose(q.keys[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(q.keys[4].norm(), torch.tensor(1.0))


def test_encoder_save_load_roundtrip(tmp_path):
    import torch

    from hlwb.encoders import ResNetTrunk, load_encoder, save_encoder

    trunk = ResNetTrunk(4, (1, 1, 1, 1)).eval()
    save_encoder(tmp_path / "enc.pt", trunk, meta={"strategy": "hl_random"})
    back = load_encoder(tmp_path / "enc.pt")
    x = torch.randn(3, 1, 32, 32)
    assert torch.equal(trunk(x), back(x)) and back.meta == {"strategy": "hl_random"} and not back.training


def test_budget_settings_warm_the_method_state_within_the_run():
    import math

    from hlwb.pretrain import PretrainConfig, build_method
    from hlwb.ssl.momentum import cosine_momentum

    byol = ssl.budget_settings("byol", 200, 128)["base_momentum"]
    # the initial target's weight after the run: the product of the cosine-scheduled momenta
    left = math.prod(cosine_momentum(byol, (i + 1) / 200) for i in range(200))
    assert left < 0.02
    assert math.prod(cosine_momentum(0.996, (i + 1) / 200) for i in range(200)) > 0.6  # the reference's value
    assert ssl.budget_settings("byol", 100_000, 256)["base_momentum"] == 0.996  # long runs: the reference
    assert ssl.budget_settings("swav", 200, 128) == {"freeze_prototypes_steps": 10}
    assert ssl.budget_settings("simclr", 200, 128) == {} and ssl.budget_settings("moco", 200, 128) == {}
    m = build_method(PretrainConfig(method="swav", steps=200, batch=128, width=4, blocks="1"))
    assert m.freeze_steps == 10
    b = build_method(PretrainConfig(method="byol", steps=200, batch=128, width=4, blocks="1"))
    assert b.base_m == pytest.approx(1 - 9.2 / 200)


def test_moco_queue_uses_only_real_keys_until_full():
    from hlwb.ssl.momentum import Queue

    q = Queue(6, 3)
    assert q.negatives().shape == (0, 3)
    q.push(torch.eye(3)[:2] * 5)
    assert torch.equal(q.negatives(), torch.eye(3)[:2])  # normalised, only the two pushed
    q.push(torch.eye(3))
    q.push(torch.eye(3))  # 7 pushed into 6 slots: full, wrapped
    assert q.negatives().shape == (6, 3) and int(q.filled) == 6 and int(q.ptr) == 2
    m = ssl.build("moco", ResNetTrunk(4, (1,)), dim=8, hidden=16, queue=32)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    loss, _ = m(x, x.flip(3))
    assert loss.item() == 0.0  # no real negatives yet: nothing to contrast against
    m.after_step(0.1)
    loss, _ = m(x, x.flip(3))
    assert loss.item() > 0 and m.queue.negatives().shape == (4, 8)
