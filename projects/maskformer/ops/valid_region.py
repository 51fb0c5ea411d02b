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

"""Each image's valid region on a static canvas: padding-exact computation.

An image of (height, width) = `valid_sizes[b]` sits at the top-left of a
larger static canvas. The original computes on the image alone, so to give
the same numbers at every valid position the model must see, at every
resolution, what PyTorch sees beyond the image's border: zeros (convolution
padding), no statistics (GroupNorm), no keys (attention). At stride s the
valid region is (ceil(h / s), ceil(w / s)): every stride-2 layer of the
original (3x3 pad 1, 7x7 pad 3, 1x1 pad 0, max pool 3 pad 1) maps n pixels
to ceil(n / 2), and ceil(ceil(n / 2) / 2) = ceil(n / 4).

The helpers here take `valid_sizes` at the resolution of the tensor they act
on (`sizes_at_stride` converts the input's).
"""
from typing import Sequence

import tensorflow as tf
import tf_keras


def sizes_at_stride(valid_sizes: tf.Tensor, stride: int) -> tf.Tensor:
  """The valid (height, width) at `stride`: ceil(size / stride).

  Args:
    valid_sizes: An int [B, 2] tensor, each image's (height, width) at the
      input resolution.
    stride: The feature map's stride (a power of 2).

  Returns:
    An int32 [B, 2] tensor.
  """
  valid_sizes = tf.cast(valid_sizes, tf.int32)
  return -(-valid_sizes // stride)


def valid_mask(valid_sizes: tf.Tensor, spatial_size: Sequence[int]
               ) -> tf.Tensor:
  """True inside each image's top-left valid rectangle.

  Args:
    valid_sizes: An int [B, 2] tensor, each image's valid (height, width) at
      this resolution.
    spatial_size: The map's (height, width), ints or int32 scalar tensors.

  Returns:
    A bool [B, height, width] tensor.
  """
  valid_sizes = tf.cast(valid_sizes, tf.int32)
  rows = tf.range(spatial_size[0])[tf.newaxis, :] < valid_sizes[:, 0:1]
  cols = tf.range(spatial_size[1])[tf.newaxis, :] < valid_sizes[:, 1:2]
  return rows[:, :, tf.newaxis] & cols[:, tf.newaxis, :]


def feature_mask(features: tf.Tensor, valid_sizes: tf.Tensor) -> tf.Tensor:
  """`valid_mask` of [B, H, W, ...] features, shaped [B, H, W, 1]."""
  shape = tf.shape(features)
  return valid_mask(valid_sizes, (shape[1], shape[2]))[..., tf.newaxis]


def zero_outside(features: tf.Tensor, valid_sizes: tf.Tensor) -> tf.Tensor:
  """NHWC features with every position outside the valid region set to 0.

  Args:
    features: A [B, H, W, C] tensor.
    valid_sizes: An int [B, 2] tensor, the valid (height, width) at the
      features' resolution.

  Returns:
    `features` (same dtype) with zeros outside each image's region, what a
    PyTorch convolution's zero padding reads beyond the image.
  """
  return tf.where(feature_mask(features, valid_sizes), features,
                  tf.zeros([], features.dtype))


def padded_keys(valid_sizes: tf.Tensor, spatial_size: Sequence[int]
                ) -> tf.Tensor:
  """Attention key-padding mask of a flattened (row-major) feature map.

  Args:
    valid_sizes: An int [B, 2] tensor, the valid (height, width) at this
      resolution.
    spatial_size: The map's (height, width).

  Returns:
    A bool [B, 1, height * width] tensor, True for keys outside the valid
    region (blocked for every query), in the layout of
    `layers.MultiHeadAttention`'s `blocked` argument.
  """
  mask = valid_mask(valid_sizes, spatial_size)
  return tf.reshape(tf.logical_not(mask), [tf.shape(mask)[0], 1, -1])


class ZeroOutside(tf_keras.layers.Layer):
  """`zero_outside` as a layer of a functional model: ([x, sizes]) -> x.

  `sizes` are the input image's valid sizes; the layer converts them to the
  features' resolution with its `stride`.
  """

  def __init__(self, stride: int, **kwargs):
    """Initializes the layer.

    Args:
      stride: The stride of the features this layer receives.
      **kwargs: Passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._stride = stride

  def call(self, inputs):
    features, valid_sizes = inputs
    return zero_outside(features, sizes_at_stride(valid_sizes, self._stride))

  def get_config(self):
    return dict(super().get_config(), stride=self._stride)
