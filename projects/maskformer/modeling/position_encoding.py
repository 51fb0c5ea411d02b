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

"""DETR's sine positional encoding of a feature map.

`sine_position_encoding` is DETR's `PositionEmbeddingSine(normalize=True)`
without a mask, as MaskFormer's pixel decoder and predictor (and
Mask2Former's) use it, in a given dtype so that the float64 model is exact.
"""
import math
from typing import Optional

import tensorflow as tf

from projects.maskformer.modeling import layers
from projects.maskformer.ops import precision


def sine_position_encoding(features: tf.Tensor, num_pos_features: int,
                           dtype: precision.DTypeLike = tf.float32,
                           valid_sizes: Optional[tf.Tensor] = None
                           ) -> tf.Tensor:
  """DETR's PositionEmbeddingSine(normalize=True) for a mask-free input.

  Channels are concat(pos_y, pos_x), each interleaving sin/cos of
  (1..H)/(H + 1e-6) * 2pi / 10000^(2*floor(i/2)/N), N = num_pos_features/2.
  Only the spatial size of `features` is used. This is Model Garden's DETR
  `position_embedding_sine` with an all-valid mask (MaskFormer uses none),
  computed in `dtype` rather than always in float32, so that the float64
  model is exact.

  Args:
    features: A [B, H, W, C] tensor whose (H, W) is encoded.
    num_pos_features: number of output channels (the transformer width);
      must be even.
    dtype: the float dtype of the computation and the result.
    valid_sizes: None, or an int [B, 2] tensor of each image's valid
      (height, width) at this resolution (`valid_region`): positions are
      then normalised by the valid extent, (1..h)/(h + 1e-6), as the image
      alone gives; outside it the encoding means nothing.

  Returns:
    A [1, H, W, num_pos_features] tensor of `dtype` (broadcast over the
    batch); [B, H, W, num_pos_features] with `valid_sizes`.
  """
  if num_pos_features % 2:
    raise ValueError(f'num_pos_features must be even, got {num_pos_features}')
  half = num_pos_features // 2
  height, width = layers.spatial_size(features)
  scale = tf.constant(2 * math.pi, dtype)

  def normalized_positions(length, extent):
    """[length] positions over an extent of shape S -> S + [length]."""
    positions = tf.range(1, length + 1, dtype=dtype)
    extent = tf.cast(extent, dtype)[..., tf.newaxis]
    return positions / (extent + tf.constant(1e-6, dtype)) * scale

  exponents = 2 * (tf.range(half, dtype=dtype) // 2) / half
  frequencies = tf.pow(tf.constant(10000.0, dtype), exponents)

  def encode(positions):
    """[N, L] positions -> [N, L, half] interleaved sin/cos."""
    angles = positions[..., tf.newaxis] / frequencies
    interleaved = tf.stack(
        [tf.sin(angles[..., 0::2]), tf.cos(angles[..., 1::2])], axis=-1)
    return tf.reshape(interleaved, tf.concat([tf.shape(positions), [half]], 0))

  if valid_sizes is None:
    extents = tf.constant([[0, 0]]) + tf.stack([height, width])
  else:
    extents = tf.cast(valid_sizes, tf.int32)
  rows = encode(normalized_positions(height, extents[:, 0]))  # [N, H, half]
  cols = encode(normalized_positions(width, extents[:, 1]))  # [N, W, half]
  grid = tf.stack([tf.shape(extents)[0], height, width, half])
  pos_y = tf.broadcast_to(rows[:, :, tf.newaxis, :], grid)
  pos_x = tf.broadcast_to(cols[:, tf.newaxis, :, :], grid)
  return tf.concat([pos_y, pos_x], axis=-1)
