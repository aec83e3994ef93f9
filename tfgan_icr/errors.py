"""Exception classes shared by the whole package.

Every error that a user can fix (a missing file, a bad setting) is raised as a subclass of
`TfganError` whose message is one line naming the problem and the fix.
"""


def first_line(error):
    """The first line of an error's message (gin appends context lines), or its type's name."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class TfganError(Exception):
    """Base class for the errors raised by tfgan_icr on bad input or configuration."""


class DataError(TfganError):
    """A data set is missing, corrupt, or described inconsistently."""


class WeightsError(TfganError):
    """Pretrained network weights (the FID Inception network) are missing, corrupt or unreachable."""


class ConfigError(TfganError):
    """A gin config file or binding is wrong."""


class CheckpointError(TfganError):
    """A checkpoint is missing, or was written by a different model."""


class TrainingDiverged(TfganError):
    """A loss became NaN or infinite."""


class RunDirError(TfganError):
    """A run directory cannot be used: not writable, not a folder, or held by another training."""


class WorkerLost(TfganError):
    """Multi-worker training: another worker of the cluster stopped (failed or was killed)."""


class Interrupted(KeyboardInterrupt):
    """Training stopped on a signal after saving; the process exits with 128 + the signal."""

    def __init__(self, signum):
        super().__init__(signum)
        self.exit_code = 128 + int(signum)

