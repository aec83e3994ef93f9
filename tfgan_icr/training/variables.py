"""Stable names for a network's variables: the attribute path from the network to each variable.

Keras 3's own variable paths (``generator/conv2d_3/kernel``) contain layer names that come
from a process-wide counter, so they depend on what was built before, and TensorFlow's object
graph does not follow layers that a Keras 3 model keeps in Python lists. The path used here is
the chain of Python attributes (list indices and dict keys included) from the network to the
layer that owns the variable, then the variable's own name: ``blocks/2/conv/kernel``. It does
not depend on construction order or on other models in the process, so checkpoints and the EMA
pairing keyed by it cannot put a layer's values into another same-shaped layer.
"""

import keras

# Keras' own bookkeeping: these hold every sub-layer / variable again, without names.
_KERAS_INTERNALS = frozenset({
    "_layers", "_tracker", "_trainable_variables", "_non_trainable_variables", "_metrics",
    "_seed_generators", "_tracked", "_loss_tracker", "_compile_loss", "_compile_metrics",
    "_inbound_nodes", "_outbound_nodes", "_losses", "_self_unconditional_checkpoint_dependencies",
    "_self_unconditional_dependency_names", "_self_unconditional_deferred_dependencies",
    "_self_saveable_object_factories", "_distribute_strategy",
})


def _join(prefix, name):
    return f"{prefix}/{name}" if prefix else str(name)


def _children(value, prefix):
    """(path, layer) pairs of the layers held by an attribute value (a layer or a container)."""
    if isinstance(value, keras.layers.Layer):
        yield prefix, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _children(item, _join(prefix, i))
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _children(value[key], _join(prefix, key))


def named_variables(network):
    """``{path: variable}`` for every variable of ``network`` (a built Keras layer or model),
    sorted by path.

    Raises ValueError when two variables would get one path, or when a variable of
    ``network.weights`` cannot be reached through attributes (it would be lost on save).
    """
    found = {}
    visited = set()

    def add(path, variable):
        if path in found and found[path] is not variable:
            raise ValueError(f"two variables of {network.name} have the path {path!r}: give them "
                             f"distinct names")
        found[path] = variable

    def visit(layer, prefix):
        if id(layer) in visited:
            return  # a shared layer keeps the first (sorted) path that reaches it
        visited.add(id(layer))
        for variable in list(layer._trainable_variables) + list(layer._non_trainable_variables):
            add(_join(prefix, variable.name), variable)
        for generator in getattr(layer, "_seed_generators", []):
            add(_join(prefix, f"{generator.name}/state"), generator.state)
        attributes = vars(layer)
        public = sorted(name for name in attributes if not name.startswith("_"))
        private = sorted(name for name in attributes
                         if name.startswith("_") and name not in _KERAS_INTERNALS)
        for name in public + private:
            for path, child in _children(attributes[name], _join(prefix, name)):
                visit(child, path)
        for child in layer._layers:  # held only by Keras' list: fall back to the layer name
            visit(child, _join(prefix, child.name))

    visit(network, "")
    expected = {id(v) for v in network.weights}
    missing = [v for v in network.weights if id(v) not in {id(f) for f in found.values()}]
    if missing:
        raise ValueError(f"{network.name}: variable {missing[0].path} is not reachable through "
                         f"attributes, so it could not be saved by name")
    return {path: found[path] for path in sorted(found) if id(found[path]) in expected}


def pair_by_name(targets, sources):
    """``[(target_var, source_var)]`` of two networks of one architecture, paired by path.

    Raises ValueError naming the first path that only one of them has, or a shape mismatch.
    """
    target_vars, source_vars = named_variables(targets), named_variables(sources)
    first = first_difference(shapes_of(target_vars), shapes_of(source_vars))
    if first:
        raise ValueError(f"{targets.name} and {sources.name} differ: {first}")
    return [(target_vars[path], source_vars[path]) for path in target_vars]


def shapes_of(variables):
    return {path: tuple(int(d) for d in variable.shape) for path, variable in variables.items()}


def first_difference(have, want, have_name="the first", want_name="the second"):
    """A one-line description of the first path whose presence or shape differs between two
    ``{path: shape}`` maps, or None when they agree."""
    for path in sorted(set(have) | set(want)):
        if path not in want:
            return f"{path} is only in {have_name}"
        if path not in have:
            return f"{path} is only in {want_name}"
        if tuple(have[path]) != tuple(want[path]):
            return f"{path} has shape {tuple(have[path])} in {have_name} but {tuple(want[path])} in {want_name}"
    return None
