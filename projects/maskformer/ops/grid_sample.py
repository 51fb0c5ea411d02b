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

"""PyTorch's `F.grid_sample(bilinear, zeros, align_corners=False)`, in XLA.

Mask2Former samples feature maps at fractional points in two places: the
multi-scale deformable attention and PointRend's `point_sample` (matcher and
criterion). Both are `grid_sample` with bilinear weights, zero padding and
align_corners=False, on points given in the normalised frame [0, 1] x [0, 1]
of the map, x first.

For a point (x, y) of a map H x W the original computes the grid coordinate
`g = 2 * x - 1` and then the pixel coordinate `((g + 1) * W - 1) / 2`
(= x * W - 0.5, pixel centres at integers); the same operations are done here
in the same order, so points exactly on pixel centres or on the borders land
where PyTorch's do. The four neighbours `floor`, `floor + 1` in each axis are
weighted bilinearly and a neighbour outside the map contributes zero.

The four corners of every point are read with one gather from the flattened
map (clamped indices, zero weights outside): one gather per call, which is the
TPU-friendly form (gathers are slow there, arithmetic is not).

On a static canvas (`ops/valid_region`), the sampled image may be only
the top-left region (frame) of the map: `corner_indices_and_weights` then
takes each point's frame size, converts the points with it and treats
everything outside the frame as outside the map, which is what sampling the
image alone gives.
"""
from typing import Optional
from typing import Tuple

import tensorflow as tf


def pixel_coordinates(points: tf.Tensor, height, width
                      ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Normalised (x, y) points to pixel coordinates, in PyTorch's op order.

  Args:
    points: A float [..., 2] tensor of (x, y) in the normalised frame.
    height: H of the sampled frame: an int, or a float tensor broadcastable
      against `points[..., 0]`.
    width: W of the sampled frame, likewise.

  Returns:
    (x, y) float tensors [...] in pixel units, pixel centres at integers.
  """
  grid = 2.0 * points - 1.0
  x = ((grid[..., 0] + 1.0) * width - 1.0) / 2.0
  y = ((grid[..., 1] + 1.0) * height - 1.0) / 2.0
  return x, y


def corner_indices_and_weights(points: tf.Tensor, height: int, width: int,
                               frame_sizes: Optional[tf.Tensor] = None
                               ) -> Tuple[tf.Tensor, tf.Tensor]:
  """The four bilinear neighbours of each point, as flat indices and weights.

  Args:
    points: A float [..., P, 2] tensor of (x, y) in the normalised frame.
    height: H of the sampled map.
    width: W of the sampled map.
    frame_sizes: None (the frame is the whole map), or an int [..., 1, 2]
      tensor broadcastable against `points`: the (height, width) of the
      frame at the top-left of the map in which each point is given, at
      most (H, W). Only the frame is then sampled, as if it were the whole
      map: zero weight outside it, indices clamped into it.

  Returns:
    indices: int32 [..., P, 4] indices into the row-major flattened map
      (y * W + x), clamped into the frame, corners in the order (y0, x0),
      (y0, x1), (y1, x0), (y1, x1).
    weights: [..., P, 4] bilinear weights in the points' dtype, zero for
      corners outside the frame.
  """
  if frame_sizes is None:
    frame_height, frame_width = height, width
  else:
    frame = tf.cast(frame_sizes, points.dtype)
    frame_height, frame_width = frame[..., 0], frame[..., 1]
  x, y = pixel_coordinates(points, frame_height, frame_width)
  x0 = tf.floor(x)
  y0 = tf.floor(y)
  x1 = x0 + 1.0
  y1 = y0 + 1.0
  # PyTorch's weights: nw = (x1 - x)(y1 - y), ne = (x - x0)(y1 - y), ...
  left, right = x1 - x, x - x0
  top, bottom = y1 - y, y - y0
  weights = tf.stack([left * top, right * top, left * bottom, right * bottom],
                     axis=-1)

  def inside(value, size):
    return (value >= 0.0) & (value <= size - 1.0)

  x_in = tf.stack([inside(x0, frame_width), inside(x1, frame_width)] * 2,
                  axis=-1)
  y_in = tf.stack([inside(y0, frame_height)] * 2 +
                  [inside(y1, frame_height)] * 2, axis=-1)
  weights = tf.where(x_in & y_in, weights, tf.zeros_like(weights))
  xs = tf.stack([x0, x1, x0, x1], axis=-1)
  ys = tf.stack([y0, y0, y1, y1], axis=-1)
  last_x, last_y = frame_width - 1.0, frame_height - 1.0
  if frame_sizes is not None:
    last_x, last_y = last_x[..., tf.newaxis], last_y[..., tf.newaxis]
  xs = tf.cast(tf.clip_by_value(xs, 0.0, last_x), tf.int32)
  ys = tf.cast(tf.clip_by_value(ys, 0.0, last_y), tf.int32)
  return ys * width + xs, weights


def grid_sample(maps: tf.Tensor, points: tf.Tensor) -> tf.Tensor:
  """Bilinear samples of NHWC maps at normalised points, zero outside.

  Equals `F.grid_sample(maps_nchw, 2 * points[:, :, None] - 1, 'bilinear',
  'zeros', align_corners=False)` transposed to [N, P, C].

  Args:
    maps: A float [N, H, W, C] tensor (H, W static).
    points: A float [N, P, 2] tensor of (x, y) in [0, 1] (values outside are
      allowed: their out-of-map neighbours contribute zero), same dtype as
      `maps`.

  Returns:
    A [N, P, C] tensor of the maps' dtype.
  """
  height, width, channels = maps.shape[1], maps.shape[2], maps.shape[3]
  indices, weights = corner_indices_and_weights(points, height, width)
  num_points = tf.shape(points)[1]
  flat = tf.reshape(maps, [tf.shape(maps)[0], height * width, channels])
  corners = tf.gather(flat, tf.reshape(indices, [tf.shape(indices)[0], -1]),
                      batch_dims=1)
  corners = tf.reshape(corners, [-1, num_points, 4, channels])
  weights = tf.cast(weights, maps.dtype)
  return tf.reduce_sum(corners * weights[..., tf.newaxis], axis=2)
