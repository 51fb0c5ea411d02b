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

"""The original's resizing rules, bit-exact: PyTorch `F.interpolate` and PIL.

  * `legacy_nearest_indices`, `resize_nearest_legacy`,
    `resize_nearest_legacy_per_image`: PyTorch's
    `F.interpolate(mode='nearest')` (the legacy rule, not 'nearest-exact'),
    of a whole batch or of each image's own region to its own size.
  * `pil_nearest_indices`: PIL's NEAREST filter.
  * `resize_bilinear`, `resize_bilinear_per_image`:
    `F.interpolate(mode='bilinear', align_corners=False)`, of a whole batch
    or of each image's own region to its own size.

Every resize uses gathers and element-wise arithmetic only: no convolution or
matmul, so the result is float32-exact on TPU too. The sampling positions are
the original's for a given output size (scale = in / out): computed in
float32 for PyTorch's nearest, in float64 steps for PIL's, and for bilinear in
the values' accumulation dtype (float32, float64 for float64 values), as
PyTorch does. The spatial axes are (height_axis, height_axis + 1): the two
trailing axes by default ([..., H, W] masks), axes 1 and 2 for NHWC.
"""
from typing import Sequence
from typing import Tuple

import tensorflow as tf

from projects.maskformer.ops import precision

# (lower, upper, lower_weight, upper_weight) of linear interpolation.
_Taps = Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]


def legacy_nearest_indices(in_size: tf.Tensor, out_size,
                           length=None) -> tf.Tensor:
  """PyTorch's legacy 'nearest' source index: min(floor(i * in/out), in - 1).

  The position is computed in float32, as PyTorch's `nearest_idx` does.

  Args:
    in_size: The input length: an int, or an int32 tensor of shape S (e.g.
      [B], one length per image).
    out_size: The output length, of the same shape.
    length: The number of output positions (int or int32 scalar tensor);
      default `out_size` (a scalar). Positions at or beyond `out_size` get
      valid but meaningless indices.

  Returns:
    An int32 S + [length] tensor of input indices.
  """
  if length is None:
    length = out_size
  in_size = tf.convert_to_tensor(in_size, tf.int32)
  scale = (tf.cast(in_size, tf.float32) /
           tf.cast(out_size, tf.float32))[..., tf.newaxis]
  positions = tf.range(length, dtype=tf.float32) * scale
  return tf.minimum(tf.cast(tf.floor(positions), tf.int32),
                    in_size[..., tf.newaxis] - 1)


def pil_nearest_indices(in_size: tf.Tensor, out_size) -> tf.Tensor:
  """PIL's NEAREST source index: floor of a float64 running position.

  PIL starts at half a step, (in / out) / 2, and adds the step in float64
  for every output pixel; the index is the floor, clamped to in - 1.

  Args:
    in_size: The input length (int or int32 scalar tensor).
    out_size: The output length (int or int32 scalar tensor), at least 1.

  Returns:
    An int32 [out_size] tensor of input indices.
  """
  step = tf.cast(in_size, tf.float64) / tf.cast(out_size, tf.float64)
  positions = tf.math.cumsum(
      tf.concat([[0.5 * step], tf.fill([out_size - 1], step)], axis=0))
  return tf.minimum(tf.cast(tf.floor(positions), tf.int32), in_size - 1)


def _spatial_axis(tensor: tf.Tensor, height_axis: int) -> int:
  """`height_axis` as a non-negative axis of `tensor`."""
  return height_axis % tensor.shape.rank


def resize_nearest_legacy(images: tf.Tensor, size: Sequence[int],
                          height_axis: int = -2) -> tf.Tensor:
  """`F.interpolate(x, size, mode='nearest')` of two adjacent spatial axes.

  This is PyTorch's legacy nearest rule (not 'nearest-exact'): output pixel i
  takes input pixel floor(i * in / out), e.g. pixel 4i for a 4x reduction and
  every pixel twice for a 2x enlargement. TF's half-pixel
  `tf.image.resize(method='nearest')` picks a different pixel.

  Args:
    images: A tensor of any dtype whose axes (height_axis, height_axis + 1)
      are (H, W): [..., H, W] masks by default, [B, H, W, C] features with
      `height_axis=1`.
    size: The output (height, width), Python ints or int32 scalar tensors.
    height_axis: The height axis of `images`.

  Returns:
    A tensor of the input dtype shaped as `images` with (H, W) replaced by
    `size`.
  """
  images = tf.convert_to_tensor(images)
  axis = _spatial_axis(images, height_axis)
  shape = tf.shape(images)
  rows = legacy_nearest_indices(shape[axis], size[0])
  cols = legacy_nearest_indices(shape[axis + 1], size[1])
  return tf.gather(tf.gather(images, rows, axis=axis), cols, axis=axis + 1)


def resize_nearest_legacy_per_image(images: tf.Tensor, valid_sizes: tf.Tensor,
                                    output_sizes: tf.Tensor,
                                    canvas_size: Sequence[int],
                                    height_axis: int = -2) -> tf.Tensor:
  """`resize_nearest_legacy` of each image's own region to its own size.

  Image b's top-left `valid_sizes[b]` region resized by PyTorch's legacy
  nearest rule to `output_sizes[b]`, at the top-left of a static canvas;
  canvas positions outside `output_sizes[b]` hold pixels that mean nothing.

  Args:
    images: A [B, ...] tensor of any dtype whose axes (height_axis,
      height_axis + 1) are the spatial axes.
    valid_sizes: An int [B, 2] tensor, each image's (height, width) region.
    output_sizes: An int [B, 2] tensor, each region's output size.
    canvas_size: The output (height, width), Python ints.
    height_axis: The height axis of `images`.

  Returns:
    A tensor of the input dtype shaped as `images` with the spatial axes
    replaced by `canvas_size`.
  """
  images = tf.convert_to_tensor(images)
  axis = _spatial_axis(images, height_axis)
  valid_sizes = tf.cast(valid_sizes, tf.int32)
  output_sizes = tf.cast(output_sizes, tf.int32)
  rows = legacy_nearest_indices(valid_sizes[:, 0], output_sizes[:, 0],
                                canvas_size[0])
  cols = legacy_nearest_indices(valid_sizes[:, 1], output_sizes[:, 1],
                                canvas_size[1])
  images = tf.gather(images, rows, axis=axis, batch_dims=1)
  return tf.gather(images, cols, axis=axis + 1, batch_dims=1)


def _linear_taps(in_sizes: tf.Tensor, out_sizes: tf.Tensor, length,
                 dtype: tf.DType) -> _Taps:
  """Source indices and weights of PyTorch's align_corners=False linear mode.

  PyTorch's rule with a given output size: scale = in / out (in `dtype`, the
  values' accumulation dtype, as PyTorch computes in the tensor's opmath
  type), source = max((dst + 0.5) * scale - 0.5, 0), lower = floor(source),
  upper = min(lower + 1, in - 1), upper weight = source - lower.

  Args:
    in_sizes: An int32 tensor of shape S (a scalar, or [B] for one length
      per image), the input lengths.
    out_sizes: An int32 tensor of shape S, the output lengths.
    length: The number of output positions (int or int32 scalar tensor);
      positions at or beyond `out_sizes` get valid but meaningless taps.
    dtype: float32 or float64, the dtype of the positions and weights.

  Returns:
    (lower, upper, lower_weight, upper_weight): int32 S + [length] indices
    and S + [length] weights of `dtype`.
  """
  scale = (tf.cast(in_sizes, dtype) /
           tf.cast(tf.maximum(out_sizes, 1), dtype))[..., tf.newaxis]
  source = (tf.range(length, dtype=dtype) + 0.5) * scale
  source = tf.maximum(source - 0.5, 0.0)
  last = tf.maximum(in_sizes, 1)[..., tf.newaxis] - 1
  lower = tf.minimum(tf.cast(tf.floor(source), tf.int32), last)
  upper_weight = tf.clip_by_value(source - tf.cast(lower, dtype), 0.0, 1.0)
  upper = tf.minimum(lower + 1, last)
  return lower, upper, 1.0 - upper_weight, upper_weight


def _interpolate_along(values: tf.Tensor, axis: int, taps: _Taps,
                       batch_dims: int) -> tf.Tensor:
  """Linear interpolation of `values` along `axis` with `_linear_taps` taps.

  Args:
    values: A float tensor.
    axis: The axis to interpolate (after the batch axis if `batch_dims`).
    taps: Taps of shape [length] (batch_dims 0) or [B, length]
      (batch_dims 1: per image of the leading axis).
    batch_dims: 0 or 1.

  Returns:
    `values` with `axis` resampled to `length`.
  """
  lower, upper, lower_weight, upper_weight = taps
  rank = values.shape.rank
  if batch_dims:
    length = lower.shape[-1]
    if length is None:
      length = tf.shape(lower)[-1]
    weight_shape = [-1] + [1] * (axis - 1) + [length]
  else:
    weight_shape = [-1]
  weight_shape += [1] * (rank - axis - 1)
  lower_weight = tf.reshape(lower_weight, weight_shape)
  upper_weight = tf.reshape(upper_weight, weight_shape)
  return (tf.gather(values, lower, axis=axis, batch_dims=batch_dims) *
          lower_weight +
          tf.gather(values, upper, axis=axis, batch_dims=batch_dims) *
          upper_weight)


def resize_bilinear(images: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
  """`F.interpolate(x, size, mode='bilinear', align_corners=False)`.

  Resizes the two trailing axes with half-pixel centres, source positions
  clamped at 0, and no antialiasing, interpolating along the width first and
  then along the height, in the accumulation dtype.

  Args:
    images: A float [..., H, W] tensor (computed in float32, or float64 if it
      is float64).
    size: The output (height, width), Python ints or int32 scalar tensors.

  Returns:
    A float32 (float64 for float64 images) [..., height, width] tensor.
  """
  images = precision.widen(images)
  shape = tf.shape(images)
  rank = images.shape.rank
  row_taps = _linear_taps(shape[rank - 2], size[0], size[0], images.dtype)
  col_taps = _linear_taps(shape[rank - 1], size[1], size[1], images.dtype)
  along_width = _interpolate_along(images, rank - 1, col_taps, batch_dims=0)
  return _interpolate_along(along_width, rank - 2, row_taps, batch_dims=0)


def resize_bilinear_per_image(values: tf.Tensor,
                              valid_sizes: tf.Tensor,
                              output_sizes: tf.Tensor,
                              canvas_size: Sequence[int],
                              height_axis: int = 2) -> tf.Tensor:
  """Crops each image's valid region and resizes it bilinearly onto a canvas.

  detectron2's `sem_seg_postprocess` per image: `values[b, ..., :h_b, :w_b]`
  resized with `F.interpolate(mode='bilinear', align_corners=False)` to
  `output_sizes[b]`, placed at the top-left of the static canvas, from
  per-image sampling positions (so one program serves every size). Width is
  interpolated before height, as PyTorch does. Canvas positions outside
  `output_sizes[b]` hold finite values that mean nothing.

  Args:
    values: A float [B, ...] tensor whose axes `height_axis` and
      `height_axis + 1` are the (padded) spatial axes.
    valid_sizes: An int [B, 2] tensor, the (height, width) of the region of
      each image to keep (e.g. the resized image inside the padded input).
    output_sizes: An int [B, 2] tensor, each image's output (height, width);
      at most `canvas_size`.
    canvas_size: The output (height, width): Python ints, or int32 scalar
      tensors (then the result's spatial shape is dynamic).
    height_axis: The height axis of `values` (2 for [B, Q, H, W] masks, 1 for
      [B, H, W, C] scores).

  Returns:
    A tensor of the values' accumulation dtype (float32; float64 for float64
    values) shaped as `values` with the spatial axes replaced by
    `canvas_size`.
  """
  values = precision.widen(values)
  valid_sizes = tf.cast(valid_sizes, tf.int32)
  output_sizes = tf.cast(output_sizes, tf.int32)
  width_taps = _linear_taps(valid_sizes[:, 1], output_sizes[:, 1],
                            canvas_size[1], values.dtype)
  height_taps = _linear_taps(valid_sizes[:, 0], output_sizes[:, 0],
                             canvas_size[0], values.dtype)
  values = _interpolate_along(values, height_axis + 1, width_taps,
                              batch_dims=1)
  return _interpolate_along(values, height_axis, height_taps, batch_dims=1)
