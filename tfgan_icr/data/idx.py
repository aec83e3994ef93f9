"""Reader and writer for the IDX format used by MNIST and Fashion-MNIST.

An IDX file is: two zero bytes, one type byte, one byte holding the number of dimensions D,
then D big-endian uint32 sizes, then the values in C order, big-endian. Files may be gzipped
(detected from the content, not the name).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from tfgan_icr.errors import DataError

# IDX type byte -> numpy dtype (big-endian where it matters).
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _open(path: str):
    with open(path, "rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_exactly(f, n: int, path: str, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise DataError(
            f"truncated IDX file {path}: expected {n} bytes of {what}, got {len(data)}; "
            "download or reinstall the file"
        )
    return data


def read_idx(path: str | os.PathLike, limit: int | None = None) -> np.ndarray:
    """Reads an IDX file (optionally gzipped) into a native-endian numpy array.

    Args:
      path: the file.
      limit: read only the first `limit` items along the first axis (the rest of the file is
        not read, so a truncation after them goes unnoticed).

    Returns:
      An array of the file's shape (first axis cut to `limit`) and type (uint8 for (Fashion-)MNIST).

    Raises:
      DataError: the file is missing, is not IDX, is truncated or has trailing bytes.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"IDX file {path} does not exist: check the path")
    try:
        with _open(path) as f:
            magic = _read_exactly(f, 4, path, "header")
            if magic[:2] != b"\x00\x00" or magic[2] not in _DTYPES or magic[3] == 0:
                raise DataError(
                    f"{path} is not an IDX file (magic bytes {magic.hex()}); "
                    "expected 0000 + type byte (08,09,0b,0c,0d,0e) + number of dimensions"
                )
            dtype, ndim = _DTYPES[magic[2]], magic[3]
            shape = list(struct.unpack(f">{ndim}I", _read_exactly(f, 4 * ndim, path, "header")))
            if limit is not None:
                if limit < 0:
                    raise DataError(f"read_idx limit must be >= 0, got {limit}")
                shape[0] = min(shape[0], limit)
            count = int(np.prod(shape, dtype=np.int64))
            data = _read_exactly(f, count * dtype.itemsize, path, f"data for shape {tuple(shape)}")
            if limit is None and f.read(1):
                raise DataError(
                    f"corrupt IDX file {path}: trailing bytes after the {tuple(shape)} data; "
                    "download or reinstall the file"
                )
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError.
        raise DataError(f"corrupt IDX file {path}: {e}; download or reinstall the file") from e
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes `array` as an IDX file; gzipped when `compress` (default: path ends with .gz)."""
    path = os.fspath(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0 or array.ndim > 255:
        raise DataError(
            f"cannot write dtype {array.dtype} with {array.ndim} dims as IDX: use uint8, int8, "
            "int16, int32, float32 or float64 with 1..255 dims"
        )
    payload = (
        bytes([0, 0, code, array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    )
    if compress is None:
        compress = path.endswith(".gz")
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(payload)
