"""WebDataset tar shards with a JSON index: deterministic, atomic, resumable.

Layout of a dataset folder::

    shard-000000.tar  shard-000001.tar  ...  index.json

One sample = one key (``<scene>-<episode>``, no dots: WebDataset splits member names at
the first dot) with members ``<key>.<member>`` (``motion.npz``, ``camera.npz``,
``text.json`` ...). The bytes of a shard depend only on its samples: tar headers carry
fixed time stamps, owners and modes. A shard is written as ``.shard-NNNNNN.tar.tmp-<pid>`` and
renamed when complete, and ``index.json`` (per-shard sha256, sample count and keys, plus
the run configuration) is rewritten atomically after every completed shard, so a killed
run leaves only complete shards under final names and can resume from the index.
Readable by the ``webdataset`` library and by plain ``tarfile``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Optional

from egogen.npz import atomic_write

INDEX_NAME = "index.json"
FORMAT_VERSION = 1
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
_MEMBER_RE = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_\-.]*$")


class ShardError(RuntimeError):
    """A dataset folder cannot be written or read as egogen shards (the message says why and what to do)."""


def shard_name(i: int) -> str:
    """File name of shard ``i``: ``shard-000000.tar``."""
    return f"shard-{i:06d}.tar"


@dataclass
class ShardInfo:
    """One completed shard as recorded in the index."""

    name: str
    sha256: str
    count: int
    keys: list[str] = field(default_factory=list)


def _tar_bytes(samples: list[tuple[str, Mapping[str, bytes]]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, members in samples:
            for member, data in members.items():
                info = tarfile.TarInfo(f"{key}.{member}")
                info.size = len(data)
                info.mtime, info.mode, info.uid, info.gid = 0, 0o644, 0, 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def untar_samples(data: bytes) -> dict[str, dict[str, bytes]]:
    """The samples of a shard's bytes: ``{key: {member name: bytes}}`` in tar order.

    Raises:
        tarfile.TarError, EOFError: not a readable tar.
    """
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            key, member = m.name.split(".", 1)
            samples.setdefault(key, {})[member] = tar.extractfile(m).read()
    return samples


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as e:
        hint = "the disk is full" if e.errno == errno.ENOSPC else "the folder is not writable"
        raise ShardError(f"could not write {path} ({e.strerror or e}): {hint}. Shards completed before it are "
                         "intact and listed in index.json; free space or fix permissions, then rerun with "
                         "--resume.") from e


def read_index(folder: str | os.PathLike) -> dict:
    """The parsed ``index.json`` of a dataset folder.

    Raises:
        ShardError: no index, or an index that is not valid JSON of this format.
    """
    path = Path(folder) / INDEX_NAME
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise ShardError(f"{folder} has no {INDEX_NAME}: it is not an egogen dataset folder "
                         "(or its run wrote no complete shard yet)") from None
    except json.JSONDecodeError as e:
        raise ShardError(f"{path} is corrupt ({e}); rerun the command with --resume to rebuild it") from e
    if index.get("format") != "egogen-shards" or "shards" not in index:
        raise ShardError(f"{path} is not an egogen shard index")
    return index


class ShardWriter:
    """Write samples into fixed-size shards with an index, resuming a previous run if asked.

    Args:
        folder: output folder (created).
        samples_per_shard: samples per shard (the last shard may hold fewer).
        config: run configuration stored in the index (seed, versions, checkpoints ...); on
            resume it must equal the stored one.
        resume: continue the run recorded in ``folder/index.json``; without it a folder that
            already holds shards is refused.
        extend_last: on resume, reopen a last shard that holds fewer than ``samples_per_shard``
            samples (a run stopped early, e.g. by a sample limit): its samples are queued
            again and the shard is rewritten once more samples arrive (or unchanged at
            ``close``), so shard boundaries do not depend on where earlier runs stopped.
    Raises:
        ShardError: a non-empty folder without ``resume``, a resume with another
            configuration, or an unwritable folder.

    Use ``completed_keys`` to skip samples already written, ``add`` for each new sample in
    a fixed order, then ``close``. Samples added after the last complete shard of a killed
    run are not in the index and are written again on resume.
    """

    def __init__(self, folder: str | os.PathLike, samples_per_shard: int = 64,
                 config: Optional[dict] = None, resume: bool = False, extend_last: bool = False):
        if samples_per_shard < 1:
            raise ValueError("samples_per_shard must be >= 1")
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ShardError(f"cannot create output folder {self.folder}: {e.strerror or e}") from e
        self.samples_per_shard = samples_per_shard
        self.config = dict(config or {})
        self.shards: list[ShardInfo] = []
        self._pending: list[tuple[str, Mapping[str, bytes]]] = []
        existing = sorted(self.folder.glob("shard-*.tar"))
        if (self.folder / INDEX_NAME).exists() or existing:
            if not resume:
                raise ShardError(f"{self.folder} already holds a dataset; pass --resume to continue it or "
                                 "choose an empty --out folder")
            index = read_index(self.folder)
            if index.get("config", {}) != self.config:
                raise ShardError(f"{self.folder} was written with another configuration; resume needs the same "
                                 "options (or choose an empty --out folder)")
            if index.get("samples_per_shard") != samples_per_shard:
                raise ShardError("resume needs the same samples per shard as the interrupted run")
            self.shards = [ShardInfo(**s) for s in index["shards"]]
            known = {s.name for s in self.shards}
            for stray in existing:  # a shard renamed but not yet indexed when the run died
                if stray.name not in known:
                    stray.unlink()
            if extend_last and self.shards and self.shards[-1].count < samples_per_shard:
                self._reopen_last()
        for tmp in self.folder.glob(".*.tmp*"):
            tmp.unlink()

    def _reopen_last(self) -> None:
        # The index keeps listing the short shard until its replacement is written, so a run
        # killed before that leaves the dataset as it was. A missing or corrupt short shard
        # is dropped: its samples are simply not done.
        last = self.shards.pop()
        try:
            data = (self.folder / last.name).read_bytes()
            if hashlib.sha256(data).hexdigest() == last.sha256:
                samples = untar_samples(data)
                if list(samples) == last.keys:
                    self._pending = list(samples.items())
        except (OSError, tarfile.TarError, EOFError, ValueError):
            pass

    def completed_keys(self) -> set[str]:
        """Keys already in complete, indexed shards (and those of a reopened short last shard)."""
        return {k for s in self.shards for k in s.keys} | {k for k, _ in self._pending}

    def add(self, key: str, members: Mapping[str, bytes]) -> None:
        """Queue one sample; a shard is written when ``samples_per_shard`` are queued.

        Args:
            key: sample key, letters, digits, '_' and '-' only (WebDataset splits at dots).
            members: member name (e.g. ``"motion.npz"``) -> file bytes.
        Raises:
            ValueError: bad key or member name, or a key already written.
            ShardError: the shard could not be written (disk full, unwritable).
        """
        if not _KEY_RE.match(key):
            raise ValueError(f"sample key {key!r} may hold only letters, digits, '_' and '-'")
        bad = [m for m in members if not _MEMBER_RE.match(m)]
        if bad or not members:
            raise ValueError(f"sample {key!r} needs members with simple names like 'motion.npz' (got {bad or 'none'})")
        if key in self.completed_keys() or any(k == key for k, _ in self._pending):
            raise ValueError(f"sample key {key!r} was already written")
        self._pending.append((key, dict(members)))
        if len(self._pending) == self.samples_per_shard:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = _tar_bytes(self._pending)
        name = shard_name(len(self.shards))
        _atomic_write(self.folder / name, data)
        self.shards.append(ShardInfo(name, hashlib.sha256(data).hexdigest(), len(self._pending),
                                     [k for k, _ in self._pending]))
        self._pending = []
        self._write_index()

    def _write_index(self) -> None:
        index = {
            "format": "egogen-shards", "format_version": FORMAT_VERSION,
            "samples_per_shard": self.samples_per_shard,
            "num_samples": sum(s.count for s in self.shards),
            "config": self.config,
            "shards": [s.__dict__ for s in self.shards],
        }
        _atomic_write(self.folder / INDEX_NAME, (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())

    def close(self) -> dict:
        """Write the last (possibly short) shard and the index; returns the index."""
        self._flush()
        if not (self.folder / INDEX_NAME).exists():
            self._write_index()
        return read_index(self.folder)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


def read_shard(folder: str | os.PathLike, entry: dict) -> dict[str, dict[str, bytes]]:
    """The samples of one shard of ``folder``, checked against its index entry.

    Args:
        folder: dataset folder.
        entry: the shard's entry in ``index.json`` (``name``, ``sha256``).
    Returns:
        {key: {member name: bytes}} in tar order.
    Raises:
        ShardError: the shard is missing or its sha256 differs from the index.
    """
    path = Path(folder) / entry["name"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ShardError(f"{path} is listed in the index but missing") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ShardError(f"{path} is corrupt (sha256 differs from index.json); regenerate it with --resume "
                         "after deleting it")
    return untar_samples(data)


def iter_samples(folder: str | os.PathLike) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Read every sample of a dataset folder with plain ``tarfile``, in index order.

    Yields:
        (key, {member name: bytes}).
    Raises:
        ShardError: missing index or shard, or a shard whose sha256 differs from the index.
    """
    for s in read_index(folder)["shards"]:
        yield from read_shard(folder, s).items()
