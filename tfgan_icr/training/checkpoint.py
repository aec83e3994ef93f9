"""Checkpoints of a GAN run: generator, discriminator, EMA generator, both optimizers, step.

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
"""

import os

import tensorflow as tf

from tfgan_icr.errors import CheckpointError, first_line
from tfgan_icr.training.variables import first_difference, named_variables, shapes_of

CHECKPOINT_SUBDIR = "checkpoints"
BEST_SUBDIR = "best"
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def networks_of(gan):
    """The GAN's networks by the name they are saved under."""
    nets = {"generator": gan.generator, "discriminator": gan.discriminator}
    if gan.ema_generator is not None:
        nets["ema_generator"] = gan.ema_generator
    return nets


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

    def __init__(self, model_dir, gan, max_to_keep=3, subdir=CHECKPOINT_SUBDIR):
        self.model_dir = model_dir
        self.gan = gan
        self.state = {name: named_variables(net) for name, net in networks_of(gan).items()}
        self.checkpoint = tf.train.Checkpoint(
            **self.state, g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
            global_step=gan.global_step)
        self.directory = os.path.join(model_dir, subdir)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.directory, max_to_keep=max_to_keep, checkpoint_name="ckpt",
            step_counter=gan.global_step)

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def _check_unchanged(self):
        for name, net in networks_of(self.gan).items():
            difference = first_difference(shapes_of(named_variables(net)), shapes_of(self.state[name]),
                                          "the network now", "the network at the start")
            if difference:
                raise CheckpointError(f"the {name}'s variables changed during the run ({difference}); "
                                      f"a network must create all its variables before training")

    def save(self):
        self._check_unchanged()
        return self.manager.save(checkpoint_number=self.gan.global_step)

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
            raise CheckpointError(f"cannot read checkpoint {path}: {first_line(error)}") from None

    def restore(self, path=None):
        """Restore `path` (default: the latest); returns the restored step, or None if none exists.

        Raises CheckpointError when the checkpoint was written by a different model. Nothing on
        disk is touched.
        """
        path = path or self.latest
        if path is None:
            return None
        self.check_compatible(path)
        status = None
        try:
            status = self.checkpoint.restore(path)
            # Every value in the file must land in this model and every variable of this
            # model must come from the file (the optimizers' slots included).
            status.assert_consumed()
        except (AssertionError, ValueError) as error:
            if status is not None:
                status.expect_partial()  # no warnings about the values we refused
            raise self._different_model(path, first_line(error)) from None
        except tf.errors.OpError as error:
            raise CheckpointError(f"cannot read checkpoint {path}: {first_line(error)}") from None
        return int(self.gan.global_step.numpy())
