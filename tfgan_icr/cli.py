"""What the command-line entry points share: a short `--help` of the project's own flags,
a quiet TensorFlow start-up, and user errors that end in one line, not a trace."""

import os
import re
import sys
import tempfile

from tfgan_icr.errors import TfganError, first_line

HELP_ARGS = ("-h", "-help", "--help", "-?")

# Lines TensorFlow writes to stderr while it loads on a machine without a GPU, none of them
# actionable: its C++ logging prints everything before absl::InitializeLog() whatever
# TF_CPP_MIN_LOG_LEVEL says, and twice (two shared libraries log on their own).
_HARMLESS_STARTUP = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on"
    r"|Could not find cuda drivers|failed call to cuInit|Unable to register cu\w+ factory"
    r"|computation placer already registered|TF-TRT Warning"
    r"|This TensorFlow binary is optimized to use|rebuild TensorFlow with the appropriate"
)


def import_tensorflow_quietly():
    """Import TensorFlow (and find its devices) with its start-up lines filtered out.

    The process's stderr is captured at the file-descriptor level while TensorFlow loads;
    any line that is not one of the known harmless ones is printed afterwards. Set
    `TFGAN_ICR_VERBOSE=1` to see everything.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ.get("TFGAN_ICR_VERBOSE"):
        import tensorflow as tf
        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()  # initialises the platforms (the cuInit line)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if line.strip() and not _HARMLESS_STARTUP.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)
    return tf


def help_text(usage, flag_names):
    """`usage` followed by one line per flag in `flag_names`: `--name  help (default: ...)`."""
    from absl import flags

    lines = [usage.strip(), "", "flags:"]
    for name in flag_names:
        flag = flags.FLAGS[name]
        # absl decorates the help of enum and multi flags ("<a|b>: ...", "...;\n repeat ...").
        text = re.sub(r"^<[^>]*>: ", "", flag.help).split(";\n")[0]
        suffix = f" (default: {flag.default})" if flag.default not in (None, [], "") else ""
        lines.append(f"  --{name:<13} {text}{suffix}")
    lines.append("  --helpfull      every flag, absl's and TensorFlow's included")
    return "\n".join(lines)


def run_app(main, usage, flag_names, argv=None):
    """`absl.app.run(main)`, except that -h/--help prints `help_text` and exits 0."""
    from absl import app

    argv = sys.argv if argv is None else argv
    args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    if any(arg in HELP_ARGS for arg in args):
        print(help_text(usage, flag_names))
        sys.exit(0)
    app.run(main, argv=argv)


def exit_on_user_error(run):
    """Wrap an absl `run(argv)`: a TfganError prints `error: <its first line>` and exits 2."""

    def main(argv):
        try:
            run(argv)
        except TfganError as error:
            print(f"error: {first_line(error)}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt as interrupt:
            # 130 after Ctrl-C; 143 (128 + SIGTERM) after a SIGTERM that saved a checkpoint.
            sys.exit(getattr(interrupt, "exit_code", 130))

    return main
