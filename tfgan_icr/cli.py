"""What the command-line entry points share: user errors end in one line, not a trace."""

import sys

from tfgan_icr.errors import TfganError, first_line


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
