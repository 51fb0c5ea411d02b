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

"""Deformable DETR's `MSDeformAttn` layer, as Mask2Former's encoder uses it.

For queries q [B, Lq, D] with reference points and the flattened multi-level
input x [B, S, D] (M heads of d = D / M channels, L levels, P points):

  value     = value_proj(x)                            viewed [B, S, M, d]
  offsets   = sampling_offsets(q)                      [B, Lq, M, L, P, 2]
  weights   = softmax over L*P of attention_weights(q)  [B, Lq, M, L, P]
  locations = reference[:, :, None, :, None, :] + offsets / (W_l, H_l)
  output    = output_proj(sampling(value, locations, weights))

The offsets are in pixels of the sampled level l (divided by that level's
(W, H), x first); `ops.deformable_attention` does the bilinear sampling (zero
padding, align_corners=False). Output units of `sampling_offsets` are
ordered ((m * L + l) * P + p) * 2 + xy, of `attention_weights`
(m * L + l) * P + p, as the original's `view`s read them. No padding mask:
Mask2Former's encoder never passes one.

On a static canvas (`ops/valid_region`) with each image's valid
(h_l, w_l) per level, the offsets are divided by (w_l, h_l) and the
locations are in the normalised frame of the image's region of each level,
which only is sampled: the same pixels, with the same float operations, as
the original on the image alone (where (W_l, H_l) = (w_l, h_l)).

The initialisation is the original's `_reset_parameters`: zero kernels for
the offsets and weights, the offsets' bias a ring of directions
(cos, sin)(2 pi m / M) scaled so that the larger coordinate is 1, times
p + 1 pixels; xavier-uniform value and output projections with zero bias.

Precision: the projections run in the layer's compute dtype; the softmax,
the sampling locations and the bilinear weights in the accumulation dtype
(float32, float64 under 'float64'): rounded to bfloat16 (8 significant bits),
a location near 1 would move by up to 1/256 of the frame, a quarter pixel on
a 64-wide map.
"""
import math
from typing import Optional
from typing import Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from projects.maskformer.ops import deformable_attention
from projects.maskformer.ops import precision


def ring_offsets(num_heads: int, num_levels: int, num_points: int
                 ) -> np.ndarray:
  """The original's initial sampling-offset bias, [M * L * P * 2] float32.

  Head m looks in the direction (cos, sin)(2 pi m / M), scaled so that the
  larger coordinate is 1; point p is p + 1 such steps away, on every level.

  Args:
    num_heads: M.
    num_levels: L.
    num_points: P.

  Returns:
    The flat bias, in the `sampling_offsets` unit order.
  """
  thetas = np.arange(num_heads, dtype=np.float32) * np.float32(
      2.0 * math.pi / num_heads)
  directions = np.stack([np.cos(thetas), np.sin(thetas)], axis=-1)
  directions /= np.abs(directions).max(axis=-1, keepdims=True)
  steps = np.arange(1, num_points + 1, dtype=np.float32)
  grid = (directions[:, np.newaxis, np.newaxis, :] *
          steps[np.newaxis, np.newaxis, :, np.newaxis])
  grid = np.broadcast_to(grid, [num_heads, num_levels, num_points, 2])
  return grid.reshape(-1).astype(np.float32)


class MSDeformAttn(tf_keras.layers.Layer):
  """Multi-scale deformable attention (Deformable DETR's `MSDeformAttn`)."""

  def __init__(self, num_heads: int = 8, num_levels: int = 3,
               num_points: int = 4, **kwargs):
    """Initializes the layer.

    Args:
      num_heads: M; must divide the model width D.
      num_levels: L, the levels of the input.
      num_points: P, the sampling points per head and level.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._num_heads = num_heads
    self._num_levels = num_levels
    self._num_points = num_points

  def build(self, query_shape):
    channels = int(query_shape[-1])
    if channels % self._num_heads:
      raise ValueError(f'{self.name}: {channels} channels are not divisible '
                       f'by {self._num_heads} heads')
    self._head_dim = channels // self._num_heads
    samples = self._num_heads * self._num_levels * self._num_points
    self.sampling_offsets = tf_keras.layers.Dense(
        samples * 2, kernel_initializer='zeros',
        bias_initializer=tf_keras.initializers.Constant(ring_offsets(
            self._num_heads, self._num_levels, self._num_points)),
        dtype=self.dtype_policy, name='sampling_offsets')
    self.attention_weights = tf_keras.layers.Dense(
        samples, kernel_initializer='zeros', bias_initializer='zeros',
        dtype=self.dtype_policy, name='attention_weights')

    def projection(name):
      return tf_keras.layers.Dense(
          channels, kernel_initializer='glorot_uniform',
          bias_initializer='zeros', dtype=self.dtype_policy, name=name)

    self.value_proj = projection('value_proj')
    self.output_proj = projection('output_proj')
    super().build(query_shape)

  def sampling(self, query: tf.Tensor, reference_points: tf.Tensor,
               spatial_shapes: deformable_attention.SpatialShapes,
               valid_sizes: Optional[tf.Tensor] = None
               ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Where each query samples, and with which weights.

    Args:
      query: A float [B, Lq, D] tensor.
      reference_points: A float [B or 1, Lq, L, 2] tensor of (x, y) in the
        normalised frame of each level.
      spatial_shapes: the static (H_l, W_l) of the L levels.
      valid_sizes: None, or an int [B, L, 2] tensor of each image's valid
        (h_l, w_l) per level: the frames are then the images' regions (the
        offsets in pixels are divided by (w_l, h_l)), see the module
        docstring.

    Returns:
      locations: [B, Lq, M, L, P, 2] (x, y) sampling locations.
      weights: [B, Lq, M, L, P] attention weights (softmax over L * P per
        head).
      Both in the accumulation dtype of the compute dtype.
    """
    wide = precision.accumulation_dtype(self.compute_dtype)
    batch, num_queries = tf.shape(query)[0], query.shape[1]
    grid = [batch, num_queries, self._num_heads, self._num_levels,
            self._num_points]
    logits = tf.reshape(
        tf.cast(self.attention_weights(query), wide),
        grid[:3] + [self._num_levels * self._num_points])
    weights = tf.reshape(tf.nn.softmax(logits, axis=-1), grid)
    # In [B, Lq, M, L, P * 2] (TF broadcasts at most 5 dimensions): each
    # level's (W, H) and reference point repeated for the P points.
    offsets = tf.reshape(tf.cast(self.sampling_offsets(query), wide),
                         grid[:4] + [self._num_points * 2])
    # The (H, W) of each level's frame: [L, 2], or [B, 1, 1, L, 2] per image.
    frames = (tf.constant(spatial_shapes) if valid_sizes is None else
              valid_sizes[:, tf.newaxis, tf.newaxis])
    normalizer = tf.concat(
        [tf.cast(tf.reverse(frames, axis=[-1]), wide)] * self._num_points,
        axis=-1)
    reference = tf.tile(tf.cast(reference_points, wide)[:, :, tf.newaxis],
                        [1, 1, 1, 1, self._num_points])
    locations = tf.reshape(reference + offsets / normalizer, grid + [2])
    return locations, weights

  def call(self, query: tf.Tensor, reference_points: tf.Tensor,
           inputs: tf.Tensor,
           spatial_shapes: deformable_attention.SpatialShapes,
           valid_sizes: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Attends from the queries to the multi-level inputs.

    Args:
      query: A float [B, Lq, D] tensor (Lq static).
      reference_points: A float [B or 1, Lq, L, 2] tensor of (x, y) in the
        normalised frame of each level.
      inputs: A float [B, S, D] tensor: the levels flattened row-major and
        concatenated in level order (S static, the sum of H_l * W_l).
      spatial_shapes: the static (H_l, W_l) of the L levels, Python ints.
      valid_sizes: None, or an int [B, L, 2] tensor of each image's valid
        (h_l, w_l) per level (`sampling`); values outside them are not read.

    Returns:
      A [B, Lq, D] tensor in the compute dtype.

    Raises:
      ValueError: `spatial_shapes` does not have L levels.
    """
    if len(spatial_shapes) != self._num_levels:
      raise ValueError(f'{self.name}: {len(spatial_shapes)} spatial shapes '
                       f'for {self._num_levels} levels')
    value = self.value_proj(inputs)
    value = tf.reshape(value, [tf.shape(value)[0], value.shape[1],
                               self._num_heads, self._head_dim])
    locations, weights = self.sampling(query, reference_points,
                                       spatial_shapes, valid_sizes)
    sampled = deformable_attention.multi_scale_deformable_attention(
        value, spatial_shapes, locations, weights, valid_sizes)
    return self.output_proj(sampled)

  def get_config(self):
    return dict(super().get_config(), num_heads=self._num_heads,
                num_levels=self._num_levels, num_points=self._num_points)
