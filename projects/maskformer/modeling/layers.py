# Copyright 2026 The MaskFormer-TF Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Building blocks with PyTorch's exact semantics (norms, attention).

Every layer here computes what the corresponding PyTorch module of the
original MaskFormer computes, in NHWC / [batch, length, channels] layouts:

  * `FrozenBatchNorm`: detectron2's FrozenBatchNorm2d (eps 1e-5, never trains).
  * `GroupNorm`: `nn.GroupNorm` (contiguous channel groups, biased variance).
  * `ConvGroupNorm`: detectron2's `Conv2d(bias=False, norm=GroupNorm)`, the
    FPN convolutions of the pixel decoders (optionally followed by a ReLU).
  * `layer_norm`: `nn.LayerNorm` (eps 1e-5).
  * `MultiHeadAttention`: `nn.MultiheadAttention` (q scaled by head_dim^-0.5
    after its bias, an optional boolean attention mask, dropout on the
    attention weights).

Normalizations and the attention softmax run in the accumulation dtype
(`ops.precision`): float32 under 'float32' and 'mixed_bfloat16', float64
under 'float64'. FrozenBN, GroupNorm and the attention return the input /
compute dtype, `layer_norm` returns the accumulation dtype.
Initializers follow the original's: `c2_xavier_initializer` (detectron2
`c2_xavier_fill`), `torch_linear_*` (PyTorch's default `nn.Linear` init).
"""
import math
from typing import Optional

import tensorflow as tf
import tf_keras

from projects.maskformer.ops import precision
from projects.maskformer.ops import valid_region

# PyTorch's LayerNorm / GroupNorm / BatchNorm epsilon.
TORCH_NORM_EPSILON = 1e-5


def c2_xavier_initializer() -> tf_keras.initializers.Initializer:
  """detectron2's `c2_xavier_fill`: kaiming_uniform(a=1), U(+-sqrt(3/fan_in))."""
  return tf_keras.initializers.VarianceScaling(
      scale=1.0, mode='fan_in', distribution='uniform')


def torch_linear_kernel_initializer() -> tf_keras.initializers.Initializer:
  """PyTorch's default Linear/Conv weight init: U(+-1/sqrt(fan_in))."""
  return tf_keras.initializers.VarianceScaling(
      scale=1.0 / 3.0, mode='fan_in', distribution='uniform')


def torch_linear_bias_initializer(
    fan_in: int) -> tf_keras.initializers.Initializer:
  """PyTorch's default Linear bias init: U(+-1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)
  return tf_keras.initializers.RandomUniform(-bound, bound)


def xavier_uniform_initializer(
    fan_ratio: float = 1.0) -> tf_keras.initializers.Initializer:
  """`nn.init.xavier_uniform_` on a torch weight of shape [fan_ratio*n, n].

  `fan_ratio` is 3 for the rows of a packed q;k;v projection that PyTorch
  initializes as one [3C, C] matrix, so that each of the three [C, C] TF
  kernels gets the original's bound sqrt(6 / (C + 3C)).

  Args:
    fan_ratio: fan_out / fan_in of the torch weight that this kernel is a
      slice of.

  Returns:
    A Keras initializer.
  """
  return tf_keras.initializers.VarianceScaling(
      scale=2.0 / (1.0 + fan_ratio), mode='fan_in', distribution='uniform')


class FrozenBatchNorm(tf_keras.layers.Layer):
  """detectron2's FrozenBatchNorm2d: a fixed per-channel affine transform.

  Computes `x * scale + offset` with `scale = gamma * rsqrt(var + eps)` and
  `offset = beta - mean * scale` (computed in the variable dtype: float32,
  or float64 under the 'float64' policy). None of the four
  variables is trainable, whatever `trainable` is set to.
  """

  def __init__(self, epsilon: float = TORCH_NORM_EPSILON, **kwargs):
    """Initializes the layer.

    Args:
      epsilon: added to the variance (detectron2 uses 1e-5).
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._epsilon = epsilon

  def build(self, input_shape):
    channels = int(input_shape[-1])

    def frozen(name, initializer):
      return self.add_weight(
          name, shape=[channels], dtype=self.dtype, initializer=initializer,
          trainable=False, experimental_autocast=False)

    self.gamma = frozen('gamma', 'ones')
    self.beta = frozen('beta', 'zeros')
    self.moving_mean = frozen('moving_mean', 'zeros')
    self.moving_variance = frozen(
        'moving_variance',
        tf_keras.initializers.Constant(1.0 - self._epsilon))
    super().build(input_shape)

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    scale = self.gamma * tf.math.rsqrt(self.moving_variance + self._epsilon)
    offset = self.beta - self.moving_mean * scale
    return inputs * tf.cast(scale, inputs.dtype) + tf.cast(offset,
                                                           inputs.dtype)

  def get_config(self):
    return dict(super().get_config(), epsilon=self._epsilon)


class GroupNorm(tf_keras.layers.Layer):
  """`nn.GroupNorm` on NHWC features, computed in the variable dtype.

  That is float32 under 'float32' and 'mixed_bfloat16', float64 under
  'float64'; the output has the input's dtype.

  Channel c belongs to group c // (C / groups), as in PyTorch; the mean and
  the biased variance are taken over the spatial axes and the group's
  channels of each example.
  """

  def __init__(self, groups: int = 32, epsilon: float = TORCH_NORM_EPSILON,
               **kwargs):
    """Initializes the layer.

    Args:
      groups: number of channel groups; must divide the channel count.
      epsilon: added to the variance.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._groups = groups
    self._epsilon = epsilon

  def build(self, input_shape):
    channels = int(input_shape[-1])
    if channels % self._groups:
      raise ValueError(f'{self.name}: {channels} channels are not divisible '
                       f'into {self._groups} groups')
    self.gamma = self.add_weight(
        'gamma', shape=[channels], dtype=self.dtype, initializer='ones',
        experimental_autocast=False)
    self.beta = self.add_weight(
        'beta', shape=[channels], dtype=self.dtype, initializer='zeros',
        experimental_autocast=False)
    super().build(input_shape)

  def call(self, inputs: tf.Tensor,
           valid_sizes: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Normalizes `inputs`.

    Args:
      inputs: A float [B, H, W, C] tensor.
      valid_sizes: None (statistics over the whole map) or an int [B, 2]
        tensor, each image's valid (height, width) at this resolution: the
        statistics then cover only that region, as GroupNorm of the image
        alone gives (`valid_region`). Outside it the output means nothing.

    Returns:
      The normalized [B, H, W, C] tensor in the input dtype.
    """
    x = tf.cast(inputs, self.dtype)
    shape = tf.shape(x)
    channels = x.shape[-1]
    grouped = tf.reshape(
        x, tf.stack([shape[0], shape[1], shape[2], self._groups,
                     channels // self._groups]))
    if valid_sizes is None:
      mean, variance = tf.nn.moments(grouped, axes=[1, 2, 4], keepdims=True)
    else:
      mean, variance = self._valid_moments(grouped, valid_sizes)
    normalized = (grouped - mean) * tf.math.rsqrt(variance + self._epsilon)
    outputs = tf.reshape(normalized, shape) * self.gamma + self.beta
    return tf.cast(outputs, inputs.dtype)

  def _valid_moments(self, grouped: tf.Tensor, valid_sizes: tf.Tensor):
    """Mean and biased variance of [B, H, W, G, C/G] over the valid region."""
    mask = tf.cast(valid_region.feature_mask(grouped, valid_sizes),
                   grouped.dtype)[..., tf.newaxis]  # [B, H, W, 1, 1]
    valid_sizes = tf.cast(valid_sizes, grouped.dtype)
    count = (valid_sizes[:, 0] * valid_sizes[:, 1] *
             tf.cast(tf.shape(grouped)[-1], grouped.dtype))
    count = tf.reshape(count, [-1, 1, 1, 1, 1])
    mean = tf.reduce_sum(grouped * mask, axis=[1, 2, 4], keepdims=True) / count
    variance = tf.reduce_sum(
        tf.math.squared_difference(grouped, mean) * mask, axis=[1, 2, 4],
        keepdims=True) / count
    return mean, variance

  def get_config(self):
    return dict(super().get_config(), groups=self._groups,
                epsilon=self._epsilon)


class ConvGroupNorm(tf_keras.layers.Layer):
  """detectron2 `Conv2d(bias=False, norm=GroupNorm)`, optionally + ReLU.

  The convolution and the norm take this layer's dtype policy.
  """

  def __init__(self, filters: int, kernel_size: int, num_groups: int,
               use_relu: bool, **kwargs):
    """Initializes the layer.

    Args:
      filters: output channels.
      kernel_size: 1 or 3 (stride 1, symmetric 'same' padding).
      num_groups: GroupNorm groups.
      use_relu: whether a ReLU follows the norm.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._filters = filters
    self._kernel_size = kernel_size
    self._num_groups = num_groups
    self._use_relu = use_relu

  def build(self, input_shape):
    self.conv = tf_keras.layers.Conv2D(
        self._filters, self._kernel_size, padding='same', use_bias=False,
        kernel_initializer=c2_xavier_initializer(), dtype=self.dtype_policy,
        name='conv')
    self.group_norm = GroupNorm(self._num_groups, dtype=self.dtype_policy,
                                name='group_norm')
    super().build(input_shape)

  def call(self, inputs: tf.Tensor,
           valid_sizes: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Convolves, normalizes and (optionally) rectifies.

    Args:
      inputs: A float [B, H, W, C_in] tensor.
      valid_sizes: None, or an int [B, 2] tensor of each image's valid
        (height, width) at this resolution: the input is then zeroed outside
        it before a 3x3 convolution and the GroupNorm statistics cover only
        it (padding-exact computation, `valid_region`).

    Returns:
      A [B, H, W, filters] tensor.
    """
    if valid_sizes is not None and self._kernel_size > 1:
      inputs = valid_region.zero_outside(inputs, valid_sizes)
    x = self.group_norm(self.conv(inputs), valid_sizes=valid_sizes)
    return tf.nn.relu(x) if self._use_relu else x


def layer_norm(name: str) -> tf_keras.layers.LayerNormalization:
  """`nn.LayerNorm` over the last axis (eps 1e-5), in the accumulation dtype.

  Args:
    name: the layer name.

  Returns:
    A LayerNormalization layer whose policy is the global policy's
    accumulation dtype (`precision.policy_accumulation_dtype`: float32, or
    float64 under 'float64'); its output has that dtype.
  """
  return tf_keras.layers.LayerNormalization(
      epsilon=TORCH_NORM_EPSILON,
      dtype=precision.policy_accumulation_dtype(), name=name)


class MultiHeadAttention(tf_keras.layers.Layer):
  """`nn.MultiheadAttention` (batch first) with separate q/k/v.

  PyTorch packs the query, key and value projections into one
  `in_proj_weight` [3C, C] = (Wq; Wk; Wv); here they are the `query`, `key`
  and `value` Dense layers (kernels [C, C] = W.T), followed by `output`
  (`out_proj`). The query is scaled by head_dim^-0.5 after its bias, the
  attention logits go through a softmax in the accumulation dtype (float32,
  or float64 under 'float64'), and dropout is applied to
  the attention weights.

  The optional boolean mask is PyTorch's boolean `attn_mask` (True: the
  query may not attend the key), shared by all heads. A blocked logit is
  replaced by the lowest finite value of the softmax dtype, whose weight
  underflows to exactly 0, as PyTorch's -inf gives, whenever the row keeps
  at least one key. (A row blocked everywhere gets uniform weights here and
  NaN in PyTorch; callers keep such rows out, as Mask2Former does.)
  """

  def __init__(self, num_heads: int, dropout_rate: float = 0.0, **kwargs):
    """Initializes the layer.

    Args:
      num_heads: number of heads; must divide the channel count.
      dropout_rate: dropout on the attention weights (training only).
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._num_heads = num_heads
    self._dropout_rate = dropout_rate

  def build(self, query_shape):
    channels = int(query_shape[-1])
    if channels % self._num_heads:
      raise ValueError(f'{self.name}: {channels} channels are not divisible '
                       f'by {self._num_heads} heads')
    self._head_dim = channels // self._num_heads

    def projection(name, fan_ratio):
      return tf_keras.layers.Dense(
          channels, kernel_initializer=xavier_uniform_initializer(fan_ratio),
          bias_initializer='zeros', name=name)

    self.query = projection('query', 3.0)
    self.key = projection('key', 3.0)
    self.value = projection('value', 3.0)
    self.output_projection = projection('output', 1.0)
    self._dropout = tf_keras.layers.Dropout(self._dropout_rate)
    super().build(query_shape)

  def _split_heads(self, x: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(x)
    return tf.reshape(
        x, tf.stack([shape[0], shape[1], self._num_heads, self._head_dim]))

  def call(self, query: tf.Tensor, key: tf.Tensor, value: tf.Tensor,
           blocked: Optional[tf.Tensor] = None,
           training: Optional[bool] = None) -> tf.Tensor:
    """Attends from `query` to `key`/`value`.

    Args:
      query: A float [B, Lq, C] tensor.
      key: A float [B, Lk, C] tensor.
      value: A float [B, Lk, C] tensor.
      blocked: None (attend everywhere) or a bool [B, Lq or 1, Lk] tensor,
        True where the query may not attend the key (every head alike).
      training: whether dropout is active.

    Returns:
      A [B, Lq, C] tensor in the layer's compute dtype.
    """
    q = self._split_heads(self.query(query) * (self._head_dim**-0.5))
    k = self._split_heads(self.key(key))
    v = self._split_heads(self.value(value))
    logits = tf.einsum('bqhd,bkhd->bhqk', q, k)
    wide = precision.accumulation_dtype(logits.dtype)
    logits = tf.cast(logits, wide)
    if blocked is not None:
      logits = tf.where(blocked[:, tf.newaxis], tf.constant(wide.min, wide),
                        logits)
    weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
    weights = self._dropout(weights, training=training)
    attended = tf.einsum('bhqk,bkhd->bqhd', weights, v)
    shape = tf.shape(attended)
    attended = tf.reshape(
        attended, tf.stack([shape[0], shape[1], self._num_heads *
                            self._head_dim]))
    return self.output_projection(attended)

  def get_config(self):
    return dict(super().get_config(), num_heads=self._num_heads,
                dropout_rate=self._dropout_rate)


def spatial_size(features: tf.Tensor):
  """(height, width) of NHWC features: Python ints where static, else tensors."""
  dynamic = tf.shape(features)
  return tuple(features.shape[i] if features.shape[i] is not None else
               dynamic[i] for i in (1, 2))
