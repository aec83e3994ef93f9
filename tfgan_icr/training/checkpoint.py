"""Checkpoints of a GAN run: generator, discriminator, EMA generator, both optimizers, step.

The data position and every random draw are functions of the step (see `GAN._seed` and the
index-based data pipeline), so restoring the step restores them too.

Writes are atomic: TensorFlow writes the data files first and then replaces the small
`checkpoint` state file in one rename, so a process killed at any moment leaves the
state file naming the last complete checkpoint.
"""

import os

import tensorflow as tf

from tfgan_icr.errors import CheckpointError, first_line

CHECKPOINT_SUBDIR = "checkpoints"
BEST_SUBDIR = "best"


def _trackables(gan):
    # Networks are saved as their ordered weight lists, not as Keras object graphs: TF's
    # object graph does not follow layers that Keras 3 models keep in Python lists, and
    # their non-trainable state (BN statistics, spectral-norm vectors) would be lost.
    objects = dict(generator=list(gan.generator.weights),
                   discriminator=list(gan.discriminator.weights),
                   g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                   global_step=gan.global_step)
    if gan.ema_generator is not None:
        objects["ema_generator"] = list(gan.ema_generator.weights)
    return objects


class CheckpointStore:
    """Saves and restores a GAN's state under ``<model_dir>/<subdir>``."""

    def __init__(self, model_dir, gan, max_to_keep=3, subdir=CHECKPOINT_SUBDIR):
        self.model_dir = model_dir
        self.gan = gan
        self.checkpoint = tf.train.Checkpoint(**_trackables(gan))
        self.directory = os.path.join(model_dir, subdir)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.directory, max_to_keep=max_to_keep, checkpoint_name="ckpt",
            step_counter=gan.global_step)

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def save(self):
        return self.manager.save(checkpoint_number=self.gan.global_step)

    def restore(self, path=None):
        """Restore `path` (default: the latest); returns the restored step, or None if none exists.

        Raises CheckpointError when the checkpoint was written by a different model. Nothing on
        disk is touched.
        """
        path = path or self.latest
        if path is None:
            return None
        status = None
        try:
            status = self.checkpoint.restore(path)
            # Every value in the file must land in this model and every variable of this
            # model must come from the file; a shape difference raises ValueError above.
            status.assert_consumed()
        except (AssertionError, ValueError) as error:
            if status is not None:
                status.expect_partial()  # no warnings about the values we refused
            raise CheckpointError(
                f"checkpoint {path} was written by a different model ({first_line(error)}): use a new "
                f"--model_dir, or the config it was trained with "
                f"({os.path.join(self.model_dir, 'operative_config.gin')})") from None
        except tf.errors.OpError as error:
            raise CheckpointError(f"cannot read checkpoint {path}: {first_line(error)}") from None
        return int(self.gan.global_step.numpy())
