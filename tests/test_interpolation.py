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

"""The resizing rules of `ops.interpolation` against PyTorch's and PIL's.

`test_matching_cost` and `test_criterion` check `resize_nearest_legacy` and
`resize_bilinear` on [..., H, W] masks; here are the NHWC layout, PIL's
nearest indices and the per-image bilinear resize.
"""
import math

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import torch_semantics_numpy

from projects.maskformer.ops import interpolation


@pytest.mark.parametrize('in_size,out_size,expected', [
    (5, 9, [0, 0, 1, 1, 2, 2, 3, 3, 4]),  # floor(i * 5 / 9)
    (3, 7, [0, 0, 0, 1, 1, 2, 2]),  # floor(i * 3 / 7)
    (4, 8, [0, 0, 1, 1, 2, 2, 3, 3]),  # exact 2x: repeat
    (8, 3, [0, 2, 5]),  # floor(i * 8 / 3)
    (6, 6, [0, 1, 2, 3, 4, 5]),
])
def test_resize_nearest_legacy_nhwc_picks_pytorch_indices(in_size, out_size,
                                                          expected):
  rows = np.arange(in_size, dtype=np.float32)
  cols = 100.0 * np.arange(in_size + 1, dtype=np.float32)
  image = (rows[:, None] + cols[None, :])[None, :, :, None]
  resized = interpolation.resize_nearest_legacy(
      tf.constant(image), (out_size, out_size + 1), height_axis=1).numpy()
  np.testing.assert_array_equal(resized[0, :, 0, 0], expected)
  col_expected = [math.floor(j * (in_size + 1) / (out_size + 1))
                  for j in range(out_size + 1)]
  np.testing.assert_array_equal(resized[0, 0, :, 0] / 100.0, col_expected)
  np.testing.assert_array_equal(
      resized, torch_semantics_numpy.interpolate_nearest(
          image, (out_size, out_size + 1)))


def test_resize_nearest_legacy_differs_from_half_pixel_resize():
  image = tf.reshape(tf.range(5, dtype=tf.float32), [1, 5, 1, 1])
  legacy = interpolation.resize_nearest_legacy(
      image, (9, 1), height_axis=1)[0, :, 0, 0].numpy()
  half_pixel = tf.image.resize(image, (9, 1), 'nearest')[0, :, 0, 0].numpy()
  np.testing.assert_array_equal(legacy, [0, 0, 1, 1, 2, 2, 3, 3, 4])
  assert not np.array_equal(legacy, half_pixel)


@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.int32, bool])
def test_resize_nearest_legacy_layouts_agree(dtype):
  """[B, C, H, W] (default axes) and NHWC (height_axis=1) pick one pixel."""
  rng = np.random.default_rng(0)
  images = (rng.normal(size=(2, 3, 13, 7)) * 10).astype(dtype)
  nhwc = np.moveaxis(images, 1, -1)
  for size in [(13, 7), (5, 3), (26, 14), (31, 9), (1, 1)]:
    channels_first = interpolation.resize_nearest_legacy(images, size)
    channels_last = interpolation.resize_nearest_legacy(
        nhwc, tf.constant(size), height_axis=1)
    assert channels_first.dtype == channels_last.dtype == tf.as_dtype(dtype)
    np.testing.assert_array_equal(np.moveaxis(channels_first.numpy(), 1, -1),
                                  channels_last.numpy())
    np.testing.assert_array_equal(
        channels_last.numpy(),
        torch_semantics_numpy.interpolate_nearest(nhwc, size))


def test_pil_nearest_indices_are_pil_nearest():
  # Includes sizes where floor((x + 0.5) * in / out) and PIL's float64
  # accumulation disagree (e.g. 7 -> 50).
  for in_size in (1, 3, 7, 64, 427, 641):
    row = np.arange(in_size, dtype=np.int32)[None, :]
    for out_size in (1, 2, 5, 50, 97, 600, 1199, 1500):
      expected = np.asarray(Image.fromarray(row, mode='I').resize(
          (out_size, 1), Image.NEAREST))[0]
      np.testing.assert_array_equal(
          interpolation.pil_nearest_indices(tf.constant(in_size),
                                            tf.constant(out_size)).numpy(),
          expected, err_msg=f'{in_size} -> {out_size}')


def test_resize_bilinear_per_image_matches_tf_image_resize():
  """Per-image crop + resize equals tf.image.resize (half-pixel, bilinear).

  Without antialiasing, tf.image.resize's half-pixel bilinear rule is
  PyTorch's align_corners=False rule, for enlarging and for shrinking.
  """
  rng = np.random.default_rng(0)
  values = rng.normal(size=[3, 2, 20, 24]).astype(np.float32)
  valid_sizes = np.array([[20, 24], [13, 9], [17, 24]])
  output_sizes = np.array([[31, 40], [5, 30], [17, 11]])
  canvas = (33, 41)
  resized = interpolation.resize_bilinear_per_image(
      values, valid_sizes, output_sizes, canvas).numpy()
  assert resized.shape == (3, 2) + canvas
  for b in range(3):
    (h, w), (oh, ow) = valid_sizes[b], output_sizes[b]
    crop = values[b, :, :h, :w].transpose(1, 2, 0)
    expected = tf.image.resize(crop, (oh, ow), method='bilinear',
                               antialias=False).numpy().transpose(2, 0, 1)
    np.testing.assert_allclose(resized[b, :, :oh, :ow], expected, atol=1e-5)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_resize_bilinear_per_image_equals_resizing_each_crop(dtype):
  """Each image's crop resized alone by `resize_bilinear`, bit for bit.

  Also in the NHWC layout (height_axis=1), with odd sizes, shrinking and
  enlarging.
  """
  rng = np.random.default_rng(1)
  values = rng.normal(size=[3, 2, 15, 22]).astype(dtype)
  valid_sizes = np.array([[15, 22], [7, 9], [11, 22]])
  output_sizes = np.array([[30, 17], [7, 9], [4, 37]])
  canvas = (31, 37)
  resized = interpolation.resize_bilinear_per_image(
      values, valid_sizes, output_sizes, canvas)
  nhwc = interpolation.resize_bilinear_per_image(
      np.moveaxis(values, 1, -1), valid_sizes, output_sizes, canvas,
      height_axis=1)
  assert resized.dtype == nhwc.dtype == tf.as_dtype(dtype)
  np.testing.assert_array_equal(np.moveaxis(resized.numpy(), 1, -1),
                                nhwc.numpy())
  for b in range(3):
    (h, w), (oh, ow) = valid_sizes[b], output_sizes[b]
    alone = interpolation.resize_bilinear(values[b, :, :h, :w], (oh, ow))
    np.testing.assert_array_equal(resized.numpy()[b, :, :oh, :ow],
                                  alone.numpy())
