import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from hlwb import data


@pytest.fixture(scope="module")
def fmnist_dir():
    return data.find_fashion_mnist()


def test_fashion_mnist_loads_real_files():
    train, test = data.fashion_mnist("train"), data.fashion_mnist("test")
    assert train.images.shape == (60000, 1, 32, 32) and test.images.shape == (10000, 1, 32, 32)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    # 28x28 padded by 2 px of background on every side
    assert train.images[:, :, :2].max() == 0 and train.images[:, :, :, -2:].max() == 0
    assert train.classes[9] == "Ankle boot"
    x = test.float_images()
    assert x.min() >= -1 and x.max() <= 1


def test_digits_second_dataset():
    d = data.digits()
    assert d.images.shape == (1797, 1, 32, 32) and d.images.dtype == torch.uint8
    assert set(d.labels.tolist()) == set(range(10))
    assert d.images.float().mean() > 5  # strokes survived the resize


def test_missing_everywhere_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("HLWB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(data.DataError) as e:
        data.fashion_mnist("train")
    msg = str(e.value)
    assert str(tmp_path / "cache" / "hlwb" / "fashion-mnist") in msg and "no-debian" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "download-data" in msg


def test_hlwb_data_pointing_nowhere_is_an_error_naming_it(tmp_path, monkeypatch):
    # issue 31: a HLWB_DATA that is not a folder used to fall back silently to the system copy
    monkeypatch.setenv("HLWB_DATA", str(tmp_path / "nowhere"))
    for call in (lambda: data.fashion_mnist("test"), lambda: data.load("fashion_mnist", "test"),
                 data.find_fashion_mnist, data.search_dirs):
        with pytest.raises(data.DataError, match=r"HLWB_DATA=.*nowhere is set, but that is not an existing"):
            call()


def _write_idx(path: Path, arr: np.ndarray, magic: int | None = None, truncate: int = 0):
    magic = magic if magic is not None else (0x801 if arr.ndim == 1 else 0x803)
    raw = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    with gzip.open(path, "wb") as f:
        f.write(raw[:len(raw) - truncate])


@pytest.fixture
def own_copy(monkeypatch):
    """Tiny fake IDX files are not Fashion-MNIST: opt out of the digest check, as a user with their own copy."""
    monkeypatch.setenv("HLWB_DATA_VERIFY", "0")


def _fake_dir(tmp_path, n_img=5, n_lab=5, magic=None, truncate=0):
    d = tmp_path / "fashion-mnist"
    d.mkdir()
    for split in ("train", "test"):
        _write_idx(d / data.FILES[(split, "images")][0], np.zeros((n_img, 28, 28)), magic=magic, truncate=truncate)
        _write_idx(d / data.FILES[(split, "labels")][0], np.arange(n_lab) % 10)
    return d


def test_small_valid_files_load_from_hlwb_data(tmp_path, monkeypatch, own_copy):
    _fake_dir(tmp_path)
    monkeypatch.setenv("HLWB_DATA", str(tmp_path))
    ds = data.fashion_mnist("test")
    assert len(ds) == 5 and ds.labels.tolist() == [0, 1, 2, 3, 4]


def test_truncated_file_named(tmp_path, own_copy):
    d = _fake_dir(tmp_path, truncate=100)
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz.*truncated"):
        data.fashion_mnist("test", root=d)


def test_truncated_gzip_stream_named(tmp_path, own_copy):
    d = _fake_dir(tmp_path)
    p = d / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz"):
        data.fashion_mnist("test", root=d)


def test_wrong_magic_named(tmp_path, own_copy):
    d = _fake_dir(tmp_path, magic=0x12345678)
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz: wrong magic number"):
        data.fashion_mnist("test", root=d)


def test_count_mismatch_named(tmp_path, own_copy):
    d = _fake_dir(tmp_path, n_img=5, n_lab=4)
    with pytest.raises(data.DataError, match="5 images but .*t10k-labels-idx1-ubyte.gz holds 4"):
        data.fashion_mnist("test", root=d)


def test_download_verifies_sha256(tmp_path, fmnist_dir):
    # a file:// mirror holding the real files: the payload checksums match
    dest = data.download_fashion_mnist(tmp_path / "cache", mirror=fmnist_dir.as_uri() + "/")
    assert sorted(p.name for p in dest.iterdir()) == sorted(n for n, _ in data.FILES.values())
    assert len(data.fashion_mnist("test", root=dest)) == 10000
    # a mirror serving a corrupt file: refused, nothing left behind under the final name
    (tmp_path / "bad").mkdir()
    bad = _fake_dir(tmp_path / "bad")
    with pytest.raises(data.DataError, match="SHA-256"):
        data.download_fashion_mnist(tmp_path / "cache2", mirror=bad.as_uri() + "/")
    assert not any((tmp_path / "cache2").glob("*.gz"))


def test_unknown_dataset_lists_valid():
    with pytest.raises(KeyError, match="digits"):
        data.load("mnist")


def _copy_test_split(src: Path, dst: Path, flip_pixel: bool = False) -> Path:
    """The real test split copied to ``dst/fashion-mnist``; optionally one pixel byte flipped."""
    import shutil

    d = dst / "fashion-mnist"
    d.mkdir(parents=True)
    for key in (("test", "images"), ("test", "labels")):
        shutil.copy(src / data.FILES[key][0], d / data.FILES[key][0])
    if flip_pixel:
        p = d / data.FILES[("test", "images")][0]
        raw = bytearray(gzip.decompress(p.read_bytes()))
        raw[16 + 5 * 784 + 14 * 28 + 14] ^= 0x01  # image 5, centre pixel (after the 16-byte header)
        p.write_bytes(gzip.compress(bytes(raw)))
    return d


def test_flipped_pixel_byte_is_refused_unless_opted_out(tmp_path, fmnist_dir, monkeypatch):
    monkeypatch.delenv("HLWB_DATA_VERIFY", raising=False)
    d = _copy_test_split(fmnist_dir, tmp_path, flip_pixel=True)
    name, expected = data.FILES[("test", "images")]
    actual = hashlib.sha256(gzip.decompress((d / name).read_bytes())).hexdigest()
    with pytest.raises(data.DataError) as e:
        data.fashion_mnist("test", root=d)
    msg = str(e.value)
    assert str(d / name) in msg and expected in msg and actual in msg
    assert "download-data" in msg and "HLWB_DATA_VERIFY=0" in msg
    monkeypatch.setenv("HLWB_DATA_VERIFY", "0")  # a copy of one's own, on purpose
    own = data.fashion_mnist("test", root=d)
    real = data.fashion_mnist("test", root=fmnist_dir)
    assert (own.images != real.images).sum() == 1


def test_intact_copy_is_hashed_once_per_process(tmp_path, fmnist_dir, monkeypatch):
    monkeypatch.delenv("HLWB_DATA_VERIFY", raising=False)
    d = _copy_test_split(fmnist_dir, tmp_path)
    assert len(data.fashion_mnist("test", root=d)) == 10000
    calls = []
    real_sha = hashlib.sha256
    monkeypatch.setattr(data.hashlib, "sha256", lambda *a: calls.append(a) or real_sha(*a))
    data.fashion_mnist("test", root=d)
    assert calls == []  # same path, size and mtime: verified already
    p = d / data.FILES[("test", "labels")][0]
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    data.fashion_mnist("test", root=d)
    assert len(calls) == 1  # the touched file is hashed again


def test_incomplete_hlwb_data_is_an_error_not_a_fallback(tmp_path, fmnist_dir, monkeypatch):
    _copy_test_split(fmnist_dir, tmp_path)  # the test split only: the train files are missing
    monkeypatch.setenv("HLWB_DATA", str(tmp_path))
    with pytest.raises(data.DataError) as e:
        data.fashion_mnist("test")
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert "t10k-images" not in msg and str(tmp_path / "fashion-mnist") in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("HLWB_DATA", str(empty))  # set and existing, but no fashion-mnist/ inside
    with pytest.raises(data.DataError, match="lacks train-images.*t10k-labels-idx1-ubyte.gz"):
        data.find_fashion_mnist()
