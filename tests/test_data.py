"""Tests for tfgan_icr.data: IDX reader, sources and the input pipeline."""

import gzip
import os
import struct
import time

import gin
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tfgan_icr import data
from tfgan_icr.data import DataError
from tfgan_icr.errors import TfganError

FMNIST_DIR = data.FASHION_MNIST_DIR
needs_fmnist = pytest.mark.skipif(
    not os.path.isfile(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz")),
    reason="Debian package dataset-fashion-mnist not installed")


def take(ds, n):
    """First n batches as numpy (images, labels)."""
    out = [(x.numpy(), y.numpy()) for x, y in ds.take(n)]
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def first_line(error):
    return str(error).splitlines()[0]


def id_source(n=100, shape=(4, 4, 1)):
    """Arrays whose label is the example index, and whose pixels encode it too."""
    images = np.zeros((n,) + shape, np.uint8) + (np.arange(n) % 256).astype(np.uint8)[
        :, None, None, None]
    return data.numpy_arrays(images, np.arange(n), num_classes=n, name="ids")


# ------------------------------------------------------------------------------------ IDX


@needs_fmnist
def test_read_idx_real_fashion_mnist_files():
    labels = data.read_idx(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz"))
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels.min() == 0 and labels.max() == 9
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    images = data.read_idx(os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    head = data.read_idx(os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz"), limit=7)
    np.testing.assert_array_equal(head, images[:7])


def test_read_idx_synthetic_hand_written(tmp_path):
    # Header written by hand (not by write_idx): int16, 2 dims (3, 2), big-endian values.
    values = np.array([[1, -2], [300, 4], [-32768, 32767]], np.int16)
    raw = bytes([0, 0, 0x0B, 2]) + struct.pack(">II", 3, 2) + values.astype(">i2").tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    with gzip.open(tmp_path / "a.idx.gz", "wb") as f:
        f.write(raw)
    for name in ("a.idx", "a.idx.gz"):
        out = data.read_idx(tmp_path / name)
        assert out.dtype == np.int16 and out.dtype.isnative
        np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize("array", [
    np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5),
    np.array([0.5, -1.25, 3e9], np.float32),
    np.array([-7, 1 << 30], np.int32),
])
def test_write_read_idx_round_trip(tmp_path, array):
    path = tmp_path / "x.idx.gz"
    data.write_idx(path, array)
    out = data.read_idx(path)
    assert out.dtype == array.dtype
    np.testing.assert_array_equal(out, array)


def test_read_idx_rejects_bad_files(tmp_path):
    good = tmp_path / "good.idx"
    data.write_idx(good, np.zeros((10, 4, 4), np.uint8))
    raw = good.read_bytes()
    cases = {
        "truncated.idx": raw[:-5],
        "short_header.idx": raw[:6],
        "bad_magic.idx": b"\x01\x02\x08\x03" + raw[4:],
        "bad_type.idx": b"\x00\x00\x07\x03" + raw[4:],
        "trailing.idx": raw + b"\x00",
        "truncated.idx.gz": gzip.compress(raw)[:-20],
        "garbage.idx.gz": b"\x1f\x8b" + os.urandom(100),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=name.replace(".", r"\.")):
            data.read_idx(tmp_path / name)
    with pytest.raises(DataError, match="does not exist"):
        data.read_idx(tmp_path / "missing.idx")
    assert issubclass(DataError, TfganError)


# ------------------------------------------------------------------------------------ sources


def test_fashion_mnist_missing_dir_says_how_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as e:
        data.fashion_mnist(data_dir=str(tmp_path / "nowhere"))
    # The problem and the fix are on the first line (gin appends its call context below).
    assert "fashion_mnist.data_dir" in first_line(e.value)
    assert "apt-get install" in first_line(e.value)
    with pytest.raises(DataError, match="split"):
        data.fashion_mnist(split="validation")


def test_fashion_mnist_from_synthetic_idx_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = np.arange(12, dtype=np.uint8) % 10
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)  # Not gzipped: also accepted.
    source = data.fashion_mnist("test", data_dir=str(tmp_path))
    assert source.kind == "arrays" and source.num_examples == 12 and source.num_classes == 10
    np.testing.assert_array_equal(source.images[..., 0], images)
    assert source.labels.dtype == np.int32
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:11])
    with pytest.raises(DataError, match="labels"):
        data.fashion_mnist("test", data_dir=str(tmp_path))


@needs_fmnist
def test_fashion_mnist_source():
    source = data.fashion_mnist(limit=500)
    assert (source.num_examples, source.num_classes, source.image_shape) == (500, 10, (28, 28, 1))
    assert source.images.dtype == np.uint8 and source.images.shape == (500, 28, 28, 1)
    assert source.labels.dtype == np.int32 and source.labels.max() <= 9
    assert source.class_names[9] == "Ankle boot"
    assert "500 examples" in data.describe(source) and "10 classes" in data.describe(source)


def test_numpy_arrays_validation():
    src = data.numpy_arrays(np.zeros((5, 8, 8), np.uint8))
    assert src.image_shape == (8, 8, 1) and src.num_classes == 0 and src.labels is None
    src = data.numpy_arrays(np.zeros((5, 8, 8, 3), np.uint8), [0, 1, 2, 1, 0])
    assert src.num_classes == 3
    src = data.numpy_arrays(np.full((2, 4, 4, 3), -0.5, np.float64))
    assert src.value_range == (-1.0, 1.0) and src.images.dtype == np.float32
    assert data.numpy_arrays(np.full((2, 4, 4, 3), 0.5)).value_range == (0.0, 1.0)
    bad = [
        dict(images=np.zeros((5, 8), np.uint8)),                        # 2-D
        dict(images=np.zeros((5, 8, 8, 2), np.uint8)),                  # 2 channels
        dict(images=np.zeros((0, 8, 8, 1), np.uint8)),                  # empty
        dict(images=np.zeros((5, 8, 8, 1), np.int64)),                  # wrong dtype
        dict(images=np.full((5, 8, 8, 1), 3.0)),                        # float out of range
        dict(images=np.full((5, 8, 8, 1), np.nan)),                     # NaN
        dict(images=np.zeros((5, 8, 8, 1), np.uint8), labels=[0, 1]),   # label count
        dict(images=np.zeros((2, 8, 8, 1), np.uint8), labels=[0, 5], num_classes=3),
        dict(images=np.zeros((2, 8, 8, 1), np.uint8), labels=[-1, 0]),
        dict(images=np.zeros((2, 8, 8, 1), np.uint8), num_classes=3),   # classes, no labels
    ]
    for kwargs in bad:
        with pytest.raises(DataError):
            data.numpy_arrays(**kwargs)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'foo': known sources are"):
        data.get_source("foo")
    with pytest.raises(DataError, match="unknown dataset"):
        data.make_dataset("no/such/folder", batch_size=4)
    with pytest.raises(DataError):
        data.get_source(42)


# ------------------------------------------------------------------------------------ image folder


def _save(path, array, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)


def make_folder(root):
    """cat/ (2 gray PNG), dog/ (RGB PNG + RGB JPEG with upper-case extension), all 6x6 or 8x8.

    Every image is constant; its value identifies it: cat 10, 20; dog 100, 200.
    """
    _save(root / "cat" / "a.png", np.full((6, 6), 10, np.uint8))
    _save(root / "cat" / "b.png", np.full((6, 6), 20, np.uint8))
    _save(root / "dog" / "c.png", np.full((6, 6, 3), 100, np.uint8))
    _save(root / "dog" / "d.JPG", np.full((8, 8, 3), 200, np.uint8), quality=100)
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_labels_and_decoding(tmp_path):
    root = make_folder(tmp_path / "pets")
    source = data.get_source(str(root))
    assert source.kind == "files" and source.num_examples == 4
    assert source.class_names == ("cat", "dog") and source.num_classes == 2
    assert source.image_shape == (6, 6, 3)  # First image's size; RGB because some are RGB.
    np.testing.assert_array_equal(source.labels, [0, 0, 1, 1])
    ds = data.make_dataset(source, batch_size=4, image_size=6, shuffle=False, repeat=False)
    (images, labels), = [(x.numpy(), y.numpy()) for x, y in ds]
    assert images.shape == (4, 6, 6, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
    expected = np.array([10, 20, 100, 200]) / 127.5 - 1
    # Gray files become RGB with equal channels; the 8x8 JPEG is resized (constant stays ~constant).
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), expected, atol=2 / 127.5)
    assert np.ptp(images, axis=(1, 2, 3)).max() < 2 / 127.5
    # Shuffled: labels follow their images.
    x, y = next(iter(data.make_dataset(source, batch_size=4, image_size=6, seed=3)))
    values = (x.numpy().mean(axis=(1, 2, 3)) + 1) * 127.5
    np.testing.assert_array_equal(y.numpy(), (values > 60).astype(int))
    np.testing.assert_allclose(np.sort(values), [10, 20, 100, 200], atol=2)


def test_image_folder_unlabeled_gray_and_size(tmp_path):
    for i in range(3):
        _save(tmp_path / f"{i}.png", np.full((10, 12), 50 * i, np.uint8))
    source = data.image_folder(str(tmp_path), image_size=(5, 6))
    assert source.num_classes == 0 and source.labels is None and source.image_shape == (5, 6, 1)
    x, y = next(iter(data.make_dataset(source, batch_size=3, image_size=(5, 6), shuffle=False)))
    assert x.shape == (3, 5, 6, 1) and list(y.numpy()) == [0, 0, 0]
    np.testing.assert_allclose(x.numpy()[:, 0, 0, 0], np.array([0, 50, 100]) / 127.5 - 1,
                               atol=1e-6)


def test_image_folder_corrupt_files_are_named(tmp_path):
    root = make_folder(tmp_path / "pets")
    png = (root / "cat" / "a.png").read_bytes()
    jpg = (root / "dog" / "d.JPG").read_bytes()
    damaged = {
        "cat/a.png": png[: len(png) // 2],                          # truncated PNG
        "cat/b.png": png[:40] + bytes([png[40] ^ 0xFF]) + png[41:],  # flipped bit: CRC fails
        "dog/c.png": b"this is not a png at all",
        "dog/d.JPG": jpg[: len(jpg) - 30],                           # truncated JPEG
    }
    for rel, content in damaged.items():
        original = (root / rel).read_bytes()
        (root / rel).write_bytes(content)
        with pytest.raises(DataError, match="corrupt image file .*" + rel.split("/")[1]) as e:
            data.image_folder(str(root))
        assert rel.split("/")[1] in first_line(e.value)
        (root / rel).write_bytes(original)
    data.image_folder(str(root))  # All restored: fine again.


def test_image_folder_layout_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.image_folder(str(tmp_path / "missing"))
    with pytest.raises(DataError, match="no .png"):
        data.image_folder(str(tmp_path))
    (tmp_path / "empty_class").mkdir()
    _save(tmp_path / "full_class" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="empty_class"):
        data.image_folder(str(tmp_path))


# ------------------------------------------------------------------------------------ pipeline


@needs_fmnist
def test_pipeline_fashion_mnist_shapes_range_and_padding():
    source = data.fashion_mnist(limit=256)
    ds = data.make_dataset(source, batch_size=64, image_size=32, shuffle=False)
    assert ds.element_spec[0].shape.as_list() == [64, 32, 32, 1]
    x, y = next(iter(ds))
    assert x.dtype == tf.float32 and y.dtype == tf.int32 and y.shape == (64,)
    x = x.numpy()
    assert x.min() == -1.0 and x.max() == 1.0
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (x[:, border, 0] == -1.0).all()
    np.testing.assert_array_equal(x[:, 2:30, 2:30, :], source.images[:64] / np.float32(127.5) - 1)
    np.testing.assert_array_equal(y.numpy(), source.labels[:64])
    # RGB output repeats the gray channel.
    x3, _ = next(iter(data.make_dataset(source, 8, channels=3, shuffle=False)))
    assert x3.shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(x3.numpy()[..., 0], x3.numpy()[..., 2])
    # 28 -> 31 is an odd margin: bilinear resize instead of padding.
    xr, _ = next(iter(data.make_dataset(source, 8, image_size=31, shuffle=False)))
    assert xr.shape == (8, 31, 31, 1) and -1 <= xr.numpy().min() and xr.numpy().max() <= 1


def test_pipeline_channels_and_resize_methods():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 10, 20, 3), dtype=np.uint8)
    source = data.numpy_arrays(rgb)
    x, y = next(iter(data.make_dataset(source, 6, image_size=(10, 20), channels=1,
                                       shuffle=False)))
    expected = tf.image.rgb_to_grayscale(rgb / 127.5 - 1).numpy()
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-5)
    assert not y.numpy().any()
    x, _ = next(iter(data.make_dataset(source, 6, image_size=8, shuffle=False,
                                       resize_method="center_crop_resize")))
    assert x.shape == (6, 8, 8, 3)
    direct = tf.image.resize(rgb[:, :, 5:15] / 127.5 - 1, (8, 8), antialias=True).numpy()
    np.testing.assert_allclose(x.numpy(), direct, atol=1e-5)
    x, _ = next(iter(data.make_dataset(source, 6, image_size=(11, 23), resize_method="pad",
                                       shuffle=False)))
    assert (x.numpy()[:, -1] == -1).all() and (x.numpy()[:, :, :1] == -1).all()
    with pytest.raises(DataError, match="pad"):
        data.make_dataset(source, 6, image_size=8, resize_method="pad")
    with pytest.raises(DataError, match="resize_method"):
        data.make_dataset(source, 6, resize_method="nearest")
    floats = data.numpy_arrays(np.linspace(0, 1, 2 * 4 * 4).reshape(2, 4, 4, 1))
    x, _ = next(iter(data.make_dataset(floats, 2, image_size=4, shuffle=False)))
    np.testing.assert_allclose(x.numpy().ravel(), np.linspace(-1, 1, 32), atol=1e-6)


def test_pipeline_deterministic_under_seed():
    source = id_source(100)
    a = take(data.make_dataset(source, 16, image_size=4, seed=1), 8)
    b = take(data.make_dataset(source, 16, image_size=4, seed=1), 8)
    c = take(data.make_dataset(source, 16, image_size=4, seed=2), 8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    unshuffled = take(data.make_dataset(source, 10, image_size=4, shuffle=False), 12)[1]
    np.testing.assert_array_equal(unshuffled.ravel(), np.arange(120) % 100)


def test_epoch_covers_every_example_once():
    n = 100
    labels = take(data.make_dataset(id_source(n), 20, image_size=4, seed=5), 15)[1].ravel()
    epochs = labels.reshape(3, n)
    for epoch in epochs:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
    assert not np.array_equal(epochs[0], epochs[1])  # A fresh permutation every epoch.
    np.testing.assert_array_equal(epochs[1], data.epoch_permutation(n, 5, 1).numpy())
    # Pixels travel with their labels.
    images, labels = take(data.make_dataset(id_source(n), 20, image_size=4, seed=5), 5)
    np.testing.assert_array_equal(images[..., 0, 0, 0],
                                  labels.astype(np.float32) / np.float32(127.5) - 1)


@pytest.mark.parametrize("k", [3, 6, 7])  # 7 * 16 = 112: resumes inside the second epoch.
def test_resume_equals_uninterrupted_stream(k):
    source, batch = id_source(100), 16
    full = take(data.make_dataset(source, batch, image_size=4, seed=9), 14)
    resumed = take(data.make_dataset(source, batch, image_size=4, seed=9,
                                     start_example=k * batch), 14 - k)
    np.testing.assert_array_equal(resumed[1], full[1][k:])
    np.testing.assert_array_equal(resumed[0], full[0][k:])


def test_resume_image_folder(tmp_path):
    for i in range(7):
        _save(tmp_path / f"{i}.png", np.full((4, 4), 30 * i, np.uint8))
    source = data.image_folder(str(tmp_path))
    full = take(data.make_dataset(source, 3, image_size=4, seed=4), 6)[0]
    resumed = take(data.make_dataset(source, 3, image_size=4, seed=4, start_example=9), 3)[0]
    np.testing.assert_array_equal(resumed, full[3:])
    first_epoch = np.round((full.reshape(-1, 16)[:7, 0] + 1) * 127.5)
    np.testing.assert_array_equal(np.sort(first_epoch), 30 * np.arange(7))


def test_repeat_false_and_remainder():
    source = id_source(10)
    ds = data.make_dataset(source, 4, image_size=4, repeat=False, shuffle=False,
                           drop_remainder=False, start_example=23)
    labels = [y.numpy().tolist() for _, y in ds]
    assert labels == [[3, 4, 5, 6], [7, 8, 9]]  # Rest of epoch 2 (23 = 2 * 10 + 3).
    ds = data.make_dataset(source, 4, image_size=4, repeat=False, seed=1)
    assert sum(int(y.shape[0]) for _, y in ds) == 8


def test_pipeline_argument_errors():
    source = id_source(10)
    for kwargs in (dict(batch_size=0), dict(batch_size=4, channels=2),
                   dict(batch_size=4, start_example=-1), dict(batch_size=4, image_size=0)):
        with pytest.raises(DataError):
            data.make_dataset(source, **kwargs)


@needs_fmnist
def test_gin_configures_source_and_pipeline():
    try:
        gin.parse_config("""
            fashion_mnist.limit = 40
            make_dataset.source = 'fashion_mnist'
            make_dataset.batch_size = 8
            make_dataset.shuffle = False
        """)
        x, y = next(iter(data.make_dataset()))
    finally:
        gin.clear_config()
    assert x.shape == (8, 32, 32, 1)
    np.testing.assert_array_equal(y.numpy(), data.fashion_mnist(limit=8).labels)


# ------------------------------------------------------------------------------------ TFDS


class TfganIcrTinyImages(tfds.core.GeneratorBasedBuilder):
    """12 train + 5 test 8x8 RGB images; label = index % 3; pixel [0, 0, 0] = index."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 3)),
            "label": tfds.features.ClassLabel(names=["a", "b", "c"]),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(12), "test": self._generate_examples(5)}

    def _generate_examples(self, n):
        for i in range(n):
            image = np.full((8, 8, 3), 100, np.uint8)
            image[0, 0, 0] = i
            yield i, {"image": image, "label": i % 3}


@pytest.fixture(scope="module")
def tiny_tfds_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("tfgan_icr_tiny_images", data_dir=data_dir).download_and_prepare()
    return data_dir


def test_tfds_not_prepared_fails_fast_without_network(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match=r"not prepared .*tfds build cifar10.*download=True") as e:
        data.get_source("tfds:cifar10", data_dir=str(tmp_path))
    assert time.monotonic() - start < 10
    assert "tfds build cifar10" in first_line(e.value)
    assert not any(tmp_path.iterdir())  # Nothing downloaded or written.
    with pytest.raises(DataError, match="not prepared .*tfds build cifar10"):
        data.tfds_dataset("cifar10:3.0.2", data_dir=str(tmp_path))
    with pytest.raises(DataError, match="unknown TFDS dataset 'no_such_dataset_xyz'"):
        data.tfds_dataset("no_such_dataset_xyz", data_dir=str(tmp_path))
    with pytest.raises(DataError, match="network"):
        data.tfds_dataset("huggingface:mnist", data_dir=str(tmp_path))


def test_tfds_prepared_in_memory(tiny_tfds_dir):
    source = data.get_source("tfds:tfgan_icr_tiny_images", data_dir=tiny_tfds_dir)
    assert source.kind == "arrays" and source.num_examples == 12 and source.num_classes == 3
    assert source.image_shape == (8, 8, 3) and source.class_names == ("a", "b", "c")
    ids = source.images[:, 0, 0, 0].astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(12))
    np.testing.assert_array_equal(source.labels, ids % 3)
    x, y = next(iter(data.make_dataset(source, 6, image_size=8, seed=0)))
    assert x.shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(y.numpy(), np.round((x.numpy()[:, 0, 0, 0] + 1) * 127.5) % 3)
    test = data.tfds_dataset("tfgan_icr_tiny_images", split="test", data_dir=tiny_tfds_dir)
    assert test.num_examples == 5
    with pytest.raises(DataError, match="no split 'validation'"):
        data.tfds_dataset("tfgan_icr_tiny_images", split="validation", data_dir=tiny_tfds_dir)
    with pytest.raises(DataError, match="no feature 'img'"):
        data.tfds_dataset("tfgan_icr_tiny_images", image_key="img", data_dir=tiny_tfds_dir)


def test_tfds_prepared_streaming(tiny_tfds_dir):
    source = data.tfds_dataset("tfgan_icr_tiny_images", data_dir=tiny_tfds_dir,
                               in_memory=False)
    assert source.kind == "stream" and not source.random_access and source.num_examples == 12
    assert "streamed" in data.describe(source)
    ds = data.make_dataset(source, 4, image_size=16, seed=2)
    a, b = take(ds, 6), take(data.make_dataset(source, 4, image_size=16, seed=2), 6)
    np.testing.assert_array_equal(a[1], b[1])
    x, y = a[0], a[1]
    assert x.shape == (6, 4, 16, 16, 3) and y.dtype == np.int32
    ids = np.round((x[:, :, 4, 4, 0] + 1) * 127.5)  # 8 -> 16 is padded: pixel (0,0) at (4,4).
    np.testing.assert_array_equal(y, ids % 3)
    np.testing.assert_array_equal(np.sort(ids.ravel()[:12]), np.arange(12))
