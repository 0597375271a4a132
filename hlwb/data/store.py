"""Where a downloadable dataset lives, and the checked download that puts it there.

A dataset ``<name>`` is found first under ``$HLWB_DATA/<name>`` (the official files, extracted as
``tar xzf`` extracts them), then in the cache ``$XDG_CACHE_HOME/hlwb/<name>`` (default
``~/.cache/hlwb``), which only :func:`download` fills. A download goes to a hidden temporary folder
beside the cache entry; each file's SHA-256 is checked against the official release's before
anything is extracted; only the expected archive members are extracted (``tarfile`` with
``filter="data"``: no absolute paths, no ``..``, no links); and the finished folder is renamed into
place in one step. An interrupted download (an error, Ctrl-C) removes its temporary folder, so a
cache entry either is complete or does not exist; a process killed outright (SIGKILL) can leave a
hidden ``.<name>.part-*`` folder, never a ``<name>`` folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .core import DataError

DATA_ENV = "HLWB_DATA"  # a folder holding <name>/ sub-folders of datasets the user placed there
_CHUNK = 1 << 20  # bytes read per step of a download (hashed as they arrive)


@dataclass(frozen=True)
class Remote:
    """One official file: its URL, SHA-256 and size in bytes; ``members`` the archive members kept
    (paths inside the tar), or ``()`` for a file kept as it is (under the URL's last component)."""

    url: str
    sha256: str
    size: int
    members: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def data_root() -> Path | None:
    """``$HLWB_DATA`` as a folder; None when unset. Set to anything but an existing folder: an error."""
    value = os.environ.get(DATA_ENV, "")
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DataError(f"{DATA_ENV}={value} is set, but that is not an existing folder. Create it and put "
                        f"datasets in it as {DATA_ENV}/<name>/..., point {DATA_ENV} at the folder that "
                        f"holds them, or unset {DATA_ENV} to use the system copy and the cache")
    return root


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/hlwb`` (default ``~/.cache/hlwb``): where :func:`download` puts datasets."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hlwb"


def locate(name: str, needed: tuple[str, ...]) -> Path:
    """The folder that holds every file of ``needed`` (paths relative to it) for dataset ``name``.

    ``$HLWB_DATA/<name>``, when it exists, is the user's choice: a file missing there is the error,
    not a silent switch to the cache. Found nowhere: a :class:`DataError` saying where it looked
    and how to get the files.
    """
    root = data_root()
    if root is not None and (root / name).is_dir():
        d = root / name
        missing = [f for f in needed if not (d / f).is_file()]
        if missing:
            raise DataError(f"{DATA_ENV}={root} holds {d}, but it lacks {', '.join(missing)}; extract the "
                            f"official archive there, or remove {d} to use the cache "
                            f"(`python -m hlwb download-data --dataset {name}`)")
        return d
    cached = cache_root() / name
    if all((cached / f).is_file() for f in needed):
        return cached
    looked = [str(root / name)] if root is not None else []
    looked.append(str(cached))
    raise DataError(f"dataset {name} not found: looked for {', '.join(needed)} in " + " and ".join(looked) +
                    f". Get it with `python -m hlwb download-data --dataset {name}` (official archive, "
                    f"SHA-256 checked), or extract the official files into {DATA_ENV}/{name}")


def download(name: str, remotes: tuple[Remote, ...], dest_root: str | Path | None = None) -> Path:
    """Fetch ``remotes`` into ``<dest_root>/<name>`` (default: the cache); the folder, once complete.

    Already there: returned as it is (it was renamed into place only once complete). Network
    errors are a :class:`DataError` naming the URL; a digest mismatch names URL, both digests.
    """
    parent = Path(dest_root) if dest_root is not None else cache_root()
    dest = parent / name
    if dest.is_dir():
        return dest
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.part-", dir=parent))
    try:
        out = tmp / name
        out.mkdir()
        for remote in remotes:
            file = tmp / ("download-" + remote.filename)
            _fetch(remote, file)
            if remote.members:
                _extract(remote, file, out)
                file.unlink()
            else:
                os.replace(file, out / remote.filename)
        try:
            os.replace(out, dest)
        except OSError:
            if not dest.is_dir():  # not another process finishing the same download first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _fetch(remote: Remote, file: Path) -> None:
    """Stream ``remote`` into ``file``, hashing as it arrives; refuse a wrong SHA-256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(remote.url, timeout=60) as r, open(file, "wb") as f:
            while chunk := r.read(_CHUNK):
                digest.update(chunk)
                f.write(chunk)
    except OSError as e:  # urllib's URLError is an OSError: no network, refused, timed out, disk full
        raise DataError(f"cannot download {remote.url} ({getattr(e, 'reason', e)}); check the network, "
                        "or fetch the file by other means and extract it under "
                        f"{DATA_ENV}/<name>") from e
    actual = digest.hexdigest()
    if actual != remote.sha256:
        raise DataError(f"{remote.url}: SHA-256 of the download is {actual}, expected {remote.sha256} "
                        "(the official release); the download is corrupt or the file changed at the "
                        "source. Nothing was kept; try again")


def _extract(remote: Remote, archive: Path, out: Path) -> None:
    """Extract exactly ``remote.members`` (regular files) of the tar ``archive`` into ``out``."""
    wanted = set(remote.members)
    found: set[str] = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:  # one pass over the (possibly gzip'd) stream
                name = member.name.removeprefix("./")
                if name not in wanted:
                    continue
                if not member.isfile():
                    raise DataError(f"{remote.url}: member {member.name} is not a regular file; refusing it")
                tar.extract(member, out, filter="data")
                found.add(name)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{remote.url}: cannot read the archive ({e}); it is corrupt or not this "
                        "dataset's") from e
    missing = sorted(wanted - found)
    if missing:
        raise DataError(f"{remote.url}: the archive lacks {', '.join(missing)}; it is not the official "
                        "release")
