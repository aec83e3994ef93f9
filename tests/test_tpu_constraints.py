"""What a TPU needs, checked on CPU: the input pipeline has static shapes and no Python in it,
the train step holds no Python op, and the step XLA-compiles and trains in bfloat16 inside a
strategy's replica context (a one-replica MirroredStrategy: XLA on CPU cannot address the
variable copies of other logical CPUs, "Trying to access resource ... located in device CPU:1
from CPU:0"; replicated training without XLA is test_distribute's). In a subprocess, so the
strategy is the process's first."""

from test_distribute import run_python

PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def test_step_and_pipeline_meet_tpu_constraints_and_train_xla_compiled_in_bfloat16_replicated():
    result = run_python(f"""
        import numpy as np, tensorflow as tf
        from tfgan_icr import config
        from tfgan_icr.data import fashion_mnist, make_dataset
        from tfgan_icr.training.builder import build_gan

        def op_types(graph_def):
            return ({{n.op for n in graph_def.node}}
                    | {{n.op for f in graph_def.library.function for n in f.node_def}})

        # XLA on CPU cannot reach a variable copy on another logical CPU device ("Trying to
        # access resource ... located in device CPU:1 from CPU:0"): one replica here.
        strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
        config.parse(["quickstart"], ["sndcgan_generator.ch = 8", "sndcgan_discriminator.ch = 8",
                                      "sndcgan_generator.z_dim = 16", "build_gan.jit_compile = True",
                                      "build_gan.precision = 'mixed_bfloat16'"])
        dataset = make_dataset(fashion_mnist(split="train", limit=64), batch_size=8, seed=0)
        assert all(s.shape.is_fully_defined() for s in tf.nest.flatten(dataset.element_spec)), dataset.element_spec
        pipeline_ops = op_types(tf.compat.v1.GraphDef.FromString(dataset._as_serialized_graph().numpy()))
        assert not pipeline_ops & {PYTHON_OPS!r}, pipeline_ops

        with strategy.scope():
            gan = build_gan(num_classes=10, image_size=32, channels=1, seed=0)
            gan.build_all()
        assert gan.jit_compile and gan.generator.dtype_policy.compute_dtype == "bfloat16"
        step_graph = tf.function(gan.train_step).get_concrete_function(dataset.element_spec).graph
        step_ops = op_types(step_graph.as_graph_def())
        assert "Conv2D" in step_ops and not step_ops & {PYTHON_OPS!r}, sorted(step_ops)

        before = [w.numpy().copy() for w in gan.discriminator.trainable_variables]
        history = gan.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
        assert int(gan.global_step.numpy()) == 1
        assert all(np.isfinite(v[-1]) for v in history.history.values()), history.history
        assert all(w.dtype == tf.float32 for w in gan.discriminator.trainable_variables)
        assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, gan.discriminator.trainable_variables))
        print("TPU-READY", strategy.num_replicas_in_sync)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TPU-READY 1" in result.stdout
