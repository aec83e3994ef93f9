"""FID/KID between two real splits (the floor a generator can reach), e.g. Fashion-MNIST
test vs train:

    python scripts/fid_floor.py --num_examples=2000

Both splits go through the same pipeline as evaluation (32x32, [-1, 1], the same resize to
299x299) and the same cached reference statistics, so the number is comparable to
`--mode=eval` results with the same resize. KID is printed x 1e-3 in the label line, raw in
the JSON."""

import json
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_examples", 2000, "images taken from each split (the first N)")
flags.DEFINE_string("network", "auto", "FID network source (see tfgan_icr.eval.load_inception)")
flags.DEFINE_integer("image_size", 32, "resolution both splits are brought to")
flags.DEFINE_string("resize", "tf1_bilinear", "resize to 299x299 (tfgan_icr.eval.inception.RESIZES)")
flags.DEFINE_enum("kid_estimator", "subsets", ["subsets", "blocks"], "KID estimator (see Evaluator)")


def main(argv):
    del argv
    from tfgan_icr.data import fashion_mnist
    from tfgan_icr.eval.evaluator import Evaluator, format_kid

    common = dict(reference_limit=FLAGS.num_examples, resize=FLAGS.resize,
                  kid_estimator=FLAGS.kid_estimator)
    test = Evaluator(reference_source=fashion_mnist(split="test"), network=FLAGS.network, **common)
    train = Evaluator(reference_source=fashion_mnist(split="train"), network=test.net, **common)
    start = time.perf_counter()
    a = test.reference_stats(FLAGS.image_size, 1)
    b = train.reference_stats(FLAGS.image_size, 1)
    seconds = time.perf_counter() - start
    n = FLAGS.num_examples
    kid = test.kid(a, b, str(n), "fashion_mnist[train]")
    fid = a.fid(b)
    label = f"FID {n} test vs {n} train, fashion_mnist {FLAGS.image_size}x{FLAGS.image_size}, {test.pipeline_label}"
    print(f"{label} = {fid:.2f}; {kid['kid_label']} = {format_kid(kid['kid'], kid['kid_std'])}")
    print(json.dumps({
        "fid": fid, "kid": kid["kid"], "kid_std": kid["kid_std"], "label": label,
        "kid_label": kid["kid_label"],
        # Statistics already in the cache are read, not recomputed: seconds covers only the rest.
        "seconds": seconds,
    }))


if __name__ == "__main__":
    app.run(main)
