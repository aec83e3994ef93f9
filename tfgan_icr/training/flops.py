"""FLOP count of traced TensorFlow graphs, for the benchmark's utilisation figures.

The count walks a `tf.function`'s graph with TensorFlow's own per-op FLOP statistics (the
registry behind `tf.compat.v1.profiler`'s float_ops: convolutions and their two gradients,
matrix products, element-wise arithmetic, reductions) and follows functional control flow
into its branch and loop bodies. Convention: one multiply-add = 2 FLOP. Ops without a
registered statistic (activations, batch-norm kernels, random numbers, copies) count 0;
they are a few percent of a convolutional GAN's work.

What the step really runs: only ops that the graph's outputs or side effects (variable
updates) depend on are counted, as TensorFlow prunes a function before it runs it; a
gradient tape's unneeded half (e.g. a convolution's input gradient where only the kernel's is
used) is therefore not counted. A `tf.cond` counts its more expensive branch; a while loop
counts its body `loop_trips` times (the caller knows the trip count: in the GAN step the only
loop is gradient accumulation's, which runs ``accumulation_steps - 1`` times).

`dense_op_signatures` lists the step's convolutions and matrix products by their shapes and
attributes, with how often each runs per call, so that the benchmark can time each alone at its
own shape (`training.benchmark.own_shape_rates`).
"""

import collections

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.profiler.internal import flops_registry  # noqa: F401  (registers the statistics)
from tensorflow.python.util import deprecation

CONVENTION = "1 multiply-add = 2 FLOP; forward + backward ops as traced, unused ones pruned"
#: Op types whose FLOPs are the multiply-adds of convolutions and matrix products.
DENSE_OPS = frozenset({"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "Conv3D",
                       "DepthwiseConv2dNative", "MatMul", "BatchMatMul", "BatchMatMulV2",
                       "BatchMatMulV3", "Einsum"})
_BRANCHES = {"If": ("then_branch", "else_branch"), "StatelessIf": ("then_branch", "else_branch"),
             "Case": ("branches",), "StatelessCase": ("branches",)}
_LOOPS = {"While": "body", "StatelessWhile": "body"}
_CALLS = {"PartitionedCall": "f", "StatefulPartitionedCall": "f"}


def _live_ops(graph):
    """The ops the graph's outputs and control outputs (side effects) depend on."""
    roots = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    if not roots:  # not a function graph: everything counts
        return graph.get_operations()
    seen, stack = set(), list(roots)
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in seen]


def _function_graph(graphs, name):
    for graph in graphs:
        function = graph._get_function(name)  # noqa: SLF001 (the only way to a nested body)
        if function is not None:
            return function.graph
    raise ValueError(f"FLOP count: function {name!r} of the traced graph not found")


def _func_names(op, attr):
    value = op.node_def.attr[attr]
    return [f.name for f in value.list.func] if value.list.func else [value.func.name]


def _op_flops(graph, op):
    try:
        stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
    except (ValueError, TypeError):  # no statistic, or a shape only known at run time
        return None
    return int(stats.value) if stats.value is not None else None


def graph_flops(graph, loop_trips=1, _root=None):
    """FLOP per op type of one call of ``graph`` (a FuncGraph), and the op types whose FLOP
    could not be computed (no static shape) as ``{"flop": Counter, "unknown_shape": set}``.
    The result's ``"dense"`` lists the convolutions and matrix products counted, as
    ``(op, flop per call, calls)``."""
    root = _root or graph
    counts, unknown, dense = collections.Counter(), set(), []
    for op in _live_ops(graph):
        nested = _nested_graphs((graph, root), op)
        if nested is not None:
            kind, graphs = nested
            parts = [graph_flops(g, loop_trips, root) for g in graphs]
            for part in parts:
                unknown |= part["unknown_shape"]
            if kind == "branch":
                chosen = max(parts, key=lambda p: sum(p["flop"].values()))
                counts.update(chosen["flop"])
                dense.extend(chosen["dense"])
            else:
                trips = loop_trips if kind == "loop" else 1
                for part in parts:
                    counts.update({k: v * trips for k, v in part["flop"].items()})
                    dense.extend((o, f, calls * trips) for o, f, calls in part["dense"])
            continue
        flops = _op_flops(graph, op)
        if flops is None:
            if op.type in flops_registry.IMPLEMENTED_OPS or op.type in DENSE_OPS:
                unknown.add(op.type)
        elif flops:
            counts[op.type] += flops
            if op.type in DENSE_OPS:
                dense.append((op, flops, 1))
    return {"flop": counts, "unknown_shape": unknown, "dense": dense}


def _nested_graphs(graphs, op):
    if op.type in _BRANCHES:
        names = [n for attr in _BRANCHES[op.type] for n in _func_names(op, attr)]
        return "branch", [_function_graph(graphs, n) for n in names]
    if op.type in _LOOPS:
        return "loop", [_function_graph(graphs, _func_names(op, _LOOPS[op.type])[0])]
    if op.type in _CALLS:
        return "call", [_function_graph(graphs, _func_names(op, _CALLS[op.type])[0])]
    return None


def summarize(counted):
    """The JSON-ready summary of a `graph_flops` result."""
    flop = counted["flop"]
    total = int(sum(flop.values()))
    dense = int(sum(v for k, v in flop.items() if k in DENSE_OPS))
    return {"flop": total, "conv_matmul_flop": dense,
            "flop_by_op": {k: int(v) for k, v in flop.most_common()},
            "unknown_shape_ops": sorted(counted["unknown_shape"])}


def _attributes(op):
    """The attributes of ``op`` a `tf.raw_ops` call takes (not the ones its inputs imply)."""
    implied = set()
    for arg in op.op_def.input_arg:
        implied |= {arg.type_attr, arg.number_attr, arg.type_list_attr} - {""}
    return {a.name: op.get_attr(a.name) for a in op.op_def.attr if a.name not in implied}


def _input_of(tensor):
    """How a dense op's input is remade: ``("value", values, shape, dtype)`` for an integer
    input known when tracing (a gradient's ``input_sizes``), ``("shape", shape, dtype)`` for
    data, or None when it is not known before run time."""
    if tensor.dtype.is_integer:
        value = tf.get_static_value(tensor)
        if value is None and tensor.op.type in ("Shape", "ShapeN"):  # a gradient's input sizes
            source = tensor.op.inputs[tensor.value_index].shape
            value = np.array(source.as_list()) if source.is_fully_defined() else None
        if value is None:
            return None
        return ("value", tuple(int(v) for v in value.reshape(-1)), tuple(value.shape), tensor.dtype.name)
    if not tensor.shape.is_fully_defined():
        return None
    return ("shape", tuple(tensor.shape.as_list()), tensor.dtype.name)


def dense_op_signatures(counted):
    """The convolutions and matrix products of a `graph_flops` result grouped by what they
    compute: ``[{"type", "inputs", "attributes", "output", "flop", "calls"}]`` (``inputs`` per input
    argument: see `_input_of`), the ones run most FLOP first. Ops with an input known only at
    run time are left out, so the signatures' FLOP then fall short of the count's
    ``conv_matmul_flop``."""
    grouped = {}
    for op, flop, calls in counted["dense"]:
        inputs = [_input_of(t) for t in op.inputs]
        if any(i is None for i in inputs):
            continue
        arguments = tuple(zip([a.name for a in op.op_def.input_arg], inputs))
        attributes = _attributes(op)
        key = (op.type, arguments, repr(sorted(attributes.items())))
        entry = grouped.setdefault(key, {"type": op.type, "inputs": dict(arguments),
                                         "attributes": attributes, "output": tuple(op.outputs[0].shape.as_list()),
                                         "flop": flop, "calls": 0})
        entry["calls"] += calls
    return sorted(grouped.values(), key=lambda e: -e["flop"] * e["calls"])


def function_flops(fn, *specs, loop_trips=1, with_signatures=False):
    """`summarize`d FLOP of one call of the tf.function ``fn`` on inputs of ``specs``; with
    ``with_signatures``, also its dense ops' `dense_op_signatures` (``"dense_ops"``)."""
    concrete = fn.get_concrete_function(*specs)
    with deprecation.silence():  # the registry's TF1 shape helper warns on every op
        counted = graph_flops(concrete.graph, loop_trips)
        summary = summarize(counted)
        if with_signatures:
            summary["dense_ops"] = dense_op_signatures(counted)
    return summary


def train_step_flops(gan, batch_size, image_shape, strategy=None, with_signatures=False):
    """FLOP of one training iteration of ``gan`` (n_dis D updates + the G update, forward and
    backward, the optimizer updates) with ``batch_size`` real images per D update and per
    replica, summed over the replicas of ``strategy`` (default: the current one)."""
    strategy = strategy or tf.distribute.get_strategy()
    examples = gan.examples_per_iteration(batch_size)
    specs = ((tf.TensorSpec([examples, *image_shape], tf.float32), tf.TensorSpec([examples], tf.int32)),)
    step = tf.function(lambda data: strategy.run(gan.train_step, args=(data,)))
    return function_flops(step, *specs, loop_trips=max(gan.accumulation_steps - 1, 1),
                          with_signatures=with_signatures)
