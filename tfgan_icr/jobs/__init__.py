"""The jobs behind the command line, one module each: `train`, `sample`, `evaluate`.

Each is a gin-configurable function of a run directory; `main.py` parses the config and
calls one of them.
"""
