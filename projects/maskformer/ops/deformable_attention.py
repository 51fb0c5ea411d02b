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

"""Multi-scale deformable attention sampling, in XLA (no custom op).

This is Deformable DETR's `ms_deform_attn_core_pytorch` (the formula of its
CUDA kernel), which Mask2Former's pixel decoder runs: every query samples,
per head m, level l and point p, the level's value map of that head
bilinearly at a normalised location (PyTorch `grid_sample`, bilinear, zero
padding, align_corners=False: `ops.grid_sample`), and sums the samples
weighted by its attention weights:

  out[n, q, m*d + c] = sum_{l, p} a[n, q, m, l, p] *
                       bilinear(value_l[n, :, :, m, c], loc[n, q, m, l, p])

As in the original, the four corners of a point are combined first (the
bilinear sample), then the samples are weighted by the attention weights and
summed over levels and points.

On a static canvas (`ops/valid_region`) each image may fill only the
top-left region of every level; with `valid_sizes` the locations are in the
normalised frame of that region and only the region is sampled (zero
outside), which is the original on the image alone.

The corners of every (query, head, level, point) are read with ONE gather
from the values of all levels and heads flattened to rows of d channels
(row `(level_start + y * W + x) * M + m`, so no transpose is needed): gathers
are slow on TPU, and one gather per call is the fewest. Gathers and
element-wise arithmetic only (no matmul), so the result is float32-exact on
TPU too.

The alternative, a one-hot sampling matrix [Lq, H*W] per head and a matmul
for the smallest levels, lost to this gather at the real encoder size
(512x512 input: levels 16x16, 32x32, 64x64, D 256, 8 heads, 4 points, batch
1) under XLA on CPU (`tools/benchmark_deformable_attention.py`, 2026-12-03,
2 shared cores, min of 7): forward 1.16 s vs 1.87 s (16x16 as a matmul) and
9.7 s (16x16 and 32x32), forward + backward 0.26 s vs 0.43 s and 1.23 s. It
is not kept.
"""
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
import tensorflow as tf

from projects.maskformer.ops import grid_sample

SpatialShapes = Sequence[Tuple[int, int]]


def level_start_index(spatial_shapes: SpatialShapes) -> Tuple[int, ...]:
  """Offsets of the levels in the flattened sequence: 0, H0*W0, ...

  Args:
    spatial_shapes: the (H, W) of every level, in sequence order.

  Returns:
    One Python int per level.
  """
  sizes = [int(h) * int(w) for h, w in spatial_shapes]
  return tuple(int(s) for s in np.cumsum([0] + sizes[:-1]))


def multi_scale_deformable_attention(value: tf.Tensor,
                                     spatial_shapes: SpatialShapes,
                                     sampling_locations: tf.Tensor,
                                     attention_weights: tf.Tensor,
                                     valid_sizes: Optional[tf.Tensor] = None
                                     ) -> tf.Tensor:
  """`ms_deform_attn_core_pytorch`: sampled values summed by attention.

  Args:
    value: A float [N, S, M, d] tensor: the values of every level, flattened
      row-major (y * W + x) and concatenated in level order (S = sum of
      H_l * W_l), split into M heads of d channels. S, M, d must be static.
    spatial_shapes: the static (H_l, W_l) of the L levels, Python ints.
    sampling_locations: A float [N, Lq, M, L, P, 2] tensor of (x, y)
      locations in the normalised frame [0, 1] of each level (values outside
      are allowed: neighbours outside the map contribute zero). Lq, M, L, P
      must be static.
    attention_weights: A float [N, Lq, M, L, P] tensor.
    valid_sizes: None, or an int [N, L, 2] tensor: the (height, width) of
      each image's region at the top-left of every level (at most
      (H_l, W_l)). The locations are then in the normalised frame of that
      region, and neighbours outside it contribute zero: the image alone.

  Returns:
    A [N, Lq, M * d] tensor of the value dtype, heads concatenated
    head-major (channel m * d + c).

  Raises:
    ValueError: the shapes do not agree.
  """
  _, length, num_heads, head_dim = value.shape
  _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
  sizes = [int(h) * int(w) for h, w in spatial_shapes]
  if len(sizes) != num_levels or sum(sizes) != length:
    raise ValueError(
        f'spatial_shapes {list(spatial_shapes)} (total {sum(sizes)}) do not '
        f'match {num_levels} sampled levels and {length} value positions')
  batch = tf.shape(value)[0]
  heads = tf.range(num_heads)[:, tf.newaxis, tf.newaxis]  # [M, 1, 1]
  indices, weights = [], []
  for level, ((height, width), start) in enumerate(
      zip(spatial_shapes, level_start_index(spatial_shapes))):
    # [N, Lq, M, P, 4] indices into the level's map and bilinear weights.
    frame_sizes = (None if valid_sizes is None else
                   valid_sizes[:, level, tf.newaxis, tf.newaxis, tf.newaxis])
    level_indices, level_weights = grid_sample.corner_indices_and_weights(
        sampling_locations[:, :, :, level], int(height), int(width),
        frame_sizes)
    indices.append((level_indices + start) * num_heads + heads)
    weights.append(level_weights)
  # [N, Lq, M, L*P, 4]: the corners of every point of every level.
  indices = tf.concat(indices, axis=3)
  weights = tf.cast(tf.concat(weights, axis=3), value.dtype)
  rows = tf.reshape(value, [batch, length * num_heads, head_dim])
  attention_weights = tf.reshape(
      tf.cast(attention_weights, value.dtype),
      [batch, num_queries, num_heads, num_levels * num_points])
  output = _recomputed_in_backward(rows, indices, weights, attention_weights)
  return tf.reshape(output, [batch, num_queries, num_heads * head_dim])


def _weighted_corners(rows: tf.Tensor, indices: tf.Tensor,
                      corner_weights: tf.Tensor,
                      attention_weights: tf.Tensor) -> tf.Tensor:
  """The formula: bilinear samples, weighted and summed over levels, points.

  Args:
    rows: A float [N, R, d] tensor, the value rows (R >= S * M).
    indices: An int32 [N, Lq, M, K, 4] tensor of rows (K = L * P points).
    corner_weights: A float [N, Lq, M, K, 4] tensor, bilinear weights.
    attention_weights: A float [N, Lq, M, K] tensor.

  Returns:
    A [N, Lq, M, d] tensor.
  """
  corners = tf.gather(rows, tf.reshape(indices, [tf.shape(rows)[0], -1]),
                      batch_dims=1)
  corners = tf.reshape(corners, tf.concat(
      [tf.shape(indices), tf.shape(rows)[2:]], axis=0))
  samples = tf.reduce_sum(corners * corner_weights[..., tf.newaxis], axis=4)
  return tf.reduce_sum(samples * attention_weights[..., tf.newaxis], axis=3)


def _recomputed_in_backward(rows: tf.Tensor, indices: tf.Tensor,
                            corner_weights: tf.Tensor,
                            attention_weights: tf.Tensor) -> tf.Tensor:
  """`_weighted_corners` whose backward pass gathers the corners again.

  The gathered corners, [N, Lq, M, K, 4, d], are by far the largest tensor
  of an encoder layer (at a 512 x 512 input, 5,376 queries x 8 heads x 12
  points x 4 corners x 32 channels: 264 MB in float32), and autodiff keeps
  them from the forward pass to the backward pass for every layer. Here the
  forward pass keeps only its inputs and the backward pass gathers again
  and differentiates the formula there, so one layer's corners are alive at
  a time. The backward gather reads a copy of the rows with one more row,
  taken from the incoming gradient and never indexed: it depends on the
  gradient, so neither XLA nor Grappler can merge it with the forward
  gather (common-subexpression elimination would bring the stored corners
  back). The values are those of autodiff of the formula.

  Args and returns: as `_weighted_corners`.
  """

  @tf.custom_gradient
  def weighted_corners(rows, corner_weights, attention_weights):

    def grad(output_grad):
      # [N, R + 1, d]: the last row is never gathered.
      table = tf.concat([rows, output_grad[:, :1, 0]], axis=1)
      with tf.GradientTape() as tape:
        tape.watch([table, corner_weights, attention_weights])
        output = _weighted_corners(table, indices, corner_weights,
                                   attention_weights)
      table_grad, corner_grad, attention_grad = tape.gradient(
          output, [table, corner_weights, attention_weights],
          output_gradients=output_grad)
      return table_grad[:, :-1], corner_grad, attention_grad

    return _weighted_corners(rows, indices, corner_weights,
                             attention_weights), grad

  return weighted_corners(rows, corner_weights, attention_weights)
