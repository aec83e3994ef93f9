"""Data sources: small descriptions of finite, unshuffled image data sets.

A `Source` holds one of three kinds of storage:

* ``"arrays"``: images in memory as a numpy array [N, H, W, C] (uint8, or float32 with the
  `value_range` it was given in), labels int32 [N];
* ``"files"``: PNG/JPEG file paths decoded lazily by the pipeline, labels int32 [N];
* ``"stream"``: a `tf.data.Dataset` of (image uint8 [H, W, C], label int32) pairs, for large
  TFDS data sets read without loading them into memory. No random access.

Sources never shuffle, resize or batch: `tfgan_icr.data.make_dataset` does that. The factory
functions below are gin-configurable; `get_source` maps a name ("fashion_mnist",
"tfds:cifar10", a folder path) to a source.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Callable, Sequence

import gin
import numpy as np

from tfgan_icr.data.idx import read_idx
from tfgan_icr.errors import DataError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True, eq=False)
class Source:
    """A finite, unshuffled image data set.

    Attributes:
      name: short name for logs ("fashion_mnist[train]").
      num_examples: number of examples N.
      num_classes: number of classes; 0 means unlabeled.
      image_shape: (H, W, C) of the stored images, C in {1, 3}. For "files" sources, the
        common size every decoded image is brought to; for streams, H and W may be None
        (variable size: images are resized one by one in the pipeline).
      images: "arrays" storage: [N, H, W, C] uint8 or float32.
      labels: int32 [N] for "arrays" and "files" sources with classes, else None.
      files: "files" storage: N paths to PNG/JPEG files.
      dataset: "stream" storage: tf.data.Dataset of (uint8 [H, W, C], int32 []) pairs.
      value_range: (low, high) of the stored pixel values: (0, 255) for uint8 images.
      class_names: optional names of the classes, num_classes of them.
      read_shard: streams only, optional: read_shard(num_pipelines, pipeline_id) returns the
        (image, label) dataset input pipeline `pipeline_id` of `num_pipelines` reads, disjoint
        from the others' (TFDS: its own subset of the record files). None: the pipeline
        shards the stream element by element (every pipeline reads all files).
    """

    name: str
    num_examples: int
    num_classes: int
    image_shape: tuple
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    files: tuple[str, ...] | None = None
    dataset: Any = None
    value_range: tuple[float, float] = (0, 255)
    class_names: tuple[str, ...] | None = None
    read_shard: Callable[[int, int], Any] | None = None

    def __post_init__(self):
        storages = [s is not None for s in (self.images, self.files, self.dataset)]
        if sum(storages) != 1:
            raise DataError(
                f"source {self.name!r} must have exactly one of images, files or dataset "
                f"(got {sum(storages)})"
            )
        if len(self.image_shape) != 3 or self.image_shape[2] not in (1, 3):
            raise DataError(
                f"source {self.name!r} has image_shape {self.image_shape}: expected (H, W, C) "
                "with C = 1 (grayscale) or 3 (RGB)"
            )
        if self.num_examples < 1:
            raise DataError(f"source {self.name!r} is empty: it needs at least one example")
        if self.num_classes < 0:
            raise DataError(f"source {self.name!r} has num_classes {self.num_classes} < 0")
        if self.labels is not None:
            if self.labels.shape != (self.num_examples,):
                raise DataError(
                    f"source {self.name!r} has labels of shape {self.labels.shape}: expected "
                    f"({self.num_examples},), one per example"
                )
            if self.num_classes == 0:
                raise DataError(f"source {self.name!r} has labels but num_classes 0")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise DataError(
                f"source {self.name!r} has {len(self.class_names)} class names for "
                f"{self.num_classes} classes"
            )

    @property
    def kind(self) -> str:
        """"arrays", "files" or "stream"."""
        if self.images is not None:
            return "arrays"
        return "files" if self.files is not None else "stream"

    @property
    def random_access(self) -> bool:
        """True when examples can be read by index (exact, resumable shuffling)."""
        return self.kind != "stream"

    @property
    def labeled(self) -> bool:
        return self.num_classes > 0

    @property
    def class_index(self) -> dict[str, int]:
        """{class name: label}, e.g. {"n01440764": 0, ...} for a class-folder source."""
        return {name: label for label, name in enumerate(self.class_names or ())}


def describe(source: Source) -> str:
    """One line about `source` for logs."""
    h, w, c = source.image_shape
    size = f"{h or '?'}x{w or '?'}x{c}"
    classes = f"{source.num_classes} classes" if source.labeled else "unlabeled"
    if source.kind == "arrays":
        dtype = source.images.dtype.name
        mib = source.images.nbytes / 2**20
        storage = f"{size} {dtype} {list(source.value_range)} in memory ({mib:.1f} MiB)"
    elif source.kind == "files":
        storage = f"{size} from image files"
    else:
        storage = f"{size} streamed (no random access: resume is not exact)"
    return f"{source.name}: {source.num_examples} examples, {classes}, {storage}"


# ----------------------------------------------------------------------------- Fashion-MNIST


def _find_idx(data_dir: str, stem: str) -> str | None:
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    return None


@gin.configurable
def fashion_mnist(split: str = "train", data_dir: str = FASHION_MNIST_DIR,
                  limit: int | None = None) -> Source:
    """Fashion-MNIST (Zalando, MIT) from its IDX files: 28x28x1 uint8, 10 classes.

    Args:
      split: "train" (60,000 examples) or "test" (10,000).
      data_dir: folder with the (optionally gzipped) IDX files, as installed by the Debian
        package `dataset-fashion-mnist`.
      limit: keep only the first `limit` examples (None: all).
    """
    if split not in _FASHION_MNIST_FILES:
        raise DataError(
            f"unknown Fashion-MNIST split {split!r}: use one of {sorted(_FASHION_MNIST_FILES)}"
        )
    if limit is not None and limit < 1:
        raise DataError(f"fashion_mnist limit must be >= 1 or None, got {limit}")
    data_dir = os.path.expanduser(os.fspath(data_dir))
    image_stem, label_stem = _FASHION_MNIST_FILES[split]
    image_path, label_path = _find_idx(data_dir, image_stem), _find_idx(data_dir, label_stem)
    if image_path is None or label_path is None:
        missing = image_stem if image_path is None else label_stem
        raise DataError(
            f"Fashion-MNIST not found in {data_dir} (no {missing}[.gz]): install it with "
            "`apt-get install dataset-fashion-mnist` or pass fashion_mnist.data_dir"
        )
    images = read_idx(image_path, limit=limit)
    labels = read_idx(label_path, limit=limit)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(
            f"{image_path} holds {images.dtype} {images.shape}, not uint8 [N, 28, 28] images: "
            "reinstall dataset-fashion-mnist"
        )
    if labels.shape != images.shape[:1] or labels.dtype != np.uint8 or labels.max() > 9:
        raise DataError(
            f"{label_path} holds {labels.dtype} {labels.shape} with maximum {labels.max()}, "
            f"not {images.shape[0]} labels in 0..9: reinstall dataset-fashion-mnist"
        )
    return Source(
        name=f"fashion_mnist[{split}]",
        num_examples=images.shape[0],
        num_classes=10,
        image_shape=(28, 28, 1),
        images=images[..., None],
        labels=labels.astype(np.int32),
        class_names=FASHION_MNIST_CLASSES,
    )


# ----------------------------------------------------------------------------- numpy arrays


@gin.configurable
def numpy_arrays(images, labels=None, num_classes: int | None = None,
                 value_range: tuple[float, float] | None = None, name: str = "arrays",
                 class_names: Sequence[str] | None = None) -> Source:
    """In-memory images.

    Args:
      images: [N, H, W, C] or [N, H, W] (grayscale), C = 1 or 3. Either uint8 (values 0..255)
        or float (converted to float32) in [0, 1] or [-1, 1].
      labels: optional integer class labels [N] in 0..num_classes-1.
      num_classes: defaults to max(labels) + 1 when labels are given.
      value_range: (low, high) of float images; default: (-1, 1) if any value is negative,
        else (0, 1). Pass it explicitly when a [-1, 1] data set might have no negative value.
        For uint8 images it must be None or (0, 255).
      name: name for logs.
      class_names: optional class names.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or 0 in images.shape:
        raise DataError(
            f"numpy_arrays images have shape {images.shape}: expected [N, H, W, C] with C 1 or 3, "
            "or [N, H, W] for grayscale, N > 0"
        )
    if images.dtype == np.uint8:
        if value_range not in (None, (0, 255)):
            raise DataError(f"uint8 images have value_range (0, 255), not {value_range}")
        value_range = (0, 255)
    elif np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32, copy=False)
        if not np.isfinite(images).all():
            raise DataError("numpy_arrays float images contain NaN or inf: clean the data")
        lo, hi = float(images.min()), float(images.max())
        if value_range is None:
            value_range = (-1.0, 1.0) if lo < 0 else (0.0, 1.0)
        value_range = tuple(float(v) for v in value_range)
        if value_range not in ((-1.0, 1.0), (0.0, 1.0)):
            raise DataError(f"float images need value_range (0, 1) or (-1, 1), not {value_range}")
        tol = 1e-3
        if lo < value_range[0] - tol or hi > value_range[1] + tol:
            raise DataError(
                f"numpy_arrays float images span [{lo:.3g}, {hi:.3g}], outside {value_range}: "
                "scale them to [0, 1] or [-1, 1], or pass uint8"
            )
    else:
        raise DataError(
            f"numpy_arrays images have dtype {images.dtype}: use uint8 (0..255) or float "
            "in [0, 1] / [-1, 1]"
        )
    n = images.shape[0]
    if labels is None:
        if num_classes:
            raise DataError(f"numpy_arrays got num_classes={num_classes} but no labels")
        num_classes = 0
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"numpy_arrays labels have {labels.dtype} shape {labels.shape}: expected "
                f"integers of shape ({n},), one per image"
            )
        if labels.min() < 0:
            raise DataError(f"numpy_arrays labels must be >= 0, got {labels.min()}")
        if num_classes is None:
            num_classes = int(labels.max()) + 1
        if labels.max() >= num_classes:
            raise DataError(
                f"numpy_arrays label {labels.max()} is out of range for num_classes={num_classes}"
            )
        labels = labels.astype(np.int32)
    return Source(
        name=name,
        num_examples=n,
        num_classes=int(num_classes),
        image_shape=tuple(int(d) for d in images.shape[1:]),
        images=images,
        labels=labels,
        value_range=value_range,
        class_names=tuple(class_names) if class_names is not None else None,
    )


# ----------------------------------------------------------------------------- image folder


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _list_images(folder: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, n) for n in sorted(names) if _is_image(n))
    return found


_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _check_image(path: str, verify: str) -> tuple[int, int, bool]:
    """Returns (height, width, is_gray) of a PNG/JPEG file; DataError if it is unreadable."""
    from PIL import Image  # Pillow is only needed for image folders.

    try:
        with Image.open(path) as im:
            fmt, (w, h), mode = im.format, im.size, im.mode
            if fmt not in ("PNG", "JPEG"):
                raise DataError(f"corrupt image file {path}: it holds {fmt} data, not PNG or JPEG; "
                                "convert or remove it")
            if verify == "full":
                im.load()
            elif verify == "quick" and fmt == "PNG":
                im.verify()  # Checks every chunk's CRC: catches truncation and bit rot.
        if verify == "quick" and fmt == "JPEG":
            with open(path, "rb") as f:
                f.seek(max(0, os.path.getsize(path) - 4096))
                if b"\xff\xd9" not in f.read():
                    raise DataError(f"corrupt image file {path}: JPEG end marker missing "
                                    "(truncated?); re-create or remove it")
    except DataError:
        raise
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, ValueError...).
        raise DataError(f"corrupt image file {path}: {type(e).__name__}: {e}; re-create or "
                        "remove it") from e
    return h, w, mode in _GRAY_MODES


def find_undecodable(source: "Source"):
    """(path, reason) of the first file of a "files" source that TensorFlow cannot decode, or
    None. Used after a decode error during training (which does not name the file)."""
    import tensorflow as tf
    from tfgan_icr.errors import first_line

    channels = source.image_shape[2] if source.image_shape else 0
    for path in source.files or ():
        try:
            tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        except tf.errors.OpError as error:
            return path, first_line(error)
    return None


def _size_pair(image_size, what: str) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        image_size = (image_size, image_size)
    image_size = tuple(image_size)
    if len(image_size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0
                                       for v in image_size):
        raise DataError(f"{what} must be a positive int or (height, width), got {image_size}")
    return int(image_size[0]), int(image_size[1])


@gin.configurable
def image_folder(path: str, image_size=None, verify: str = "quick",
                 channels: int | None = None) -> Source:
    """PNG and JPEG files in a folder.

    Layout: either class sub-folders (``path/cat/*.png``, ``path/dog/*.jpg``; sorted names get
    labels 0..K-1; files nested deeper inside a class folder count too) or images directly in
    `path` with no sub-folders (unlabeled). Extensions are matched case-insensitively; hidden
    files and folders are skipped. Grayscale and colour may be mixed: the source is RGB if any
    image is colour.

    Args:
      path: the folder.
      image_size: int or (H, W): the common size every image of another size is resized to
        (bilinear) when decoded; with make_dataset(resize_method="center_crop_resize") it is
        centre-cropped to that aspect ratio first. None: the size of the first image (in
        sorted order).
      verify: "quick" (default) opens every file's header, checks PNG chunk checksums and
        the JPEG end marker; "full" decodes every file with Pillow (slow, catches everything);
        "none" only reads the first image. A file that fails to decode while training is
        then found and named in the error (`find_undecodable`). For ImageNet-size folders
        (1.28M files) use "none": "quick" opens every file once before training starts.
      channels: 1 or 3 forces grayscale or RGB; None: RGB if any checked image is colour
        (with verify="none" only the first image is checked, so pass 3 for RGB data sets
        that contain some grayscale JPEGs, as ImageNet does).

    The file list (paths only, ~90 MB for ImageNet) is kept in memory so that examples can be
    read by index: exact, resumable shuffling and per-worker sharding by file. Images are
    read and decoded lazily by the pipeline. Labels follow the sorted class folder names;
    `Source.class_names` / `Source.class_index` give the mapping.
    """
    if verify not in ("quick", "full", "none"):
        raise DataError(f"image_folder verify must be 'quick', 'full' or 'none', not {verify!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"image_folder channels must be None, 1 or 3, not {channels!r}")
    root = os.path.expanduser(os.fspath(path))
    if not os.path.isdir(root):
        raise DataError(f"image folder {root} does not exist or is not a folder: check the path")
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    direct = [e.path for e in entries if e.is_file() and _is_image(e.name)]
    subdirs = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    class_names: tuple[str, ...] | None = None
    labels = None
    if direct and subdirs:
        raise DataError(
            f"image folder {root} has both images and sub-folders ({subdirs[0].name}): put all "
            "images in class sub-folders (labeled) or all directly in the folder (unlabeled)"
        )
    if direct:
        files = direct
    elif subdirs:
        files, label_list = [], []
        for label, d in enumerate(subdirs):
            found = _list_images(d.path)
            if not found:
                raise DataError(f"class folder {d.path} has no .png/.jpg/.jpeg images: add "
                                "images or remove the folder")
            files.extend(found)
            label_list.extend([label] * len(found))
        class_names = tuple(d.name for d in subdirs)
        labels = np.asarray(label_list, np.int32)
    else:
        raise DataError(f"image folder {root} has no .png/.jpg/.jpeg images and no class "
                        "sub-folders: check the path")
    size = _size_pair(image_size, "image_folder image_size")
    if verify == "none":
        checks = [_check_image(files[0], "none")]
    else:
        checks = [_check_image(f, verify) for f in files]
    if size is None:
        size = checks[0][:2]
    if channels is None:
        channels = 1 if all(gray for _, _, gray in checks) else 3
    return Source(
        name=f"image_folder({root})",
        num_examples=len(files),
        num_classes=len(class_names) if class_names else 0,
        image_shape=(size[0], size[1], channels),
        files=tuple(files),
        labels=labels,
        class_names=class_names,
    )


# ----------------------------------------------------------------------------- TFDS


@gin.configurable
def tfds_dataset(name: str, split: str = "train", data_dir: str | None = None,
                 download: bool = False, image_key: str = "image",
                 label_key: str | None = "label", in_memory: bool = True,
                 builder=None) -> Source:
    """A TensorFlow Datasets data set that is already prepared on disk.

    Nothing is downloaded unless `download=True`: an unprepared data set raises DataError
    at once (a downloading loader without network retries for minutes).

    Args:
      name: TFDS name, optionally with config/version ("cifar10", "celeb_a:2.1.0").
      split: TFDS split, slicing allowed ("train", "train[:10%]").
      data_dir: TFDS data folder (None: TFDS's default, ~/tensorflow_datasets or $TFDS_DATA_DIR).
      download: download and prepare the data set if needed.
      image_key: feature holding the image (uint8, 1 or 3 channels).
      label_key: ClassLabel feature holding the label, or None for unlabeled. When the
        default "label" is absent the data set is unlabeled; any other missing key is an error.
      in_memory: load the split into numpy arrays (exact, resumable shuffling; fine for
        CIFAR-size data). False streams it (shuffle buffer, resume not exact).
      builder: an already opened TFDS builder for `name` (used by imagenet2012), or None.
    """
    import tensorflow_datasets as tfds  # Imported lazily: it is slow to import.

    shown_dir = data_dir or "~/tensorflow_datasets"
    if re.match(r"^[\w-]+:[A-Za-z_]", name) and not download:
        # Namespaced community datasets ("huggingface:x") contact their hub on construction.
        raise DataError(
            f"TFDS dataset {name!r} is a community data set that needs network access: set "
            "tfds_dataset.download=True"
        )
    try:
        builder = builder or tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DataError(
            f"unknown TFDS dataset {name!r}: see tfds.list_builders() or "
            "https://www.tensorflow.org/datasets/catalog for names"
        ) from e
    except Exception as e:
        raise DataError(f"cannot open TFDS dataset {name!r}: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}") from e
    if not builder.is_prepared():
        if not download:
            raise DataError(
                f"TFDS dataset {name!r} is not prepared in {shown_dir}: run `tfds build "
                f"{name.split(':')[0]}`{' --data_dir ' + data_dir if data_dir else ''} or set "
                "tfds_dataset.download=True"
            )
        builder.download_and_prepare()
    info = builder.info
    try:
        num_examples = int(info.splits[split].num_examples)
    except (KeyError, ValueError) as e:
        raise DataError(f"TFDS dataset {name!r} has no split {split!r}: use one of "
                        f"{sorted(info.splits.keys())}") from e
    features = info.features
    if image_key not in features:
        raise DataError(f"TFDS dataset {name!r} has no feature {image_key!r}: set "
                        f"tfds_dataset.image_key to one of {sorted(features.keys())}")
    image_feature = features[image_key]
    shape = tuple(image_feature.shape)
    if len(shape) != 3 or shape[2] not in (1, 3) or image_feature.np_dtype != np.uint8:
        raise DataError(f"TFDS feature {name}/{image_key} is {image_feature.np_dtype} {shape}: "
                        "expected uint8 images [H, W, 1 or 3]")
    if label_key is not None and label_key not in features:
        if label_key != "label":
            raise DataError(f"TFDS dataset {name!r} has no feature {label_key!r}: set "
                            f"tfds_dataset.label_key to one of {sorted(features.keys())} or None")
        label_key = None
    num_classes, class_names = 0, None
    if label_key is not None:
        label_feature = features[label_key]
        if not isinstance(label_feature, tfds.features.ClassLabel):
            raise DataError(f"TFDS feature {name}/{label_key} is not a ClassLabel: set "
                            "tfds_dataset.label_key to a class label feature or None")
        num_classes = int(label_feature.num_classes)
        names = list(label_feature.names)
        class_names = tuple(names) if len(names) == num_classes else None
    source_name = f"tfds:{name}[{split}]"
    if in_memory:
        if None in shape:
            raise DataError(f"TFDS dataset {name!r} has images of variable size {shape}: set "
                            "tfds_dataset.in_memory=False to stream it")
        arrays = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False, batch_size=-1))
        images = arrays[image_key]
        labels = arrays[label_key].astype(np.int32) if label_key else None
        return Source(name=source_name, num_examples=images.shape[0], num_classes=num_classes,
                      image_shape=shape, images=images, labels=labels,
                      class_names=class_names)
    import tensorflow as tf

    def pairs(ds):
        if label_key:
            return ds.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int32)))
        return ds.map(lambda ex: (ex[image_key], tf.constant(0, tf.int32)))

    def read_shard(num_pipelines: int, pipeline_id: int):
        """Pipeline `pipeline_id`'s own record files; element-wise when there are too few."""
        context = tf.distribute.InputContext(num_pipelines, pipeline_id)
        try:
            ds = builder.as_dataset(split=split, shuffle_files=False,
                                    read_config=tfds.ReadConfig(input_context=context))
        except ValueError as e:  # TFDS: fewer record files than input pipelines.
            if "shard" not in str(e).lower():
                raise
            ds = builder.as_dataset(split=split, shuffle_files=False)
            ds = ds.shard(num_pipelines, pipeline_id)
        return pairs(ds)

    ds = pairs(builder.as_dataset(split=split, shuffle_files=False))
    return Source(name=source_name, num_examples=num_examples, num_classes=num_classes,
                  image_shape=shape, dataset=ds, class_names=class_names,
                  read_shard=read_shard)


# ----------------------------------------------------------------------------- by name


def known_sources() -> str:
    return ("'fashion_mnist', 'imagenet2012' (TFDS, manual download), 'tfds:<name>' (a prepared TensorFlow Datasets name, e.g. "
            "'tfds:cifar10'), or the path of an image folder")


def get_source(name_or_source, **kwargs) -> Source:
    """Returns a Source for a name, or `name_or_source` itself if it is one.

    Names: "fashion_mnist" (or "fashion-mnist"), "tfds:NAME" (`tfds_dataset(NAME, ...)`), or
    the path of an existing folder (`image_folder(path, ...)`). `kwargs` go to the factory.
    """
    if isinstance(name_or_source, Source):
        if kwargs:
            raise DataError(f"get_source got options {sorted(kwargs)} for an existing source "
                            f"{name_or_source.name!r}: pass them to its factory instead")
        return name_or_source
    if not isinstance(name_or_source, (str, os.PathLike)):
        raise DataError(f"expected a data set name or Source, got {type(name_or_source).__name__}: "
                        f"known sources are {known_sources()}")
    name = os.fspath(name_or_source)
    if name in ("fashion_mnist", "fashion-mnist"):
        return fashion_mnist(**kwargs)
    if name in ("imagenet2012", "tfds:imagenet2012"):
        from tfgan_icr.data.imagenet import imagenet2012  # It imports this module.
        return imagenet2012(**kwargs)
    if name.startswith("tfds:") and len(name) > 5:
        return tfds_dataset(name[5:], **kwargs)
    if os.path.isdir(os.path.expanduser(name)):
        return image_folder(name, **kwargs)
    raise DataError(f"unknown dataset {name!r}: known sources are {known_sources()}")
