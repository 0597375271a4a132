"""The dataset registry on small files written in each official format (no network, no real archives)."""

import dataclasses
import gzip
import hashlib
import io
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from hlwb import data
from hlwb.data import cifar, folder, stl10, svhn
from hlwb.spec import ImageSpec, SpecError


@pytest.fixture
def env(tmp_path, monkeypatch):
    """``HLWB_DATA`` and the cache both inside ``tmp_path``; returns the HLWB_DATA folder."""
    root = tmp_path / "hlwb-data"
    root.mkdir()
    monkeypatch.setenv("HLWB_DATA", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return root


def _images(n, channels, size, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, channels, size, size), dtype=np.uint8)


# ---- writers of the official formats ----

def _write_cifar10(d: Path, n=4, seed=0):
    """``d/cifar-10-batches-bin``: 5 train files and a test file of ``n`` records; the images and labels."""
    out = {}
    base = d / "cifar-10-batches-bin"
    base.mkdir(parents=True)
    for k, rel in enumerate([*cifar.CIFAR10_FILES["train"], *cifar.CIFAR10_FILES["test"]]):
        x, y = _images(n, 3, 32, seed + k), (np.arange(n) + k) % 10
        records = np.concatenate([y[:, None].astype(np.uint8), x.reshape(n, -1)], axis=1)  # label, R, G, B
        (d / rel).write_bytes(records.tobytes())
        out[rel] = (x, y)
    (d / cifar.CIFAR10_NAMES_FILE).write_text("\n".join(cifar.CIFAR10_CLASSES) + "\n\n")
    return out


def _write_cifar100(d: Path, n=6):
    base = d / "cifar-100-binary"
    base.mkdir(parents=True)
    out = {}
    for k, split in enumerate(("train", "test")):
        x, fine, coarse = _images(n, 3, 32, 10 + k), np.arange(n) * 17 % 100, np.arange(n) % 20
        rec = np.concatenate([coarse[:, None], fine[:, None], x.reshape(n, -1)], axis=1).astype(np.uint8)
        (d / cifar.CIFAR100_FILES[split][0]).write_bytes(rec.tobytes())
        out[split] = (x, fine)
    (d / cifar.CIFAR100_NAMES_FILE).write_text("\n".join(cifar.CIFAR100_CLASSES) + "\n")
    return out


def _write_stl10(d: Path, n_train=3, n_test=2, n_unlab=5):
    base = d / "stl10_binary"
    base.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlab)):
        x = _images(n, 3, 96, 20 + n)
        # stored column-major per channel: the file holds each (96, 96) plane transposed
        (d / stl10.STL10_FILES[split][0]).write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
        y = np.arange(n) % 10 + 1  # 1..10 on disk
        if split != "unlabeled":
            (d / stl10.STL10_FILES[split][1]).write_bytes(y.astype(np.uint8).tobytes())
        out[split] = (x, y)
    (d / stl10.STL10_NAMES_FILE).write_text("\n".join(stl10.STL10_CLASSES) + "\n")
    return out


def _write_svhn(d: Path, n=12):
    d.mkdir(parents=True)
    out = {}
    for k, split in enumerate(("train", "test")):
        x = _images(n, 3, 32, 30 + k)                          # (N, C, H, W)
        y = np.arange(n) % 10 + 1                              # 1..10, 10 = the digit 0
        scipy.io.savemat(d / svhn.SVHN_FILES[split], {"X": x.transpose(2, 3, 1, 0), "y": y[:, None].astype(np.uint8)})
        out[split] = (x, y)
    return out


# ---- CIFAR ----

def test_cifar10_binary_records(env):
    written = _write_cifar10(env / "cifar10")
    train, test = data.load("cifar10", "train"), data.load("cifar10", "test")
    assert train.spec == ImageSpec(3, 32, cifar.CIFAR10_CLASSES) == data.spec_of("cifar10")
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    x0, y0 = written[cifar.CIFAR10_FILES["train"][0]]
    assert torch.equal(train.images[:4], torch.from_numpy(x0)) and train.labels[:4].tolist() == y0.tolist()
    xt, yt = written[cifar.CIFAR10_FILES["test"][0]]
    assert torch.equal(test.images, torch.from_numpy(xt)) and test.labels.tolist() == yt.tolist()


def test_cifar100_fine_labels_and_names_from_the_archive(env):
    written = _write_cifar100(env / "cifar100")
    ds = data.load("cifar100", "test")
    assert ds.spec.n_classes == 100 and ds.classes[:2] == ("apple", "aquarium_fish")
    assert torch.equal(ds.images, torch.from_numpy(written["test"][0]))
    assert ds.labels.tolist() == written["test"][1].tolist()  # the fine label, not the coarse
    (env / "cifar100" / cifar.CIFAR100_NAMES_FILE).write_text("\n".join(cifar.CIFAR100_CLASSES[:99]) + "\n")
    with pytest.raises(data.DataError, match="fine_label_names.txt: holds 99 class names"):
        data.load("cifar100", "test")


def test_cifar_truncated_or_out_of_range_file_is_refused_naming_it(env):
    _write_cifar10(env / "cifar10")
    p = env / "cifar10" / cifar.CIFAR10_FILES["train"][2]
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(data.DataError, match=r"data_batch_3.bin: 12287 bytes is not a whole number of 3073"):
        data.load("cifar10", "train")
    raw = bytearray((env / "cifar10" / cifar.CIFAR10_FILES["test"][0]).read_bytes())
    raw[3073] = 10  # the label byte of record 1
    (env / "cifar10" / cifar.CIFAR10_FILES["test"][0]).write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match="test_batch.bin: label 10 at record 1 is outside 0..9"):
        data.load("cifar10", "test")


# ---- STL-10 and SVHN ----

def test_stl10_column_major_images_labels_and_unlabeled(env):
    written = _write_stl10(env / "stl10")
    tr = data.load("stl10", "train")
    assert tr.spec == ImageSpec(3, 96, stl10.STL10_CLASSES) and tr.images.shape == (3, 3, 96, 96)
    assert torch.equal(tr.images, torch.from_numpy(written["train"][0]))  # planes transposed back
    assert tr.labels.tolist() == (written["train"][1] - 1).tolist() == [0, 1, 2]  # 1..10 -> 0..9
    un = data.load("stl10", "unlabeled")
    assert un.labels is None and un.classes is None and un.spec == data.spec_of("stl10", split="unlabeled")
    assert torch.equal(un.images, torch.from_numpy(written["unlabeled"][0]))
    assert not un.images.is_contiguous()  # a view of the memory map, not a copy
    small = data.load("stl10", "unlabeled", size=32)
    assert small.images.shape == (5, 3, 32, 32) and small.spec == ImageSpec(3, 32)
    (env / "stl10" / stl10.STL10_FILES["test"][1]).write_bytes(bytes([1]))  # 1 label for 2 images
    with pytest.raises(data.DataError, match="test_y.bin: 1 labels for 2 images"):
        data.load("stl10", "test")


def test_svhn_mat_files_label_ten_is_digit_zero(env):
    written = _write_svhn(env / "svhn")
    ds = data.load("svhn", "train")
    assert ds.spec == ImageSpec(3, 32, tuple("0123456789")) and ds.images.shape == (12, 3, 32, 32)
    assert torch.equal(ds.images, torch.from_numpy(written["train"][0]))  # (H, W, C, N) -> (N, C, H, W)
    assert written["train"][1].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]
    assert ds.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]  # 10 is the digit 0
    p = env / "svhn" / svhn.SVHN_FILES["test"]
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(data.DataError, match="test_32x32.mat: cannot read it as a MATLAB file"):
        data.load("svhn", "test")


def test_svhn_labels_outside_one_to_ten_refused(env):
    (env / "svhn").mkdir()
    x = np.zeros((32, 32, 3, 2), np.uint8)
    scipy.io.savemat(env / "svhn" / "train_32x32.mat", {"X": x, "y": np.array([[0], [3]], np.uint8)})
    with pytest.raises(data.DataError, match="train_32x32.mat: labels span 0..3"):
        data.load("svhn", "train")


# ---- where datasets are found, and the checked download ----

def test_hlwb_data_pointing_nowhere_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HLWB_DATA", str(tmp_path / "missing"))
    with pytest.raises(data.DataError, match=r"HLWB_DATA=.*missing is set, but that is not an existing folder"):
        data.load("cifar10", "train")


def test_incomplete_hlwb_data_folder_is_an_error_and_absence_says_how_to_get_it(env):
    (env / "cifar10").mkdir()
    with pytest.raises(data.DataError, match="lacks cifar-10-batches-bin/data_batch_1.bin"):
        data.load("cifar10", "train")
    with pytest.raises(data.DataError, match=r"download-data --dataset svhn"):
        data.load("svhn", "test")  # neither $HLWB_DATA/svhn nor the cache


def _cifar10_archive(tmp_path: Path, extra: dict[str, bytes] | None = None, drop: str | None = None,
                     link: str | None = None) -> Path:
    src = tmp_path / "src"
    _write_cifar10(src, n=2)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for rel in cifar.CIFAR10_REMOTES[0].members:
            if rel == drop:
                continue
            if rel == link:  # a member under an expected name that is a symlink, not a file
                info = tarfile.TarInfo(rel)
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
                continue
            tar.add(src / rel, arcname=rel)
        for name, payload in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return archive


def _point_cifar10_at(monkeypatch, archive: Path, sha256: str | None = None):
    remote = dataclasses.replace(cifar.CIFAR10_REMOTES[0], url=archive.as_uri(),
                                 sha256=sha256 or hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setitem(data.DATASETS, "cifar10", dataclasses.replace(data.DATASETS["cifar10"], remotes=(remote,)))


def test_download_checks_sha256_extracts_expected_members_only(tmp_path, monkeypatch):
    monkeypatch.delenv("HLWB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    archive = _cifar10_archive(tmp_path, extra={"../evil.txt": b"x", "cifar-10-batches-bin/readme.html": b"y"})
    _point_cifar10_at(monkeypatch, archive)
    from hlwb.cli import main

    assert main(["download-data", "--dataset", "cifar10"]) == 0
    dest = tmp_path / "cache" / "hlwb" / "cifar10"
    kept = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert kept == sorted(cifar.CIFAR10_REMOTES[0].members)  # no readme, no ../evil.txt
    assert not (tmp_path / "cache" / "hlwb" / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()
    assert [p.name for p in (tmp_path / "cache" / "hlwb").iterdir()] == ["cifar10"]  # no temporary left
    assert len(data.load("cifar10", "train")) == 10  # found in the cache
    assert data.download("cifar10") == dest  # already there: not fetched again


@pytest.mark.parametrize("case", ["wrong_sha", "missing_member", "symlink_member"])
def test_bad_download_leaves_nothing_in_the_cache(tmp_path, monkeypatch, case):
    monkeypatch.delenv("HLWB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rel = cifar.CIFAR10_FILES["test"][0]
    archive = _cifar10_archive(tmp_path, drop=rel if case == "missing_member" else None,
                               link=rel if case == "symlink_member" else None)
    _point_cifar10_at(monkeypatch, archive, "0" * 64 if case == "wrong_sha" else None)
    match = {"wrong_sha": "SHA-256 of the download is [0-9a-f]{64}, expected 0{64}",
             "missing_member": "the archive lacks cifar-10-batches-bin/test_batch.bin",
             "symlink_member": "test_batch.bin is not a regular file"}[case]
    with pytest.raises(data.DataError, match=match):
        data.download("cifar10")
    cache = tmp_path / "cache" / "hlwb"
    assert not cache.exists() or list(cache.iterdir()) == []


# ---- resizing, specs and the registry ----

def test_size_resizes_and_the_spec_says_it(env):
    _write_cifar10(env / "cifar10")
    native = data.load("cifar10", "test")
    big = data.load("cifar10", "test", size=64)
    assert big.images.shape == (4, 3, 64, 64) and big.spec == data.spec_of("cifar10", 64) == ImageSpec(
        3, 64, cifar.CIFAR10_CLASSES)
    assert torch.equal(big.labels, native.labels)
    # bilinear upsampling keeps the mean and the range; a constant image stays constant
    assert (big.images.float().mean() - native.images.float().mean()).abs() < 2.0
    flat = torch.full((2, 3, 32, 32), 77, dtype=torch.uint8)
    assert (data.resize(flat, 64) == 77).all() and (data.resize(flat, 16) == 77).all()
    # a one-pixel checkerboard of 0 and 255, downsampled 4x with antialiasing, averages to grey
    # (without antialiasing, bilinear would sample it and keep 0s and 255s)
    board = (torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2 * 255
    small = data.resize(board.to(torch.uint8).expand(1, 1, 32, 32), 8)
    assert ((small.float() - 127.5).abs() <= 3).all()
    with pytest.raises(SpecError, match="size must be an int in 8..256"):
        data.load("cifar10", "test", size=512)  # refused before any file is read


def test_unknown_name_or_split_lists_the_valid_ones():
    with pytest.raises(KeyError, match="valid: fashion_mnist, fashion_mnist_color, digits, cifar10, cifar100, svhn"):
        data.load("imagenet")
    with pytest.raises(KeyError, match="unknown split 'unlabeled' of cifar10; valid: train, test"):
        data.load("cifar10", "unlabeled")
    with pytest.raises(KeyError, match="valid: train, test, unlabeled"):
        data.spec_of("stl10", split="val")
    assert data.names() == tuple(data.DATASETS)
    for name, entry in data.DATASETS.items():
        assert entry.name == name and entry.spec() == data.spec_of(name)
        assert (entry.remotes == ()) == (name in ("fashion_mnist", "fashion_mnist_color", "digits"))
        for r in entry.remotes:
            assert len(r.sha256) == 64 and r.url.startswith("http")


def test_dataset_checks_images_against_its_spec():
    x = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(data.DataError, match="spec says 1x32x32"):
        data.Dataset("d", x, torch.zeros(2, dtype=torch.int64), ImageSpec(1, 32, ("a", "b")))
    with pytest.raises(data.DataError, match="labels must be None exactly when"):
        data.Dataset("d", x, None, ImageSpec(3, 32, ("a", "b")))
    with pytest.raises(data.DataError, match="labels span 0..2, outside 0..1"):
        data.Dataset("d", x, torch.tensor([0, 2]), ImageSpec(3, 32, ("a", "b")))
    legacy = data.Dataset("d", x, torch.tensor([0, 1]), ("a", "b"))  # class names only: spec from the images
    assert legacy.spec == ImageSpec(3, 32, ("a", "b")) and legacy.classes == ("a", "b") and len(legacy) == 2


# ---- Fashion-MNIST, plain and coloured ----

def test_fashion_mnist_through_load_is_the_padded_idx_payload():
    d = data.find_fashion_mnist()
    ds = data.load("fashion_mnist", "train")
    raw = gzip.decompress((d / data.FILES[("train", "images")][0]).read_bytes())
    x28 = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    ref = np.zeros((len(x28), 1, 32, 32), np.uint8)
    ref[:, 0, 2:30, 2:30] = x28  # what hlwb always did: 28x28 zero-padded by 2 px
    assert torch.equal(ds.images, torch.from_numpy(ref)) and torch.equal(ds.images, data.fashion_mnist("train").images)
    assert ds.spec == ImageSpec(1, 32, data.FASHION_CLASSES) and ds.name == "fashion_mnist/train"


@pytest.fixture(scope="module")
def fashion_color_test():
    return data.load("fashion_mnist_color", "test"), data.fashion_mnist("test")


def test_fashion_mnist_color_is_addressable_per_index(fashion_color_test):
    ds, gray = fashion_color_test
    assert ds.spec == ImageSpec(3, 32, data.FASHION_CLASSES) and torch.equal(ds.labels, gray.labels)
    for i in (0, 1234, 9999):
        fg, bg = data.fashion_mnist_colors("test", [i])  # asked alone, without the rest
        assert torch.equal(data.colorize(gray.images[i:i + 1], fg, bg), ds.images[i:i + 1])
        assert ds.images[i, :, 0, 0].tolist() == bg[0].tolist()  # the padding is pure background
        g = gray.images[i, 0]
        r, c = divmod(int(g.argmax()), 32)
        expect = ((bg[0].int() * (255 - int(g[r, c])) + fg[0].int() * int(g[r, c]) + 127) // 255).tolist()
        assert ds.images[i, :, r, c].tolist() == expect
    fg_all, _ = data.fashion_mnist_colors("test", torch.arange(len(ds)))
    fg_some, _ = data.fashion_mnist_colors("test", [9999, 3, 3])
    assert torch.equal(fg_some, fg_all[[9999, 3, 3]])
    assert not torch.equal(data.fashion_mnist_colors("train", [0, 1, 2])[0], fg_all[:3])  # splits differ


def test_fashion_mnist_color_carries_no_class_information(fashion_color_test):
    ds, _ = fashion_color_test
    fg, bg = (c.float() for c in data.fashion_mnist_colors("test", torch.arange(len(ds))))
    # garment always brighter than background: the two stay distinguishable
    assert (fg.max(1).values - bg.max(1).values).min() >= 89
    # per class (1000 test images each), the mean colours match the overall mean: a channel's
    # standard deviation is < 90 levels, the standard error of a class mean < 3, so 10 is > 3 of them
    for colours in (fg, bg):
        overall = colours.mean(0)
        for k in range(10):
            assert (colours[ds.labels == k].mean(0) - overall).abs().max() < 10
    assert fg.std(0).min() > 40  # and the colours really vary


# ---- folder:PATH ----

def _png(path: Path, array: np.ndarray, mode: str | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)


def test_folder_class_subfolders_holdout_and_crop(tmp_path):
    for k, cls in enumerate(("zebra", "apple")):
        for i in range(12):
            img = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high: the centre 20x20 is kept
            img[:, 10:30] = (k * 200, i * 10, 50)
            img[:, :10] = img[:, 30:] = 255            # cropped away
            _png(tmp_path / "f" / cls / f"{i:02d}.png", img)
    (tmp_path / "f" / "apple" / "notes.txt").write_text("not an image")
    name = f"folder:{tmp_path / 'f'}"
    tr, te = data.load(name, "train"), data.load(name, "test")
    assert tr.spec == ImageSpec(3, 32, ("apple", "zebra")) == data.spec_of(name)
    assert len(tr) == 22 and len(te) == 2 and te.labels.tolist() == [0, 1]  # file 09 of each class
    # the centred 20x20 square is kept (the white side bands are cropped): apple is k = 1, file 9
    inner = te.images[0, :, 2:-2, 2:-2]
    assert (inner == torch.tensor([200, 90, 50], dtype=torch.uint8)[:, None, None]).all()
    assert tr.images[:, :, :, 2:-2].float().mean() < 150  # white would pull it far up
    assert data.load(name, "test", size=64).images.shape == (2, 3, 64, 64)


def test_folder_train_test_layout_flat_unlabelled_and_gray(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            _png(tmp_path / "g" / split / f"{i}.png", np.full((8, 8), 40 * i, np.uint8))
    name = f"folder:{tmp_path / 'g'}"
    tr = data.load(name, "train", size=16)
    assert tr.spec == ImageSpec(1, 16) and tr.labels is None and tr.classes is None
    assert [int(x.float().mean()) for x in tr.images] == [0, 40, 80]
    assert len(data.load(name, "test")) == 2 and data.spec_of(name, 16) == tr.spec


def test_folder_modes_rgba_over_black_sixteen_bit_and_mixed(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, 8:, 3] = 255  # right half opaque, left half fully transparent
    _png(tmp_path / "m" / "a" / "rgba.png", rgba)
    _png(tmp_path / "m" / "a" / "gray.png", np.full((16, 16), 100, np.uint8))
    _png(tmp_path / "m" / "b" / "sixteen.png", np.full((16, 16), 65535, np.uint16))
    _png(tmp_path / "m" / "b" / "half.png", np.full((16, 16, 2), (200, 128), np.uint8), "LA")
    name = f"folder:{tmp_path / 'm'}"
    assert data.spec_of(name) == ImageSpec(3, 32, ("a", "b"))  # one colour image makes all 3-channel
    with pytest.warns(UserWarning, match="16-bit scaled to 8 bit.*transparent composited over black"):
        ds = data.load(name, "train", size=16)
    by_name = dict(zip(["gray", "rgba", "half", "sixteen"], ds.images))  # sorted within each class
    assert (by_name["gray"] == 100).all()  # grayscale replicated to R = G = B
    assert (by_name["rgba"][:, :, :7] == 0).all() and (by_name["rgba"][:, :, 9:] == 200).all()
    assert (by_name["sixteen"] == 255).all() and (by_name["half"] == 100).all()  # 200 * 128/255
    only_gray = tmp_path / "gray_only" / "x.png"
    _png(only_gray, np.full((16, 16), 65535, np.uint16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert data.load(f"folder:{only_gray.parent}", "train").spec == ImageSpec(1, 32)


def test_folder_refusals_name_the_problem(tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    _png(bad / "a" / "ok.png", np.zeros((8, 8), np.uint8))
    (bad / "b").mkdir()
    (bad / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(data.DataError, match=r"b/broken.png: cannot read it as an image"):
        data.spec_of(f"folder:{bad}")
    _png(tmp_path / "mixed" / "loose.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "mixed" / "cls" / "x.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(data.DataError, match="both image files .* and sub-folders"):
        data.load(f"folder:{tmp_path / 'mixed'}", "train")
    with pytest.raises(data.DataError, match="is not an existing folder"):
        data.load(f"folder:{tmp_path / 'absent'}", "train")
    with pytest.raises(KeyError, match="valid: train, test"):
        data.load(f"folder:{bad}", "unlabeled")
    # spec_of reads headers only: decoding pixels is not needed for the spec
    monkeypatch.setattr(folder, "_pixels", lambda *a: pytest.fail("spec_of decoded an image"))
    (bad / "b" / "broken.png").unlink()
    _png(bad / "b" / "rgb.png", np.zeros((8, 8, 3), np.uint8))
    assert data.spec_of(f"folder:{bad}", 64) == ImageSpec(3, 64, ("a", "b"))
