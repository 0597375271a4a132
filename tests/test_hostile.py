"""The hostile pass of issue 31, one test per case: each failed quietly, hung, or blamed the wrong
cause; each now refuses in one line, naming what is wrong, before anything is allocated or written.

A previously hanging case runs under :func:`deadline` (SIGALRM): a regression fails the test
instead of hanging the suite.
"""

import contextlib
import json
import signal

import pytest
import torch

from hlwb import explorer as E
from hlwb import generators, ranges
from hlwb import latents as L
from hlwb.generators.biggan import BigGANGenerator


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging) when the body runs longer than ``seconds``."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: the case hangs again")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def tiny_gen(tmp_path_factory):
    """A small BigGAN checkpoint of the user's own (no sidecar)."""
    torch.manual_seed(0)
    g = BigGANGenerator(ch=8)
    g.recompute_statistics(seed=0, n_batches=2, batch=32)
    p = tmp_path_factory.mktemp("gen") / "tiny.pt"
    generators.save(p, g)
    return str(p)


def _settings(gen: str, **fields) -> str:
    """Exported-settings JSON text for ``gen`` with ``fields`` replaced."""
    d = json.loads(E.default_state(gen).to_json())
    d.update(fields)
    return json.dumps(d)


# --- no hang: explorer truncation 1e-300, latents.truncated_normal(..., 1e-9), anchor_truncation ------------

@pytest.mark.parametrize("bound", [1e-9, 1e-300, 5e-324, 0.02])
def test_truncated_normal_with_a_tiny_bound_ends_and_keeps_the_bound(bound):
    with deadline(30):
        x = L.truncated_normal((20_000,), bound, L.make_generator(0))
    assert x.shape == (20_000,) and bool((x.abs() <= bound).all())
    if bound >= 1e-30:  # representable in float32: spread over the interval, not piled at one value
        assert float(x.abs().max()) > 0.9 * bound and float(x.std()) > 0.5 * bound


def test_truncated_normal_is_unchanged_at_ordinary_bounds():
    """Bit-identity: the bounded sampler draws what plain rejection sampling drew (2.0, 0.9, inf)."""
    def plain(shape, bound, g):
        x = torch.randn(shape, generator=g)
        if bound is None:
            return x
        bad = x.abs() > bound
        while bad.any():
            x[bad] = torch.randn(int(bad.sum()), generator=g)
            bad = x.abs() > bound
        return x

    for bound in (2.0, 0.9, 0.5, float("inf"), None):
        assert torch.equal(L.truncated_normal((50_000,), bound, L.make_generator(3)),
                           plain((50_000,), bound, L.make_generator(3))), bound


def test_explorer_truncation_1e_300_is_refused_at_once(tiny_gen):
    with deadline(60):
        state = E.default_state(tiny_gen)
        state.truncation = 1e-300
        with pytest.raises(E.ExplorerError, match=r"truncation must be a number in \[0.1, 3.0\].*got 1e-300"):
            E.render(state)
        with pytest.raises(E.ExplorerError, match="truncation"):
            E.load_settings(_settings(tiny_gen, truncation=1e-300))


@pytest.mark.parametrize("notebook", ["WalkersParams", "PerturbationParams"])
def test_anchor_truncation_below_the_cheap_bound_is_refused(notebook):
    from hlwb import config

    cls = getattr(config, notebook)
    with pytest.raises(config.ConfigError, match=r"'anchor_truncation' = 1e-300 .* must be in \[0.1, inf\)"):
        config.from_params(cls, {"anchor_truncation": 1e-300})
    assert config.from_params(cls, {"anchor_truncation": 0.0}).anchor_truncation == 0.0  # the family's own
    assert config.from_params(cls, {"anchor_truncation": 0.9}).anchor_truncation == 0.9  # StyleGAN's reference


def test_the_lower_bounds_agree():
    assert ranges.MIN_TRUNCATION == L.MIN_TRUNCATION == E.TRUNCATION_MIN


# --- explorer settings: every bad field is an ExplorerError -------------------------------------------------

@pytest.mark.parametrize("field, value, msg", [
    ("positive_seed", -1, r"positive_seed must be an int in 0\.\.\d+, got -1"),
    ("n_positives", True, r"n_positives must be an int in 0\.\.64, got True"),
    ("anchor_seed", 1.5, r"anchor_seed must be an int"),
    ("truncation", "2", r"truncation must be a number"),
    ("directions", ["pca"], r"directions must be 'random' or 'pca'"),
    ("generator", 7, r"\"generator\" must be a name or a path, got 7"),
])
def test_explorer_bad_field_is_an_explorer_error(tiny_gen, field, value, msg):
    with pytest.raises(E.ExplorerError, match=msg) as e:
        E.load_settings(_settings(tiny_gen, **{field: value}))
    assert "\n" not in str(e.value)


def test_explorer_latents_beyond_float_are_an_explorer_error(tiny_gen):
    state = E.default_state(tiny_gen)
    text = _settings(tiny_gen)[:-1] + ', "latents": ' + json.dumps([[10**400] * c.dim for c in
                                                                     E.generator(tiny_gen).chunks]) + "}"
    with pytest.raises(E.ExplorerError, match=r"latents\[0\] must hold numbers only, got 1000.*finite"):
        E.load_settings(text)
    nan = _settings(tiny_gen)[:-1] + ', "latents": [[NaN]]}'
    with pytest.raises(E.ExplorerError, match="must hold numbers only, got nan"):
        E.load_settings(nan)
    chunk = json.loads(state.to_json())["chunks"]
    chunk[0]["alpha"] = float("inf")
    with pytest.raises(E.ExplorerError, match=r"chunk alpha \(chunk 0\) must be a number"):
        E.load_settings(_settings(tiny_gen, chunks=chunk))
