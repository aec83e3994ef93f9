"""Run by tests/test_export.py in a process that cannot import tfgan_icr: load an export with
TensorFlow alone, call both signatures, and save what they return (argv: SITE EXPORT IN OUT)."""

import sys

sys.path.append(sys.argv[1])  # site-packages, without its .pth files (the editable tfgan_icr install)

try:
    import tfgan_icr  # noqa: F401
    importable = True
except ImportError:
    importable = False

import numpy as np
import tensorflow as tf

export_dir, inputs_path, out_path = sys.argv[2:5]
inputs = np.load(inputs_path)
loaded = tf.saved_model.load(export_dir)
serve, sample = loaded.signatures["serving_default"], loaded.signatures["sample"]
z, labels = tf.constant(inputs["z"]), tf.constant(inputs["labels"])
results = {
    "importable": np.array(importable),
    "served": serve(z=z, labels=labels, truncation=tf.constant(0.0))["images"].numpy(),
    "served_truncated": serve(z=z, labels=labels, truncation=tf.constant(0.5))["images"].numpy(),
    "sampled": sample(count=tf.constant(4), seed=tf.constant(3, tf.int64), labels=labels)["images"].numpy(),
    "sampled_again": sample(count=tf.constant(4), seed=tf.constant(3, tf.int64), labels=labels)["images"].numpy(),
    "sampled_other_seed": sample(count=tf.constant(4), seed=tf.constant(4, tf.int64),
                                 labels=labels)["images"].numpy(),
    "dtype": np.array(str(serve.structured_outputs["images"].dtype.name)),
}
bad_calls = {
    "wrong_z_shape": lambda: serve(z=tf.zeros([4, int(z.shape[1]) + 1]), labels=labels, truncation=tf.constant(0.0)),
    "float_labels": lambda: serve(z=z, labels=tf.cast(labels, tf.float32), truncation=tf.constant(0.0)),
    "float_labels_to_function": lambda: loaded.serving_default(z, tf.cast(labels, tf.float32), tf.constant(0.0)),
    "wrong_z_shape_to_function": lambda: loaded.serving_default(tf.zeros([4, int(z.shape[1]) + 1]), labels,
                                                                tf.constant(0.0)),
    "label_out_of_range": lambda: serve(z=z, labels=labels + 100, truncation=tf.constant(0.0)),
}
for name, call in bad_calls.items():
    try:
        call()
        results[name] = np.array("accepted")
    except Exception as error:  # the test checks the type and message
        results[name] = np.array(f"{type(error).__name__}: {error}")
results["tfgan_icr_loaded"] = np.array(any(m.startswith("tfgan_icr") for m in sys.modules))
np.savez(out_path, **results)
