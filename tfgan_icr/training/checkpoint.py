"""Checkpoints of a GAN run: generator, discriminator, EMA generator, both optimizers, step,
and under float16 the two loss scales.

Each network is saved as ``{path: variable}`` keyed by the variable's attribute path
(`training.variables.named_variables`), so a value can only return to the variable it came
from: two same-shaped layers built in another order, or blocks kept in a Python list, restore
correctly, and a checkpoint of another architecture is refused naming the first variable that
differs. The optimizers are built over each network's trainable variables in path order (see
`GAN.build_all`), so their slot variables follow the same names.

The data position and every random draw are functions of the step (see `GAN._seed` and the
index-based data pipeline), so restoring the step restores them too.

Writes are atomic: TensorFlow writes the data files first and then replaces the small
`checkpoint` state file in one rename, so a process killed at any moment leaves the
state file naming the last complete checkpoint.

Damage is survived, never made worse: a save is refused when any variable is NaN/inf (so the
checkpoint a message calls good is good); a failed save (disk full) removes its temporary
folder and leaves the earlier checkpoints as they were; restoring tries the checkpoints
newest first, from the state file and from the `ckpt-<step>.index` files on disk (so a lost
state file loses nothing), and skips a damaged one (unreadable, truncated, non-finite) with a
warning naming it. A training run (`repair=True`) then moves the damaged files into
`checkpoints/damaged/` and rewrites the state file, so its next saves overwrite nothing.
"""

import hashlib
import os
import re
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf

from tfgan_icr.errors import CheckpointError, TrainingDiverged, first_line
from tfgan_icr.training.distribute import is_peer_failure
from tfgan_icr.training.precision import DynamicLossScale
from tfgan_icr.training.variables import first_difference, named_variables, shapes_of

CHECKPOINT_SUBDIR = "checkpoints"
BEST_SUBDIR = "best"
DAMAGED_SUBDIR = "damaged"
STATE_FILE = "checkpoint"
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_INDEX_RE = re.compile(r"^ckpt-(\d+)\.index$")


class DamagedCheckpoint(CheckpointError):
    """A checkpoint that cannot be read back (truncated, corrupt, or holding NaN/inf)."""


class NonFiniteWeights(TrainingDiverged):
    """A save was refused because a variable holds NaN or inf."""


def checkpoint_step(prefix):
    """The step of a checkpoint prefix ``.../ckpt-<step>`` (-1 for another name)."""
    match = re.search(r"ckpt-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


def device_copies(variable):
    """The copies of a (Keras or TensorFlow, distributed or not) variable on this process's
    devices. Reading them is local: reading a distributed variable as a whole may be a
    collective (sync-on-read variables such as spectral norm's u all-reduce), which under
    multi-worker training only works when every worker reads at the same moment."""
    value = variable.value if isinstance(variable, keras.Variable) else variable
    if isinstance(value, tf.distribute.DistributedValues):
        return tuple(value.values)
    return (value,)


def nonfinite_variables(named):
    """Names of the floating-point variables in ``{name: variable}`` holding NaN or inf (in any
    of their copies on this process's devices)."""
    return [name for name, variable in named.items()
            if tf.as_dtype(variable.dtype).is_floating
            and not all(bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(copy))))
                        for copy in device_copies(variable))]


def learning_rates(gan):
    """``{optimizer name: learning rate}`` of the GAN's optimizers whose rate is a plain
    variable (a schedule is a function of the step and is rebuilt from the config anyway)."""
    rates = {}
    for name in ("g_optimizer", "d_optimizer"):
        variable = getattr(getattr(gan, name), "_learning_rate", None)
        if hasattr(variable, "assign"):
            rates[name] = float(variable.numpy())
    return rates


def apply_learning_rates(gan, configured, stream=None):
    """After a restore: the config's learning rates win over the checkpoint's; says so when
    they differ. Returns ``{name: (restored, configured)}`` of the changed ones."""
    changed = {}
    for name, restored in learning_rates(gan).items():
        want = configured.get(name)
        if want is not None and want != restored:
            getattr(gan, name)._learning_rate.assign(want)
            changed[name] = (restored, want)
            print(f"{name} learning rate changed from {restored:g} (checkpoint) to {want:g} (config)",
                  file=stream or sys.stdout, flush=True)
    return changed


def networks_of(gan):
    """The GAN's networks by the name they are saved under."""
    nets = {"generator": gan.generator, "discriminator": gan.discriminator}
    if gan.ema_generator is not None:
        nets["ema_generator"] = gan.ema_generator
    return nets


LOSS_SCALE_NAMES = {"d": "d_loss_scale", "g": "g_loss_scale"}


def loss_scales_of(gan):
    """The float16 loss scales of the GAN by the name they are saved under (none otherwise)."""
    return {LOSS_SCALE_NAMES[side]: scale for side, scale in getattr(gan, "loss_scales", {}).items()}


def _unescape(local_name):
    # TensorFlow escapes object names in checkpoint keys: "." -> "..", "/" -> ".S".
    out, i = [], 0
    while i < len(local_name):
        if local_name[i] == "." and i + 1 < len(local_name):
            out.append("/" if local_name[i + 1] == "S" else local_name[i + 1])
            i += 2
        else:
            out.append(local_name[i])
            i += 1
    return "".join(out)


def weights_digest(named_arrays):
    """A short hex digest of ``{name: array}`` (names, dtypes, shapes and bytes, in name
    order): two equal digests mean the same weights, bit for bit."""
    digest = hashlib.sha256()
    for name in sorted(named_arrays):
        array = np.ascontiguousarray(named_arrays[name])
        digest.update(f"{name}:{array.dtype}:{array.shape}:".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def checkpoint_weights_digest(path):
    """`weights_digest` of the networks' weights stored in the checkpoint at ``path`` (the
    same value `CheckpointStore.weights_digest` gives for the GAN that saved it)."""
    reader = tf.train.load_checkpoint(path)
    arrays = {}
    for key, _ in tf.train.list_variables(path):
        network, _, rest = key.partition("/")
        if network in ("generator", "discriminator", "ema_generator") and rest.endswith(_VALUE_SUFFIX):
            arrays[f"{network}/{_unescape(rest[:-len(_VALUE_SUFFIX)])}"] = reader.get_tensor(key)
    return weights_digest(arrays)


def saved_network_shapes(path, network_name):
    """``{variable path: shape}`` of one network as stored in the checkpoint at ``path``."""
    prefix = network_name + "/"
    shapes = {}
    for key, shape in tf.train.list_variables(path):
        if key.startswith(prefix) and key.endswith(_VALUE_SUFFIX):
            shapes[_unescape(key[len(prefix):-len(_VALUE_SUFFIX)])] = tuple(shape)
    return shapes


class CheckpointStore:
    """Saves and restores a GAN's state under ``<model_dir>/<subdir>``."""

    def __init__(self, model_dir, gan, max_to_keep=3, subdir=CHECKPOINT_SUBDIR, warnings=None):
        self.model_dir = model_dir
        self.gan = gan
        self.state = {name: named_variables(net) for name, net in networks_of(gan).items()}
        self.checkpoint = self._checkpoint_object(loss_scales_of(gan))
        self.directory = os.path.join(model_dir, subdir)
        self.max_to_keep = max_to_keep
        self.warnings = warnings or sys.stderr
        self.restored = None  # the checkpoint the last restore() used
        self.skipped = []  # the damaged checkpoints it passed over
        self.manager = None
        self.state_problem = None
        self._make_manager()

    def _checkpoint_object(self, loss_scales):
        return tf.train.Checkpoint(
            **self.state, g_optimizer=self.gan.g_optimizer, d_optimizer=self.gan.d_optimizer,
            global_step=self.gan.global_step, **loss_scales)

    def _checkpoint_for(self, path):
        """The object to restore ``path`` into: the loss scales follow what the file holds. A
        float16 run's scales are restored when the file has them (a resume is then bit for
        bit) and keep their initial value when it has none (a checkpoint of another
        precision); a file's scales are read into throwaway copies when this run has none
        (it resumes in another precision), so every value in the file still lands somewhere."""
        saved = {name.split("/")[0] for name, _ in tf.train.list_variables(path)}
        ours = loss_scales_of(self.gan)
        if not ours and any(name in saved for name in LOSS_SCALE_NAMES.values()):
            ours = {key: DynamicLossScale(side) for side, key in LOSS_SCALE_NAMES.items()}
        return self._checkpoint_object({key: scale for key, scale in ours.items() if key in saved})

    def _make_manager(self):
        state = os.path.join(self.directory, STATE_FILE)
        self.state_problem = None
        if os.path.isdir(self.directory) and not os.path.exists(state):
            if any(_INDEX_RE.match(n) for n in os.listdir(self.directory)):
                self.state_problem = f"{state} is missing"
        try:
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, self.directory, max_to_keep=self.max_to_keep, checkpoint_name="ckpt",
                step_counter=self.gan.global_step)
        except Exception as error:  # a corrupt state file: protobuf text parse errors
            self.manager = None
            self.state_problem = f"{state} is unreadable ({type(error).__name__})"

    @property
    def latest(self):
        if self.manager is not None and self.manager.latest_checkpoint:
            return self.manager.latest_checkpoint
        return self.restored

    def on_disk(self):
        """Checkpoint prefixes whose index file exists in the directory, newest first."""
        if not os.path.isdir(self.directory):
            return []
        steps = [int(m.group(1)) for m in map(_INDEX_RE.match, os.listdir(self.directory)) if m]
        return [os.path.join(self.directory, f"ckpt-{step}") for step in sorted(steps, reverse=True)]

    def candidates(self):
        """Every checkpoint to try, newest first: those the state file lists and those on disk."""
        listed = list(self.manager.checkpoints) if self.manager is not None else []
        by_step = {}
        for prefix in listed + self.on_disk():
            by_step.setdefault(checkpoint_step(prefix), prefix)
        return [by_step[step] for step in sorted(by_step, reverse=True)]

    def weights_digest(self):
        """`weights_digest` of the networks' current weights (G, D, EMA G)."""
        return weights_digest({f"{net}/{path}": device_copies(variable)[0].numpy()
                               for net, variables in self.state.items() for path, variable in variables.items()})

    def nonfinite(self):
        """Names of the variables (networks, optimizer slots) that hold NaN or inf."""
        named = {f"{net}/{path}": v for net, variables in self.state.items() for path, v in variables.items()}
        for name in ("g_optimizer", "d_optimizer"):
            for variable in getattr(self.gan, name).variables:
                named[f"{name}/{variable.path}"] = variable
        return nonfinite_variables(named)

    def _check_unchanged(self):
        for name, net in networks_of(self.gan).items():
            difference = first_difference(shapes_of(named_variables(net)), shapes_of(self.state[name]),
                                          "the network now", "the network at the start")
            if difference:
                raise CheckpointError(f"the {name}'s variables changed during the run ({difference}); "
                                      f"a network must create all its variables before training")

    def save(self):
        """Save a checkpoint of the current step. Refuses (NonFiniteWeights) when a variable is
        NaN/inf; a failed write (disk full, I/O error) removes its temporary folder and raises
        a one-line CheckpointError, leaving every earlier checkpoint as it was."""
        self._check_unchanged()
        step = int(self.gan.global_step.numpy())
        bad = self.nonfinite()
        if bad:
            raise NonFiniteWeights(f"{len(bad)} tensor(s) hold NaN/inf, e.g. {bad[0]}; not saved")
        if self.manager is None:
            self._make_manager()
        try:
            return self.manager.save(checkpoint_number=self.gan.global_step)
        except (tf.errors.OpError, OSError) as error:
            self._remove_temporary()
            if isinstance(error, tf.errors.OpError) and is_peer_failure(error):
                raise  # multi-worker: another worker is gone (the train job says so), not the disk
            reason = error.strerror if isinstance(error, OSError) else first_line(error)
            raise CheckpointError(
                f"could not save checkpoint {os.path.join(self.directory, f'ckpt-{step}')}: {reason}; "
                f"the last saved checkpoint ({self.latest or 'none'}) is intact: free space and "
                f"run the same command to resume") from None

    def _remove_temporary(self):
        """Remove the `ckpt-<step>_temp*` folders of unfinished saves."""
        if os.path.isdir(self.directory):
            for name in os.listdir(self.directory):
                if re.match(r"^ckpt-\d+_temp", name):
                    shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def _different_model(self, path, reason):
        return CheckpointError(
            f"checkpoint {path} was written by a different model ({reason}): use a new "
            f"--model_dir, or the config it was trained with "
            f"({os.path.join(self.model_dir, 'operative_config.gin')})")

    def check_compatible(self, path):
        """Raise CheckpointError naming the first variable that differs between the checkpoint
        at ``path`` and this GAN (missing, left over, or of another shape)."""
        try:
            for name, variables in self.state.items():
                saved = saved_network_shapes(path, name)
                if saved and all(key.isdigit() for key in saved):
                    raise self._different_model(
                        path, "saved by tfgan_icr 0.1 with positional weight lists, which this version "
                              "no longer reads; retrain")
                difference = first_difference(saved, shapes_of(variables), "the checkpoint", "this model")
                if difference:
                    raise self._different_model(path, f"{name}: {difference}")
        except tf.errors.OpError as error:
            raise DamagedCheckpoint(f"cannot read checkpoint {path}: {first_line(error)}") from None

    def _restore_one(self, path):
        self.check_compatible(path)
        status = None
        try:
            status = self._checkpoint_for(path).restore(path)
            # Every value in the file must land in this model and every variable of this
            # model must come from the file (the optimizers' slots included).
            status.assert_consumed()
        except (AssertionError, ValueError) as error:
            if status is not None:
                status.expect_partial()  # no warnings about the values we refused
            raise self._different_model(path, first_line(error)) from None
        except (tf.errors.OpError, IndexError, OSError) as error:  # truncated: IndexError
            raise DamagedCheckpoint(f"cannot read checkpoint {path}: {first_line(error)}") from None
        bad = self.nonfinite()
        if bad:
            raise DamagedCheckpoint(f"checkpoint {path} holds NaN/inf in {len(bad)} tensor(s), e.g. {bad[0]}")

    def restore(self, path=None, repair=False):
        """Restore `path` (default: the newest readable checkpoint); returns the restored step,
        or None if there is none.

        Without `path`, a damaged checkpoint is skipped with a warning naming it and the next
        older one is tried. Raises CheckpointError when the checkpoint was written by a
        different model, or when every checkpoint is damaged. Without `repair` nothing on disk
        is touched; with it (the training run, holding the run's lock) damaged checkpoints are
        moved to `checkpoints/damaged/` and the state file is rewritten to list what is left.
        """
        candidates = [path] if path else self.candidates()
        if not candidates:
            return None
        if self.state_problem and not path:
            print(f"warning: {self.state_problem}; recovering from the checkpoint files on disk "
                  f"({', '.join(os.path.basename(c) for c in candidates)})", file=self.warnings, flush=True)
        damaged = []
        for candidate in candidates:
            try:
                self._restore_one(candidate)
            except DamagedCheckpoint as error:
                damaged.append(candidate)
                if path:
                    raise
                print(f"warning: {first_line(error)}; trying an older checkpoint", file=self.warnings,
                      flush=True)
                continue
            self.restored = candidate
            break
        else:
            raise CheckpointError(f"no readable checkpoint in {self.directory}: all {len(damaged)} are "
                                  f"damaged (newest: {damaged[0]}); retrain in a new --model_dir")
        if damaged:
            print(f"warning: using {self.restored} instead of the damaged "
                  f"{', '.join(os.path.basename(d) for d in damaged)}", file=self.warnings, flush=True)
        self.skipped = damaged
        if repair:
            self.repair()
        return int(self.gan.global_step.numpy())

    def repair(self):
        """After a restore: move the damaged checkpoints it skipped to `checkpoints/damaged/` and
        rewrite the state file to list what is left, when anything needs it (training runs
        only: `restore(repair=True)`, or, in multi-worker training, the chief once every worker
        has restored)."""
        listed = {checkpoint_step(p) for p in self.manager.checkpoints} if self.manager is not None else set()
        if self.skipped or self.state_problem or listed != {checkpoint_step(p) for p in self.on_disk()}:
            self._repair(self.skipped)

    def _repair(self, damaged):
        """Move damaged checkpoints aside and rewrite the state file (training runs only)."""
        self._remove_temporary()
        if damaged:
            target = os.path.join(self.directory, DAMAGED_SUBDIR)
            os.makedirs(target, exist_ok=True)
            for prefix in damaged:
                base = os.path.basename(prefix)
                for name in os.listdir(self.directory):
                    if name == base + ".index" or name.startswith(base + ".data-"):
                        os.replace(os.path.join(self.directory, name), os.path.join(target, name))
            print(f"moved the damaged checkpoint files to {target}", file=self.warnings, flush=True)
        kept = sorted(self.on_disk(), key=checkpoint_step)
        # Timestamps make the manager track (and in time rotate out) the recovered files.
        times = [os.path.getmtime(p + ".index") for p in kept]
        tf.compat.v1.train.update_checkpoint_state(
            self.directory, self.restored, all_model_checkpoint_paths=kept,
            all_model_checkpoint_timestamps=times, last_preserved_timestamp=min(times) - 1)
        self._make_manager()
