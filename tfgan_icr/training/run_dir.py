"""A training run's hold on its model_dir: one writer at a time, and a history of its configs.

`RunLock` is `<model_dir>/train.lock`: an exclusive `flock` on the file, which the kernel drops
when the holder dies (however it dies), plus the holder's pid, host and start time inside it
for the message that refuses a second writer. A lock file that is not locked is stale (its
process is gone) and is taken over with a line saying so. Where the file system has no
`flock`, a lock file of a pid that is not running on this host is stale; one from another
host is left to the user to judge.

`record_start` keeps one record per start in `<model_dir>/config_history/NNN_step_<step>.json`
(step, time, model_spec, operative config) and says what changed since the previous start; the files
`model_spec.json` and `operative_config.gin` at the top describe the latest start.
"""

import errno
import fcntl
import json
import os
import socket
import sys
import time

from tfgan_icr.errors import RunDirError
from tfgan_icr.files import write_text_atomically

LOCK_FILE = "train.lock"
HISTORY_SUBDIR = "config_history"


def _pid_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_owner(path):
    try:
        with open(path) as f:
            return json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}


def _owner_text(owner):
    return f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')} since {owner.get('started', '?')}"


def writable_dir_error(model_dir, error):
    """A one-line RunDirError for an OSError while creating or writing model_dir."""
    if isinstance(error, (FileExistsError, NotADirectoryError)) or \
            (os.path.exists(model_dir) and not os.path.isdir(model_dir)):
        return RunDirError(f"--model_dir {model_dir} is not a folder ({error.strerror}): pass a "
                           f"folder path (it is created if missing)")
    where = f" {error.filename}" if error.filename else ""
    return RunDirError(f"cannot write to --model_dir {model_dir} ({error.strerror}{where}): pass a "
                       f"writable --model_dir")


class RunLock:
    """Exclusive hold of a model_dir by one training process (a context manager)."""

    def __init__(self, model_dir, stream=None):
        self.model_dir = model_dir
        self.path = os.path.join(model_dir, LOCK_FILE)
        self.stream = stream or sys.stdout
        self.fd = None
        self.created_dir = False

    def _owner(self):
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def _refuse(self, owner):
        return RunDirError(f"{self.model_dir} is in use by another training ({_owner_text(owner)}; "
                           f"lock {self.path}): wait for it, stop it, or use another --model_dir")

    def acquire(self):
        try:
            if not os.path.isdir(self.model_dir):
                os.makedirs(self.model_dir)
                self.created_dir = True
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise self._refuse(_read_owner(self.path)) from None
                except OSError as error:
                    if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                        os.close(fd)
                        raise
                    self._check_by_pid()  # no flock here: judge by the recorded pid
                # The file may have been removed (released) between open and flock.
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
            self.fd = fd
            previous = _read_owner(self.path)
            if previous:
                print(f"note: taking over a stale lock {self.path} ({_owner_text(previous)}, no longer "
                      f"running)", file=self.stream, flush=True)
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(self._owner()) + "\n").encode())
            os.fsync(fd)
        except OSError as error:
            raise writable_dir_error(self.model_dir, error) from None
        return self

    def _check_by_pid(self):
        owner = _read_owner(self.path)
        if not owner or owner.get("pid") == os.getpid():
            return
        if owner.get("host") != socket.gethostname() or _pid_running(int(owner.get("pid", 0))):
            raise RunDirError(f"{self.model_dir} may be in use ({_owner_text(owner)}; this file system "
                              f"has no locks): delete {self.path} if that process is gone")

    def release(self):
        if self.fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        if self.created_dir:
            try:
                os.rmdir(self.model_dir)  # only when the run wrote nothing at all
            except OSError:
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# -- config history ---------------------------------------------------------------------------

def _bindings(operative_text):
    """``{parameter: value}`` from an operative config's text (display only: never parsed by
    gin, so a tampered history cannot run anything)."""
    out, key = {}, None
    for line in operative_text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and key is not None:
            out[key] += " " + line.strip()
        elif " = " in line:
            key, value = line.split(" = ", 1)
            key = key.strip()
            out[key] = value.strip()
    return out


def _changes(before, after):
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes.append(f"{key}: {before.get(key, '(unset)')} -> {after.get(key, '(unset)')}")
    return changes


def history(model_dir):
    """The config records of every start of the run, oldest first."""
    folder = os.path.join(model_dir, HISTORY_SUBDIR)
    if not os.path.isdir(folder):
        return []
    records = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            try:
                with open(os.path.join(folder, name)) as f:
                    records.append(json.load(f))
            except (OSError, ValueError):
                continue
    return records


def record_start(model_dir, step, spec, operative_text, stream=None):
    """Add this start's record to the history and print what changed since the last one.
    Returns the list of changes (strings)."""
    from tfgan_icr.training.builder import MODEL_SPEC, OPERATIVE_CONFIG
    stream = stream or sys.stdout
    records = history(model_dir)
    previous = records[-1] if records else None
    if previous is None and os.path.exists(os.path.join(model_dir, OPERATIVE_CONFIG)):
        # A run started before the history existed: keep its files as the first record.
        try:
            with open(os.path.join(model_dir, OPERATIVE_CONFIG)) as f:
                old_text = f.read()
            with open(os.path.join(model_dir, MODEL_SPEC)) as f:
                old_spec = json.load(f)
        except (OSError, ValueError):
            old_text, old_spec = "", {}
        previous = {"step": None, "model_spec": old_spec, "operative_config": old_text}
        _write_record(model_dir, "before_history", previous)
    changes = []
    if previous is not None:
        changes = [f"model_spec {c}" for c in _changes(
            {k: json.dumps(v) for k, v in previous.get("model_spec", {}).items()},
            {k: json.dumps(v) for k, v in spec.items()})]
        changes += _changes(_bindings(previous.get("operative_config", "")), _bindings(operative_text))
        if changes:
            print(f"config changed since the start at step {previous.get('step')}: " + "; ".join(changes),
                  file=stream, flush=True)
    record = {"step": int(step), "time": time.strftime("%Y-%m-%d %H:%M:%S"), "pid": os.getpid(),
              "host": socket.gethostname(), "model_spec": spec, "operative_config": operative_text,
              "changes": changes}
    _write_record(model_dir, f"step_{int(step):07d}", record)
    return changes


def _write_record(model_dir, stem, record):
    """`config_history/<NNN>_<stem>.json`, NNN counting the starts (so names sort in order)."""
    folder = os.path.join(model_dir, HISTORY_SUBDIR)
    os.makedirs(folder, exist_ok=True)
    n = sum(name.endswith(".json") for name in os.listdir(folder))
    name = f"{n:03d}_{stem}.json"
    write_text_atomically(os.path.join(folder, name), json.dumps(record, indent=1) + "\n")
