"""tf.distribute strategies by name, so a config or a flag picks the hardware."""

from typing import NamedTuple

import gin
import tensorflow as tf

from tfgan_icr.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


@gin.configurable
def make_strategy(kind="default", tpu="", logical_cpus=0):
    """Return a tf.distribute strategy.

    kind: "default" (one device), "mirrored" (all local GPUs, or `logical_cpus` CPU replicas),
    "multi_worker" (MultiWorkerMirroredStrategy, configured by TF_CONFIG), "tpu" (`tpu` is the
    TPU name or address; "" on a Colab/Cloud TPU VM finds the local one).
    logical_cpus > 1 splits the CPU into that many logical devices (testing data parallelism
    without accelerators); it must be set before TensorFlow initialises its devices.
    """
    if kind not in STRATEGIES:
        raise ConfigError(f"unknown strategy {kind!r}: make_strategy.kind must be one of {', '.join(STRATEGIES)}")
    if logical_cpus and logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        devices = None
        if not tf.config.list_logical_devices("GPU") and logical_cpus and logical_cpus > 1:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    except Exception as error:  # ValueError, OpError, URLError (metadata lookup): no TPU reachable
        raise ConfigError(
            f"no TPU found (tpu={tpu!r}: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}): "
            f"on a Colab/Cloud TPU VM pass --tpu=local, else --tpu=NAME of a TPU node "
            f"(gcloud compute tpus list), or use --strategy=default") from None
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)



class WorkerRole(NamedTuple):
    """Where this process stands in a multi-worker cluster (one process: the chief of one)."""
    task_type: str
    task_id: int
    num_workers: int
    is_chief: bool

    @property
    def name(self):
        return f"{self.task_type} {self.task_id}"


def worker_role(strategy):
    """This process's `WorkerRole` from the strategy's cluster resolver (TF_CONFIG for
    MultiWorkerMirroredStrategy). The chief is the "chief" task, else worker 0 when the
    cluster has no chief (TensorFlow's convention); a process outside a cluster is the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or not spec:
        return WorkerRole("chief", 0, 1, True)
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    num_workers = sum(len(spec.get(job, ())) for job in ("chief", "worker"))
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)
    return WorkerRole(task_type, task_id, num_workers, is_chief)


def is_multi_worker(strategy):
    """True for a MultiWorkerMirroredStrategy spanning more than one process."""
    return worker_role(strategy).num_workers > 1


def chief_value(strategy, value):
    """The int `value` as the chief holds it, on every worker (a collective: every worker
    calls it at the same point). The chief, or worker 0, holds the first replicas."""

    @tf.function
    def share():
        def on_replica():
            ctx = tf.distribute.get_replica_context()
            mine = tf.where(ctx.replica_id_in_sync_group == 0, tf.constant(value, tf.int64),
                            tf.constant(0, tf.int64))
            return ctx.all_reduce("SUM", mine)
        return strategy.run(on_replica)

    return int(strategy.experimental_local_results(share())[0].numpy())


def is_peer_failure(error):
    """Whether a TensorFlow error comes from a collective whose peer is gone or out of step
    (another worker failed, was killed, or stopped alone)."""
    return (isinstance(error, (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError))
            or "Collective ops is aborted" in str(error))
