"""Byte-reproducible, atomic ``.npz`` writing.

``numpy.savez`` stamps every member with the current time, so the same arrays give other
bytes on each run. egogen promises that the same seed gives the same bytes, so every npz it
writes goes through :func:`save_npz`: fixed member time stamps, members in the given order,
and a temporary file renamed into place only when complete (a killed run never leaves a
half-written file under the final name).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays: Mapping[str, np.ndarray], compress: bool = True) -> bytes:
    """Serialise arrays as npz bytes that depend only on the arrays (names, dtypes, values).

    Args:
        arrays: member name -> array (no object arrays; ``np.load(allow_pickle=False)`` reads them).
        compress: deflate members (as ``np.savez_compressed``).
    Returns:
        The npz file content.
    Raises:
        ValueError: if an array has dtype object.
    """
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, value in arrays.items():
            arr = np.asanyarray(value)
            if arr.dtype == object:
                raise ValueError(f"npz member {name!r} has dtype object; store numbers or fixed-width strings")
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = method
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place (fsynced).

    Raises:
        OSError: if the folder is not writable or the disk is full; the final file is then
            untouched and no temporary file is left behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], compress: bool = True) -> Path:
    """Write ``arrays`` to ``path`` atomically and reproducibly (see :func:`npz_bytes`).

    Raises:
        OSError: if the folder is not writable or the disk is full; the final file is then
            untouched and no temporary file is left behind.
    """
    return atomic_write(path, npz_bytes(arrays, compress))
