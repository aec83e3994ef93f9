"""Data sources and the tf.data input pipeline.

    source = fashion_mnist()                       # or get_source("tfds:cifar10"), image_folder(path)
    ds = make_dataset(source, batch_size=64, image_size=32, seed=0, start_example=step * 64)
    for images, labels in ds: ...                  # float32 [64, 32, 32, 1] in [-1, 1], int32 [64]
"""

from tfgan_icr.data.idx import read_idx, write_idx
from tfgan_icr.data.imagenet import imagenet2012, imagenet_folder, write_synthetic_folder
from tfgan_icr.data.pipeline import (
    AUTOTUNE,
    RESIZE_METHODS,
    epoch_permutation,
    index_stream,
    make_dataset,
    to_model_images,
)
from tfgan_icr.data.sources import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    Source,
    describe,
    fashion_mnist,
    get_source,
    image_folder,
    numpy_arrays,
    tfds_dataset,
)
from tfgan_icr.errors import DataError

__all__ = [
    "AUTOTUNE", "DataError", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR", "RESIZE_METHODS",
    "Source", "describe", "epoch_permutation", "fashion_mnist", "get_source", "image_folder",
    "index_stream", "make_dataset", "numpy_arrays", "read_idx", "tfds_dataset",
    "to_model_images", "write_idx", "imagenet2012", "imagenet_folder", "write_synthetic_folder",
]
