"""Spectrally normalised layers (Miyato et al., 2018, "Spectral Normalization for GANs").

Every layer here keeps its raw weight ``W`` as the trainable variable and a persistent,
non-trainable vector ``u`` (shape ``[out_dim]``).  With ``W`` viewed as the matrix
``W_mat = reshape(W, [-1, out_dim])`` (the output axis moved last first), a call with
``training=True`` runs ONE power iteration::

    v = l2norm(W_mat u)          # [in_dim]   (== l2norm(W^T u) in the paper's [out, in] layout)
    u = l2norm(W_mat^T v)        # [out_dim]  (stored back into the variable)
    sigma = v^T W_mat u

with ``u`` and ``v`` treated as constants (stop-gradient), and the layer computes with
``W / sigma``.  Gradients reach ``W`` both directly and through ``sigma`` (this is the
method of the paper and of compare_gan / StudioGAN; the normalised kernel is never written
back into ``W``).  With ``training=False`` the stored ``u`` is used and not updated:
``v = l2norm(W_mat u)``, ``sigma = v^T W_mat u`` (= ``||W_mat u||``; ``u`` is re-normalised first).

``u`` is a sync-on-read variable (``aggregation="mean"``): inside
``tf.distribute.MirroredStrategy.run`` each replica updates its own copy without an all-reduce
per layer per call, and the copies stay identical (the update depends only on the mirrored
kernel and ``u``); reading it across replicas gives their mean, the same value.

All computations use ``keras.ops`` only, so the layers also run on the JAX backend.
"""

import keras
from keras import ops

__all__ = ["SNConv2D", "SNConv2DTranspose", "SNDense", "SNEmbedding", "l2_normalize"]

_REGISTER = keras.saving.register_keras_serializable(package="tfgan_icr")


def l2_normalize(x, epsilon=1e-12):
    """``x / max(||x||_2, epsilon)`` over all elements (PyTorch ``F.normalize`` style)."""
    norm = ops.sqrt(ops.sum(ops.square(x)))
    return x / ops.maximum(norm, epsilon)


class _SpectralNormLayer(keras.layers.Layer):
    """Base class: owns ``u`` and computes ``W / sigma``.

    Subclasses set ``_sn_axis`` (the kernel axis that indexes output units), create their
    kernel in ``build`` and then call ``self._build_sn(kernel_shape)``.
    """

    _sn_axis = -1

    def __init__(self, sn_epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.sn_epsilon = float(sn_epsilon)

    # -- construction -------------------------------------------------------------------
    def _build_sn(self, kernel_shape):
        axis = self._sn_axis % len(kernel_shape)
        self._sn_axis_abs = axis
        out_dim = int(kernel_shape[axis])
        # ON_READ: each replica updates its own copy without an all-reduce; the copies stay
        # equal because the power iteration is a function of the (mirrored) kernel and u only.
        self.u = keras.Variable(
            initializer=keras.initializers.RandomNormal(mean=0.0, stddev=1.0),
            shape=(out_dim,),
            dtype=self.variable_dtype,
            trainable=False,
            autocast=False,
            aggregation="mean",
            synchronization="on_read",
            name="sn_u",
        )

    def _kernel_matrix(self, kernel):
        """``kernel`` as a ``[in_dim, out_dim]`` matrix, computed in the variable dtype."""
        w = ops.cast(kernel, self.u.dtype)
        rank = len(w.shape)
        if self._sn_axis_abs != rank - 1:
            w = ops.moveaxis(w, self._sn_axis_abs, -1)
        return ops.reshape(w, (-1, int(self.u.shape[0])))

    # -- the normalisation --------------------------------------------------------------
    def _sigma(self, kernel, training):
        w_mat = self._kernel_matrix(kernel)  # [in, out]
        # The stored u is unit-norm after any update; normalising it again also makes the
        # first (eval) call correct with the random-normal initial value.
        u = ops.reshape(ops.convert_to_tensor(self.u), (1, -1))  # [1, out]
        u = ops.stop_gradient(l2_normalize(u, self.sn_epsilon))
        # v = l2norm(W_mat u) in row form: u [1,out] @ W_mat^T [out,in] -> [1, in]
        v = l2_normalize(ops.matmul(u, ops.transpose(w_mat)), self.sn_epsilon)
        v = ops.stop_gradient(v)
        if training:
            u = l2_normalize(ops.matmul(v, w_mat), self.sn_epsilon)  # [1, out]
            u = ops.stop_gradient(u)
            self.u.assign(ops.reshape(u, (-1,)))
        # sigma = v^T W_mat u; gradients flow through W_mat only.
        return ops.sum(ops.matmul(v, w_mat) * u)

    def _normalized(self, kernel, training):
        sigma = self._sigma(kernel, training)
        w = ops.cast(kernel, self.u.dtype) / sigma
        return ops.cast(w, self.compute_dtype)

    def normalized_kernel(self):
        """``W / sigma`` computed from the stored ``u`` (no update). For inspection/tests."""
        return self._normalized(self._sn_kernel_variable(), training=False)

    def sigma(self):
        """The current estimate of the largest singular value (stored ``u``, no update)."""
        return self._sigma(self._sn_kernel_variable(), training=False)

    def _sn_kernel_variable(self):
        return self.kernel

    def get_config(self):
        config = super().get_config()
        config.update({"sn_epsilon": self.sn_epsilon})
        return config


def _conv_tuple(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return value


@_REGISTER
class SNDense(_SpectralNormLayer):
    """Spectrally normalised fully connected layer: ``x @ (W / sigma) + b``.

    Call: ``layer(x, training=None)``; ``x`` is ``[..., in_dim]``.  Kernel ``[in_dim, units]``.
    """

    def __init__(self, units, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        in_dim = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(in_dim, self.units),
                                      initializer=self.kernel_initializer, trainable=True)
        self.bias = (self.add_weight(name="bias", shape=(self.units,),
                                     initializer=self.bias_initializer, trainable=True)
                     if self.use_bias else None)
        self._build_sn(self.kernel.shape)

    def call(self, inputs, training=None):
        kernel = self._normalized(self.kernel, bool(training))
        outputs = ops.matmul(inputs, kernel)
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, outputs.dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


class _SNConvBase(_SpectralNormLayer):
    def __init__(self, filters, kernel_size, strides=1, padding="same", use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _conv_tuple(kernel_size, "kernel_size")
        self.strides = _conv_tuple(strides, "strides")
        padding = str(padding).lower()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _kernel_shape(self, in_channels):
        raise NotImplementedError

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=self._kernel_shape(in_channels),
                                      initializer=self.kernel_initializer, trainable=True)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,),
                                     initializer=self.bias_initializer, trainable=True)
                     if self.use_bias else None)
        self._build_sn(self.kernel.shape)

    def _op(self, inputs, kernel):
        raise NotImplementedError

    def _output_size(self, n, k, s):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        sizes = [None if n is None else self._output_size(n, k, st)
                 for n, k, st in zip((h, w), self.kernel_size, self.strides)]
        return (b, *sizes, self.filters)

    def call(self, inputs, training=None):
        kernel = self._normalized(self.kernel, bool(training))
        outputs = self._op(inputs, kernel)
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, outputs.dtype)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


@_REGISTER
class SNConv2D(_SNConvBase):
    """Spectrally normalised 2-D convolution (channels last, default ``padding="same"``).

    Kernel ``[kh, kw, in, filters]``; ``W_mat = reshape(W, [kh*kw*in, filters])``.
    Call: ``layer(x, training=None)``.
    """

    _sn_axis = -1

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, self.filters)

    def _op(self, inputs, kernel):
        return ops.conv(inputs, kernel, strides=self.strides, padding=self.padding,
                        data_format="channels_last")

    def _output_size(self, n, k, s):
        return -(-n // s) if self.padding == "same" else (n - k) // s + 1


@_REGISTER
class SNConv2DTranspose(_SNConvBase):
    """Spectrally normalised transposed 2-D convolution (channels last).

    Keras stores the kernel as ``[kh, kw, filters, in]``; the output axis (``filters``,
    axis -2) is moved last before reshaping, as PyTorch does for ConvTranspose (``dim=1``).
    With ``padding="same"`` the output is ``input * strides``.
    """

    _sn_axis = -2

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (self.filters, in_channels)

    def _op(self, inputs, kernel):
        return ops.conv_transpose(inputs, kernel, strides=self.strides, padding=self.padding,
                                  data_format="channels_last")

    def _output_size(self, n, k, s):
        return n * s if self.padding == "same" else (n - 1) * s + k


@_REGISTER
class SNEmbedding(_SpectralNormLayer):
    """Spectrally normalised embedding table ``E [input_dim, output_dim]`` (rows = classes).

    ``W_mat = E`` with ``u`` of shape ``[output_dim]`` (compare_gan convention: the
    embedding is the kernel of a linear map applied to one-hot labels).
    Call: ``layer(ids, training=None)`` -> ``[..., output_dim]``.
    """

    _sn_axis = -1

    def __init__(self, input_dim, output_dim, embeddings_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(name="embeddings",
                                          shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          trainable=True)
        self._build_sn(self.embeddings.shape)

    def _sn_kernel_variable(self):
        return self.embeddings

    def call(self, inputs, training=None):
        table = self._normalized(self.embeddings, bool(training))
        ids = ops.cast(inputs, "int32")
        return ops.take(table, ids, axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": keras.initializers.serialize(
                self.embeddings_initializer),
        })
        return config
