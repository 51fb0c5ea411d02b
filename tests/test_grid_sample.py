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

"""`ops.grid_sample` against PyTorch's `point_sample` outputs and by hand.

The fixture cases (`m2f_standalone/points.npz`) hold points inside and
outside [0, 1] and on the corners; parity is `10 * float32_error` of the
case (README), and in float64 the same inputs must land within 1e-12.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.ops import grid_sample
from projects.maskformer.reference import checks as checks_lib


@pytest.fixture(scope='module')
def points_fixture(m2f_reference_dir):
  folder = m2f_reference_dir / 'm2f_standalone'
  manifest = json.loads((folder / 'manifest.json').read_text())
  return np.load(folder / 'points.npz'), manifest['points']['point_sample']


def _sample(maps_nchw, points, dtype, jit=False):
  maps = tf.constant(np.transpose(maps_nchw, [0, 2, 3, 1]), dtype)
  fn = tf.function(grid_sample.grid_sample, jit_compile=jit)
  return np.transpose(fn(maps, tf.constant(points, dtype)).numpy(), [0, 2, 1])


@pytest.mark.parametrize('case', [0, 1, 2])
@pytest.mark.parametrize('jit', [False, True])
def test_point_sample_matches_pytorch(points_fixture, case, jit):
  arrays, cases = points_fixture
  maps = arrays[f'point_sample{case}_input']
  points = arrays[f'point_sample{case}_coords']
  expected = arrays[f'point_sample{case}_output']
  got = _sample(maps, points, tf.float32, jit)
  bound = checks_lib.pytorch_error_bound(cases[case]['float32_error'],
                                         np.abs(expected).max())
  np.testing.assert_allclose(got, expected, rtol=0, atol=bound)


@pytest.mark.parametrize('case', [0, 1, 2])
def test_point_sample_float64_is_the_exact_bilinear(points_fixture, case):
  # The float64 result against a direct float64 numpy evaluation of the
  # definition, and within the float32 error of PyTorch's float32 output.
  arrays, cases = points_fixture
  maps = arrays[f'point_sample{case}_input'].astype(np.float64)
  points = arrays[f'point_sample{case}_coords'].astype(np.float64)
  got = _sample(maps, points, tf.float64)
  n, c, h, w = maps.shape
  expected = np.zeros((n, c, points.shape[1]))
  for i in range(n):
    for p, (x, y) in enumerate(points[i]):
      px, py = x * w - 0.5, y * h - 0.5
      x0, y0 = np.floor(px), np.floor(py)
      for yy, wy in ((y0, y0 + 1 - py), (y0 + 1, py - y0)):
        for xx, wx in ((x0, x0 + 1 - px), (x0 + 1, px - x0)):
          if 0 <= yy < h and 0 <= xx < w:
            expected[i, :, p] += wy * wx * maps[i, :, int(yy), int(xx)]
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
  np.testing.assert_allclose(
      got, arrays[f'point_sample{case}_output'], rtol=0,
      atol=2 * cases[case]['float32_error'] + 1e-7)


def test_borders_and_outside_by_hand():
  # A 2 x 2 map: the border point x = 0 gets half of the edge pixel, a point
  # a full pixel outside gets nothing, a pixel centre gets the pixel.
  maps = tf.constant([[[[1.0], [2.0]], [[3.0], [4.0]]]])
  points = tf.constant([[[0.25, 0.25], [0.0, 0.25], [-0.25, 0.25],
                         [0.5, 0.5], [1.0, 1.0]]])
  got = grid_sample.grid_sample(maps, points).numpy()[0, :, 0]
  np.testing.assert_allclose(got, [1.0, 0.5, 0.0, 2.5, 1.0])
