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

"""The sine positional encoding against DETR's formula and Model Garden's."""
import numpy as np
from official.projects.detr.modeling import detr
import pytest
import tensorflow as tf

from projects.maskformer.modeling import position_encoding


@pytest.mark.parametrize('dtype,atol', [(tf.float32, 1e-6),
                                        (tf.float64, 1e-14)])
def test_sine_position_encoding_matches_formula(dtype, atol):
  height, width, num_features = 3, 5, 8
  encoding = position_encoding.sine_position_encoding(
      tf.zeros([2, height, width, 4]), num_features, dtype)
  assert encoding.dtype == dtype
  encoding = encoding.numpy()
  assert encoding.shape == (1, height, width, num_features)
  n = num_features // 2
  dim_t = 10000.0**(2 * (np.arange(n) // 2) / n)
  y = np.arange(1, height + 1) / (height + 1e-6) * 2 * np.pi
  x = np.arange(1, width + 1) / (width + 1e-6) * 2 * np.pi
  for i in range(height):
    for j in range(width):
      pos_y = y[i] / dim_t
      pos_x = x[j] / dim_t
      # Channels interleave sin(f0), cos(f1), sin(f2), ...: sin on even
      # indices, cos on odd ones; y first, then x.
      expected_y = np.where(np.arange(n) % 2 == 0, np.sin(pos_y),
                            np.cos(pos_y))
      expected_x = np.where(np.arange(n) % 2 == 0, np.sin(pos_x),
                            np.cos(pos_x))
      np.testing.assert_allclose(
          encoding[0, i, j], np.concatenate([expected_y, expected_x]),
          atol=atol)


def test_sine_position_encoding_float32_equals_model_garden_detr():
  features = tf.zeros([1, 7, 9, 4])
  ours = position_encoding.sine_position_encoding(features, 16)
  theirs = detr.position_embedding_sine(tf.ones([1, 7, 9]),
                                        num_pos_features=16)
  np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
