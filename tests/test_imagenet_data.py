"""ImageNet-scale data: TFDS imagenet2012 without network, class folders with BigGAN's
centre crop + area resize, per-worker sharding (tf.distribute.InputContext), pipeline bench."""

import json
import os
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tfgan_icr import data
from tfgan_icr.data import DataError



class TfganIcrTinyImagenet(tfds.core.GeneratorBasedBuilder):
    """A stand-in for imagenet2012: 12 train images of variable size (8x8 .. 8x13), label =
    index % 3, every pixel 10 * index + 5 (survives any crop or resize); 4 record files."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=["n0", "n1", "n2"]),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(12)}

    def _generate_examples(self, n):
        for i in range(n):
            image = np.full((8, 8 + i % 6, 3), 10 * i + 5, np.uint8)
            yield i, {"image": image, "label": i % 3}


@pytest.fixture(scope="module")
def tiny_imagenet_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("tfgan_icr_tiny_imagenet", data_dir=data_dir).download_and_prepare(
        download_config=tfds.download.DownloadConfig(num_shards=4))
    return data_dir


def first_line(error):
    return str(error).splitlines()[0]


class NeverPreparedBuilder:
    """A stand-in for tfds.builder("imagenet2012"): not prepared; preparing is an error."""

    def __init__(self, name, data_dir):
        self.name, self.data_dir, self.prepare_calls = name, data_dir, 0

    def is_prepared(self):
        return False

    def download_and_prepare(self, **kwargs):
        self.prepare_calls += 1
        raise AssertionError("must not prepare")


def test_imagenet2012_missing_tars_fails_at_once_naming_manual_dir(tmp_path):
    builders = []

    def builder_fn(name, data_dir):
        builders.append(NeverPreparedBuilder(name, data_dir))
        return builders[-1]

    with pytest.raises(DataError) as e:
        data.imagenet2012(data_dir=str(tmp_path), prepare=True, builder_fn=builder_fn)
    manual = os.path.join(str(tmp_path), "downloads", "manual")
    message = first_line(e.value)
    assert f"not in the TFDS manual_dir {manual}" in message
    assert "ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar are" in message
    assert f"`tfds build imagenet2012 --data_dir {tmp_path} --manual_dir {manual}`" in message
    assert builders[0].name == "imagenet2012" and builders[0].prepare_calls == 0

    # Tar files present but preparation not asked for: says how to prepare, prepares nothing.
    own_manual = tmp_path / "tars"
    own_manual.mkdir()
    (own_manual / "ILSVRC2012_img_train.tar").write_bytes(b"")
    with pytest.raises(DataError, match=r"ILSVRC2012_img_val.tar is not in the TFDS manual_dir"):
        data.imagenet2012(data_dir=str(tmp_path), manual_dir=str(own_manual),
                          builder_fn=builder_fn)
    (own_manual / "ILSVRC2012_img_val.tar").write_bytes(b"")
    with pytest.raises(DataError, match=r"not prepared .*tar files are in .*run `tfds build "
                                        r"imagenet2012 .*--manual_dir .*prepare=True"):
        data.get_source("imagenet2012", data_dir=str(tmp_path), manual_dir=str(own_manual),
                        builder_fn=builder_fn)
    assert all(b.prepare_calls == 0 for b in builders)


def test_imagenet2012_real_tfds_builder_offline(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match="not in the TFDS manual_dir"):
        data.get_source("tfds:imagenet2012", data_dir=str(tmp_path))
    assert time.monotonic() - start < 10
    assert not any(tmp_path.iterdir())  # Nothing downloaded or written.


def test_imagenet2012_prepared_streams_with_file_sharding(tiny_imagenet_dir):
    builder = tfds.builder("tfgan_icr_tiny_imagenet", data_dir=tiny_imagenet_dir)
    assert builder.info.splits["train"].num_shards == 4
    source = data.imagenet2012(data_dir=tiny_imagenet_dir,
                               builder_fn=lambda name, data_dir: builder)
    assert source.kind == "stream" and source.name == "tfds:imagenet2012[train]"
    assert source.num_examples == 12 and source.class_index == {"n0": 0, "n1": 1, "n2": 2}
    # Pipeline i of 2 reads record files i and i + 2 (TFDS input_context sharding).
    one_file = [(int(x[0, 0, 0]) - 5) // 10 for x, _ in source.read_shard(4, 1)]
    assert 0 < len(one_file) < 12
    # More pipelines (5) than files (4): element-wise shards, still disjoint and complete.
    fives = [[(int(x[0, 0, 0]) - 5) // 10 for x, _ in source.read_shard(5, i)] for i in range(5)]
    assert sorted(sum(fives, [])) == list(range(12))
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, num_replicas_in_sync=2)
        ds = data.make_dataset(source, 4, image_size=8, repeat=False, shuffle=False,
                               drop_remainder=False, input_context=context,
                               resize_method="center_crop_area")
        batches = [(x.numpy(), y.numpy()) for x, y in ds]
        assert all(len(y) <= 2 for _, y in batches)  # Per-replica batches: 4 / 2 replicas.
        values = [int(v) for x, _ in batches for v in np.round((x[:, 4, 4, 0] + 1) * 127.5)]
        seen.append([(v - 5) // 10 for v in values])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(12))


# ----------------------------------------------------------------------------- class folders


def make_class_folder(root, sizes=((10, 14), (12, 8), (9, 9), (16, 20), (7, 11), (13, 6))):
    """Random RGB PNGs (exact pixels) of the given (h, w) sizes in folders b/, a/, c/ (round
    robin, created in unsorted order); returns {path: (label, pixels)}."""
    rng = np.random.default_rng(3)
    names, expected = ["b", "a", "c"], {}
    for i, (h, w) in enumerate(sizes):
        folder = root / names[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"im{i}.png")
        expected[str(folder / f"im{i}.png")] = (sorted(names).index(names[i % 3]), pixels)
    return expected


def biggan_resize(pixels, size):
    """Hand reference: centred square of the short side, area resize, uint8 rounding."""
    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = pixels[top:top + side, left:left + side].astype(np.float32)
    resized = tf.image.resize(crop, (size, size), method="area").numpy()
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def test_imagenet_folder_labels_and_center_crop_area_resize(tmp_path):
    expected = make_class_folder(tmp_path / "train")
    source = data.imagenet_folder(str(tmp_path / "train"), image_size=4)
    assert source.class_names == ("a", "b", "c")
    assert source.class_index == {"a": 0, "b": 1, "c": 2}
    assert source.image_shape == (4, 4, 3) and source.num_examples == 6
    ds = data.make_dataset(source, 6, image_size=4, shuffle=False, repeat=False,
                           resize_method="center_crop_area")
    images, labels = next(iter(ds))
    for i, path in enumerate(source.files):
        label, pixels = expected[path]
        assert labels[i] == label == source.labels[i]
        want = biggan_resize(pixels, 4).astype(np.float32) / np.float32(127.5) - 1
        np.testing.assert_allclose(images[i].numpy(), want, atol=1e-6)
    # Arrays go through the same crop + area rule (per batch).
    square = np.arange(2 * 6 * 8 * 3, dtype=np.uint8).reshape(2, 6, 8, 3)
    out = data.to_model_images(square, 3, resize_method="center_crop_area").numpy()
    want = np.stack([biggan_resize(p, 3) for p in square]).astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(out, want, atol=1.5 / 127.5)  # uint8 rounding in the reference.


def test_folder_with_a_corrupt_jpeg_names_it(tmp_path):
    make_class_folder(tmp_path, sizes=((8, 8), (8, 8), (8, 8)))
    bad = tmp_path / "c" / "zz.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=f"corrupt image file {bad}"):
        data.image_folder(str(tmp_path), image_size=4)
    source = data.imagenet_folder(str(tmp_path), image_size=4)  # verify="none": lazy.
    found = data.sources.find_undecodable(source)
    assert found is not None and found[0] == str(bad)


# ----------------------------------------------------------------------------- sharding


def ids(x):
    return [int(v) for v in np.round((x[:, 0, 0, 0] + 1) * 127.5)]


def id_arrays(n):
    images = np.zeros((n, 2, 2, 1), np.uint8) + np.arange(n, dtype=np.uint8)[:, None, None, None]
    return data.numpy_arrays(images, np.arange(n) % 5, num_classes=5)


@pytest.mark.parametrize("replicas", [2, 4])  # 4: two replicas per input pipeline.
def test_two_pipelines_split_every_step_and_the_epoch(replicas):
    source, global_batch, steps = id_arrays(24), 8, 3
    full = [ids(x.numpy()) for x, _ in data.make_dataset(source, global_batch, image_size=2,
                                                          seed=5, repeat=False)]
    per_pipeline = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, num_replicas_in_sync=replicas)
        ds = data.make_dataset(source, global_batch, image_size=2, seed=5, repeat=False,
                               input_context=context)
        batches = [ids(x.numpy()) for x, _ in ds]
        assert all(len(b) == global_batch // replicas for b in batches)
        per_pipeline.append(batches)
    per_step = replicas // 2  # Batches each pipeline gives per step.
    for step in range(steps):
        parts = [sum(p[step * per_step:(step + 1) * per_step], []) for p in per_pipeline]
        assert not set(parts[0]) & set(parts[1])
        assert sorted(parts[0] + parts[1]) == sorted(full[step])
    epoch = [sum(p, []) for p in per_pipeline]
    assert not set(epoch[0]) & set(epoch[1])
    assert sorted(epoch[0] + epoch[1]) == list(range(24))


def test_sharded_folder_resume_and_errors(tmp_path):
    for i in range(10):
        (tmp_path / f"k{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(np.full((4, 4, 3), 20 * i, np.uint8)).save(tmp_path / f"k{i % 2}/{i}.png")
    source = data.image_folder(str(tmp_path))
    context = tf.distribute.InputContext(2, 1, num_replicas_in_sync=2)

    def stream(start):
        ds = data.make_dataset(source, 4, image_size=4, seed=1, start_example=start,
                               input_context=context)
        return [ids(x.numpy()) for x, _ in ds.take(6 - start // 4)]

    full = stream(0)
    assert stream(8) == full[2:]  # Resume at step 2 (global batch 4): the same batches.
    seen = sum(full[:5], [])[:5]  # Pipeline 1's half of the first 10 global elements.
    assert len(set(seen)) == 5
    single = [ids(x.numpy()) for x, _ in data.make_dataset(source, 4, image_size=4, seed=1)
              .take(5)]
    unsharded_order = sum(single, [])[:10]
    assert seen == unsharded_order[1::2]
    with pytest.raises(DataError, match="global batch size 5 does not divide among 2 replicas"):
        data.make_dataset(source, 5, image_size=4, input_context=context)
    with pytest.raises(DataError, match="start_example 3 is not a multiple of the 2 input"):
        data.make_dataset(source, 4, image_size=4, start_example=3, input_context=context)


def test_one_pipeline_context_equals_single_process():
    source = id_arrays(20)
    plain = [ids(x.numpy()) for x, _ in data.make_dataset(source, 4, image_size=2, seed=2)
             .take(4)]
    context = tf.distribute.InputContext(1, 0, num_replicas_in_sync=1)
    with_context = [ids(x.numpy()) for x, _ in data.make_dataset(
        source, 4, image_size=2, seed=2, input_context=context).take(4)]
    assert plain == with_context


# ----------------------------------------------------------------------------- bench


def test_pipeline_bench_on_tiny_synthetic_jpegs(tmp_path):
    # Through the command line in its own process: absl flags of tfgan_icr.main and
    # tfgan_icr.bench cannot both be defined in one process (and test_cli imports main).
    from helpers import run_cli

    folder = tmp_path / "synthetic"
    result = run_cli("--mode=pipeline", f"--data_dir={folder}", "--make_synthetic=20", "--image_size=16",
                     "--batch_size=4", "--steps=3", "--warmup=1", module="tfgan_icr.bench")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["num_files"] == 20 and record["num_classes"] == 10
    assert record["output_shape"] == [4, 16, 16, 3] and record["batches"] == 3
    assert record["class_index_head"] == {"class_00": 0, "class_01": 1, "class_02": 2}
    assert record["images_per_second"] > 0 and "area" in record["resize"]
    jpegs = sorted(folder.glob("class_*/*.JPEG"))
    assert len(jpegs) == 20
    with Image.open(jpegs[0]) as im:
        assert im.format == "JPEG" and im.size == (256, 256) and im.mode == "RGB"
    refused = run_cli("--mode=pipeline", f"--data_dir={folder}", "--make_synthetic=5", module="tfgan_icr.bench")
    assert refused.returncode != 0 and "is not empty" in refused.stderr


def test_distribute_datasets_from_function_gives_each_replica_its_half():
    """The contract issue 13 relies on, under MirroredStrategy on 2 logical CPUs (subprocess:
    logical devices must be set before TensorFlow starts)."""
    import subprocess
    import sys
    import textwrap

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        from tfgan_icr import data
        from tfgan_icr.training.distribute import make_strategy

        strategy = make_strategy("mirrored", logical_cpus=2)
        images = np.arange(12, dtype=np.uint8)[:, None, None, None] + np.zeros((1, 2, 2, 1), np.uint8)
        source = data.numpy_arrays(images, np.arange(12), num_classes=12)
        plain = [y.numpy().tolist() for _, y in data.make_dataset(source, 6, image_size=2, seed=4).take(3)]
        dist = strategy.distribute_datasets_from_function(
            lambda ctx: data.make_dataset(source, 6, image_size=2, seed=4, input_context=ctx))
        it = iter(dist)
        for step in range(3):
            _, labels = next(it)
            parts = [t.numpy().tolist() for t in strategy.experimental_local_results(labels)]
            assert [len(p) for p in parts] == [3, 3], parts
            assert sorted(parts[0] + parts[1]) == sorted(plain[step]), (parts, plain[step])
        print("ok")
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=root, env=env)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
