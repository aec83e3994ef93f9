"""The input pipeline: a `Source` -> batches of (images in [-1, 1], int32 labels).

Order of examples (random-access sources: arrays and image files)
  The pipeline is a stream of example indices. Epoch e visits a permutation of range(N)
  drawn from a stateless RNG seeded by (seed, e) (the identity when shuffle=False); epochs
  follow each other without gaps and batches may span an epoch boundary. The stream starts
  at global element `start_example` (epoch start_example // N, offset start_example % N), so
  a run resumed at step s with start_example = s * global_batch_size sees exactly the batches
  an uninterrupted run would have seen from step s on. Only the cheap index stream is
  skipped; images are gathered (arrays) or read and decoded (files) after that.

Order of examples (streams: TFDS with in_memory=False)
  A shuffle buffer seeded by (seed, start_example). Resume is NOT exact: a resumed run sees a
  different (still random) order.

Images
  Stored images stay uint8 in memory; conversion to float32 [-1, 1] (x / 127.5 - 1), channel
  conversion and spatial resizing run once per batch (vectorised: faster than per example).
  Spatial rule `resize_method`:
    "pad_or_resize" (default): pad with black (-1) when the target is larger than the image
        by an even margin in both dimensions (Fashion-MNIST 28x28 -> 32x32 adds 2 px each
        side), else bilinear resize (antialiased when shrinking);
    "pad": pad with black, centred (odd margins put the extra pixel bottom/right); error if
        the target is smaller;
    "resize": always bilinear resize (aspect ratio not kept);
    "center_crop_resize": crop the largest centred region with the target's aspect ratio,
        then bilinear resize (for non-square photos such as CelebA);
    "center_crop_area": the same crop (a square target: the centred square of the short
        side), then area resize (tf.image.resize method="area"), as BigGAN's ImageNet
        preparation does. Image files and variable-size streams are cropped and resized one by
        one straight after decoding, so a batch holds only target-size images.
  channels: None keeps the source's, 3 repeats grayscale, 1 converts RGB to luma.

Per-worker sharding (`input_context`, for tf.distribute's distribute_datasets_from_function)
  Input pipeline i of P keeps the elements of the global stream above at positions congruent
  to i modulo P (random-access sources: the index stream is sharded before anything is read,
  so each file is read by one pipeline only; TFDS streams: each pipeline reads its own record
  files) and batches them into per-replica batches. In each step the P pipelines read
  disjoint examples; for random-access sources they together consume exactly the global
  batch the unsharded pipeline would give (so resume stays exact).
"""

from __future__ import annotations

import numpy as np
import gin
import tensorflow as tf

from tfgan_icr.data.sources import _size_pair, get_source
from tfgan_icr.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE
RESIZE_METHODS = ("pad_or_resize", "pad", "resize", "center_crop_resize", "center_crop_area")
_CROPPING_METHODS = ("center_crop_resize", "center_crop_area")
_MAX_EPOCHS = 2**62


def epoch_permutation(num_examples: int, seed: int, epoch) -> tf.Tensor:
    """The order (int64 [num_examples]) in which epoch `epoch` visits the examples."""
    seeds = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(
        tf.range(num_examples, dtype=tf.int64), seed=seeds)


def index_stream(num_examples: int, seed: int = 0, start_example: int = 0,
                 repeat: bool = True, shuffle: bool = True) -> tf.data.Dataset:
    """Example indices (int64 scalars) from global element `start_example` on.

    Without `repeat` the stream ends at the end of the epoch holding `start_example`.
    """
    first_epoch, offset = divmod(int(start_example), int(num_examples))
    last_epoch = _MAX_EPOCHS if repeat else first_epoch + 1

    def epoch_indices(epoch):
        if shuffle:
            order = epoch_permutation(num_examples, seed, epoch)
        else:
            order = tf.range(num_examples, dtype=tf.int64)
        begin = tf.where(tf.equal(epoch, first_epoch), tf.constant(offset, tf.int64),
                         tf.constant(0, tf.int64))
        return tf.data.Dataset.from_tensor_slices(order[begin:])

    return tf.data.Dataset.range(first_epoch, last_epoch).flat_map(epoch_indices)


def _spatial(images: tf.Tensor, size: tuple[int, int], method: str) -> tf.Tensor:
    """Brings a float batch [B, h, w, C] in [-1, 1] (h, w static) to `size`."""
    h, w = images.shape[1], images.shape[2]
    th, tw = size
    if (h, w) == (th, tw):
        return images
    larger = th >= h and tw >= w
    if method == "pad" or (method == "pad_or_resize" and larger
                           and (th - h) % 2 == 0 and (tw - w) % 2 == 0):
        if not larger:
            raise DataError(f"cannot pad {h}x{w} images to the smaller {th}x{tw}: use "
                            "resize_method='pad_or_resize' or 'resize'")
        top, left = (th - h) // 2, (tw - w) // 2
        return tf.pad(images, [[0, 0], [top, th - h - top], [left, tw - w - left], [0, 0]],
                      constant_values=-1.0)
    if method in _CROPPING_METHODS:
        # Largest centred crop with the target's aspect ratio.
        ch, cw = (h, round(h * tw / th)) if w * th >= h * tw else (round(w * th / tw), w)
        ch, cw = max(1, min(h, ch)), max(1, min(w, cw))
        top, left = (h - ch) // 2, (w - cw) // 2
        images = images[:, top:top + ch, left:left + cw, :]
    if method == "center_crop_area":
        return tf.image.resize(images, (th, tw), method="area")
    return tf.image.resize(images, (th, tw), method="bilinear", antialias=True)


def to_model_images(images: tf.Tensor, image_size, channels: int | None = None,
                    value_range=(0, 255), resize_method: str = "pad_or_resize") -> tf.Tensor:
    """Converts a batch of stored images [B, h, w, c] to float32 [B, H, W, C] in [-1, 1].

    Args:
      images: uint8 (value_range (0, 255)) or float images with static h, w, c.
      image_size: int or (H, W).
      channels: None (keep c), 1 or 3.
      value_range: (low, high) of the stored values: (0, 255), (0, 1) or (-1, 1).
      resize_method: see the module docstring.
    """
    size = _size_pair(image_size, "image_size")
    lo, hi = (float(v) for v in value_range)
    x = tf.cast(images, tf.float32)
    if (lo, hi) != (-1.0, 1.0):
        # x / 127.5 - 1 for uint8: maps 0 -> -1 and 255 -> 1 exactly.
        x = (x - lo) / ((hi - lo) / 2.0) - 1.0
    c = x.shape[-1]
    if channels not in (None, c):
        if channels == 3 and c == 1:
            x = tf.repeat(x, 3, axis=-1)
        elif channels == 1 and c == 3:
            x = tf.image.rgb_to_grayscale(x)
        else:
            raise DataError(f"cannot convert {c}-channel images to {channels} channels: use "
                            "channels None, 1 or 3")
    x = _spatial(x, size, resize_method)
    return tf.clip_by_value(x, -1.0, 1.0)


def _resize_uint8(image: tf.Tensor, size: tuple[int, int], area: bool = False) -> tf.Tensor:
    if area:
        resized = tf.image.resize(image, size, method="area")
    else:
        resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _center_crop(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Largest centred crop of one [h, w, c] image (dynamic size) with the aspect of `size`."""
    shape = tf.shape(image, out_type=tf.int64)
    h, w = shape[0], shape[1]
    th, tw = size
    wide = w * th >= h * tw
    ch = tf.where(wide, h, tf.maximum(w * th // tw, 1))
    cw = tf.where(wide, tf.maximum(h * tw // th, 1), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top:top + ch, left:left + cw, :]


def _fixed_size(image: tf.Tensor, size: tuple[int, int], channels: int,
                crop: bool = False, area: bool = False) -> tf.Tensor:
    """Resizes one uint8 [h, w, c] image of dynamic size to `size` (skipped when equal)."""
    if crop:
        image = _center_crop(image, size)
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size[0]), tf.equal(shape[1], size[1]))
    image = tf.cond(same, lambda: image, lambda: _resize_uint8(image, size, area))
    return tf.ensure_shape(image, [size[0], size[1], channels])


def _stream_seed(seed: int, start_example: int) -> int:
    state = np.random.SeedSequence([int(seed), int(start_example)]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@gin.configurable
def make_dataset(source, batch_size: int, image_size=32, channels: int | None = None,
                 seed: int = 0, start_example: int = 0, repeat: bool = True,
                 shuffle: bool = True, drop_remainder: bool = True,
                 resize_method: str = "pad_or_resize", shuffle_buffer: int = 10_000,
                 num_parallel_calls: int = AUTOTUNE,
                 input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Batches of (float32 images [B, H, W, C] in [-1, 1], int32 labels [B]).

    Contract with `input_context` (for `strategy.distribute_datasets_from_function`:
    `lambda ctx: make_dataset(source, global_batch, ..., input_context=ctx)`):
      * `batch_size` stays the GLOBAL batch size and `start_example` the global element
        index (resume: step * global batch size, a multiple of num_input_pipelines);
      * the dataset yields per-replica batches of
        `input_context.get_per_replica_batch_size(batch_size)` examples (DataError if the
        global batch does not divide among the replicas);
      * pipeline `input_pipeline_id` of `num_input_pipelines` keeps the positions of the
        global stream congruent to its id modulo num_input_pipelines (module docstring), so
        in each step the pipelines' batches are disjoint and together are the global batch of
        the unsharded pipeline (up to order); over one epoch of a random-access source their
        union is the whole data set. Random-access sources shard by index (files are read
        by one pipeline only); TFDS streams by record file (element-wise when a split has
        fewer files than pipelines); other streams element-wise. Resume stays exact for
        random-access sources; streams keep their documented limit (not exact).
    Without `input_context` (or with one pipeline and one replica) the result is exactly the
    single-process pipeline.

    Args:
      source: a `Source`, or a name for `get_source` ("fashion_mnist", "tfds:cifar10", a path).
      batch_size: examples per batch (the global batch size under a distribution strategy).
      image_size: int or (H, W) of the output images.
      channels: None keeps the source's channels; 3 repeats grayscale; 1 converts RGB to gray.
      seed: shuffling seed.
      start_example: global index of the first element (resume: step * batch_size).
      repeat: run through epochs forever; False stops after the epoch holding start_example.
      shuffle: shuffle (random-access sources: a fresh permutation per epoch).
      drop_remainder: drop a last partial batch (only happens when repeat=False).
      resize_method: "pad_or_resize", "pad", "resize" or "center_crop_resize" (module doc).
      shuffle_buffer: shuffle buffer size for streaming sources (unused otherwise).
      num_parallel_calls: parallelism of the decode/convert maps.
      input_context: a tf.distribute.InputContext (see above), or None.

    Labels are all zeros when the source has none.
    """
    source = get_source(source)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DataError(f"make_dataset batch_size must be a positive int, got {batch_size!r}")
    size = _size_pair(image_size, "make_dataset image_size")
    if channels not in (None, 1, 3):
        raise DataError(f"make_dataset channels must be None, 1 or 3, got {channels!r}")
    if resize_method not in RESIZE_METHODS:
        raise DataError(f"unknown resize_method {resize_method!r}: use one of {RESIZE_METHODS}")
    if not isinstance(start_example, (int, np.integer)) or start_example < 0:
        raise DataError(f"make_dataset start_example must be an int >= 0, got {start_example!r}")
    if (resize_method == "pad" and source.image_shape[0] is not None
            and (size[0] < source.image_shape[0] or size[1] < source.image_shape[1])):
        raise DataError(f"cannot pad {source.name} images of {source.image_shape[:2]} to the "
                        f"smaller {size}: use resize_method 'pad_or_resize' or 'resize'")
    batch_size = int(batch_size)
    num_pipelines, pipeline_id = 1, 0
    if input_context is not None:
        num_pipelines = int(input_context.num_input_pipelines)
        pipeline_id = int(input_context.input_pipeline_id)
        try:
            batch_size = int(input_context.get_per_replica_batch_size(batch_size))
        except ValueError as e:
            raise DataError(
                f"global batch size {batch_size} does not divide among "
                f"{input_context.num_replicas_in_sync} replicas: use a multiple of it") from e
        if start_example % num_pipelines:
            raise DataError(f"start_example {start_example} is not a multiple of the "
                            f"{num_pipelines} input pipelines: resume at step * global batch")

    def indices():
        stream = index_stream(source.num_examples, seed, start_example, repeat, shuffle)
        return stream.shard(num_pipelines, pipeline_id) if num_pipelines > 1 else stream

    def convert(images):
        return to_model_images(images, size, channels, source.value_range, resize_method)

    map_kw = dict(num_parallel_calls=num_parallel_calls, deterministic=True)
    if source.kind == "arrays":
        images = tf.constant(source.images)  # Captured by the map, not copied into the graph.
        labels = tf.constant(source.labels) if source.labeled else None

        def gather(idx):
            batch_labels = (tf.gather(labels, idx) if labels is not None
                            else tf.zeros(tf.shape(idx), tf.int32))
            return convert(tf.gather(images, idx)), batch_labels

        ds = indices().batch(batch_size, drop_remainder=drop_remainder).map(gather, **map_kw)
    elif source.kind == "files":
        h, w, c = source.image_shape
        files = tf.constant(list(source.files))
        labels = tf.constant(source.labels) if source.labeled else None
        crop = resize_method in _CROPPING_METHODS  # Keep the aspect ratio of odd-sized files.
        area = resize_method == "center_crop_area"
        if area:  # Straight from the decoded file to the target size, in one area resize.
            h, w = size

        def load(idx):
            data = tf.io.read_file(tf.gather(files, idx))
            image = tf.io.decode_image(data, channels=c, expand_animations=False)
            label = tf.gather(labels, idx) if labels is not None else tf.constant(0, tf.int32)
            return _fixed_size(image, (h, w), c, crop, area), label

        ds = indices().map(load, **map_kw).batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(lambda x, y: (convert(x), y), **map_kw)
    else:
        h, w, c = source.image_shape
        ds = source.dataset
        if num_pipelines > 1:
            ds = (source.read_shard(num_pipelines, pipeline_id) if source.read_shard
                  else ds.shard(num_pipelines, pipeline_id))
        if shuffle:  # Before repeat: every epoch visits each example once.
            ds = ds.shuffle(min(shuffle_buffer, source.num_examples),
                            seed=_stream_seed(seed, start_example), reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if h is None or w is None:
            crop = resize_method in _CROPPING_METHODS
            area = resize_method == "center_crop_area"
            ds = ds.map(lambda x, y: (_fixed_size(x, size, c, crop, area), y), **map_kw)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(lambda x, y: (convert(x), y), **map_kw)
    options = tf.data.Options()
    options.deterministic = True
    return ds.prefetch(AUTOTUNE).with_options(options)

