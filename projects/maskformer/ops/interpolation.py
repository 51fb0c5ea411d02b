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

"""PyTorch `F.interpolate` resizing of the two trailing (spatial) axes.

Both functions resize `[..., H, W]` tensors (masks with the spatial axes last,
as MaskFormer's `pred_masks`) with gathers and element-wise arithmetic only: no
convolution or matmul, so the result is float32-exact on TPU too, and the
sampling positions are PyTorch's with a given output size (scale = in / out):
computed in float32 for nearest, and for bilinear in the values' accumulation
dtype (float32, float64 for float64 values), as PyTorch does.
"""
from typing import Sequence

import tensorflow as tf

from projects.maskformer.ops import precision


def _source_scale(in_size: tf.Tensor, out_size,
                  dtype: tf.DType = tf.float32) -> tf.Tensor:
  return tf.cast(in_size, dtype) / tf.cast(out_size, dtype)


def legacy_nearest_indices(in_size: tf.Tensor, out_size) -> tf.Tensor:
  """PyTorch's legacy 'nearest' source index: min(floor(i * in/out), in - 1).

  Args:
    in_size: The input length (int or int32 scalar tensor).
    out_size: The output length (int or int32 scalar tensor).

  Returns:
    An int32 [out_size] tensor of input indices.
  """
  positions = tf.range(out_size, dtype=tf.float32) * _source_scale(
      in_size, out_size)
  return tf.minimum(tf.cast(tf.floor(positions), tf.int32), in_size - 1)


def resize_nearest_legacy(images: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
  """`F.interpolate(x, size, mode='nearest')` over the two trailing axes.

  This is PyTorch's legacy nearest rule (not 'nearest-exact'): output pixel i
  takes input pixel floor(i * in / out), e.g. pixel 4i for a 4x reduction.
  TF's half-pixel `tf.image.resize(method='nearest')` picks a different pixel.

  Args:
    images: A [..., H, W] tensor of any dtype.
    size: The output (height, width), Python ints.

  Returns:
    A [..., height, width] tensor of the input dtype.
  """
  images = tf.convert_to_tensor(images)
  shape = tf.shape(images)
  rank = images.shape.rank
  rows = legacy_nearest_indices(shape[rank - 2], size[0])
  cols = legacy_nearest_indices(shape[rank - 1], size[1])
  return tf.gather(tf.gather(images, rows, axis=rank - 2), cols, axis=rank - 1)


def _linear_taps(in_size: tf.Tensor, out_size: int, dtype: tf.DType):
  """Source indices and weights of PyTorch's align_corners=False linear mode.

  Args:
    in_size: An int32 scalar tensor, the input length.
    out_size: The output length.
    dtype: float32 or float64, the dtype of the positions and weights.

  Returns:
    (lower, upper, lower_weight, upper_weight): int32 [out_size] indices and
    [out_size] weights of `dtype`.
  """
  source = (tf.range(out_size, dtype=dtype) + 0.5) * _source_scale(
      in_size, out_size, dtype) - 0.5
  source = tf.maximum(source, 0.0)
  lower = tf.minimum(tf.cast(tf.floor(source), tf.int32), in_size - 1)
  upper_weight = tf.clip_by_value(source - tf.cast(lower, dtype), 0.0, 1.0)
  upper = tf.minimum(lower + 1, in_size - 1)
  return lower, upper, 1.0 - upper_weight, upper_weight


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
  row_lo, row_hi, row_w_lo, row_w_hi = _linear_taps(shape[rank - 2], size[0],
                                                    images.dtype)
  col_lo, col_hi, col_w_lo, col_w_hi = _linear_taps(shape[rank - 1], size[1],
                                                    images.dtype)
  along_width = (tf.gather(images, col_lo, axis=rank - 1) * col_w_lo +
                 tf.gather(images, col_hi, axis=rank - 1) * col_w_hi)
  return (
      tf.gather(along_width, row_lo, axis=rank - 2) * row_w_lo[:, tf.newaxis] +
      tf.gather(along_width, row_hi, axis=rank - 2) * row_w_hi[:, tf.newaxis])
