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

"""Multi-scale deformable attention against PyTorch, numpy and by hand.

The fixture (`m2f_standalone/msdeformattn.npz`) has six cases of the core
`ms_deform_attn_core_pytorch` (1 to 4 levels, maps as thin as 1x1, 5x1,
1x6; locations on pixel centres, on the borders, a quarter or half a pixel
outside, far outside) and one whole `MSDeformAttn` module. Parity is
max(10 * float32_error, 1e-6 * max(1, max |ref|)) of the case (README).
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.modeling.mask2former import deformable_attention as layer_lib
from projects.maskformer.ops import deformable_attention
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import m2f_standalone_checks


@pytest.fixture(scope='module')
def msda_fixture(m2f_reference_dir):
  folder = m2f_reference_dir / 'm2f_standalone'
  manifest = json.loads((folder / 'manifest.json').read_text())
  return dict(np.load(folder / 'msdeformattn.npz')), manifest['msdeformattn']


def _case(arrays, case):
  """(value, spatial_shapes, locations, weights, output) of a core case."""
  prefix = f'msda{case}_'
  shapes = [(int(h), int(w)) for h, w in arrays[prefix + 'spatial_shapes']]
  starts = deformable_attention.level_start_index(shapes)
  np.testing.assert_array_equal(starts, arrays[prefix + 'level_start_index'])
  return (arrays[prefix + 'value'], shapes,
          arrays[prefix + 'sampling_locations'],
          arrays[prefix + 'attention_weights'], arrays[prefix + 'output'])


def _bound(case_manifest, expected):
  return checks_lib.pytorch_error_bound(case_manifest['float32_error'],
                                        np.abs(expected).max())


def _attend(value, shapes, locations, weights, dtype, jit=False):
  fn = tf.function(
      lambda v, x, w: deformable_attention.multi_scale_deformable_attention(
          v, shapes, x, w), jit_compile=jit)
  return fn(tf.constant(value, dtype), tf.constant(locations, dtype),
            tf.constant(weights, dtype)).numpy()


def _numpy_definition(value, shapes, locations, weights):
  """The definition, point by point in float64 (semantics doc, 2.5)."""
  n, _, heads, head_dim = value.shape
  _, queries, _, _, points, _ = locations.shape
  output = np.zeros((n, queries, heads, head_dim))
  for level, ((h, w), start) in enumerate(
      zip(shapes, deformable_attention.level_start_index(shapes))):
    maps = value[:, start:start + h * w].reshape(n, h, w, heads, head_dim)
    for b, q, m, p in np.ndindex(n, queries, heads, points):
      x, y = locations[b, q, m, level, p]
      px, py = x * w - 0.5, y * h - 0.5
      x0, y0 = np.floor(px), np.floor(py)
      sample = np.zeros(head_dim)
      for yy, wy in ((y0, y0 + 1 - py), (y0 + 1, py - y0)):
        for xx, wx in ((x0, x0 + 1 - px), (x0 + 1, px - x0)):
          if 0 <= yy < h and 0 <= xx < w:
            sample += wy * wx * maps[b, int(yy), int(xx), m]
      output[b, q, m] += weights[b, q, m, level, p] * sample
  return output.reshape(n, queries, heads * head_dim)


@pytest.mark.parametrize('case', range(6))
@pytest.mark.parametrize('jit', [False, True])
def test_core_matches_pytorch(msda_fixture, case, jit):
  arrays, manifest = msda_fixture
  value, shapes, locations, weights, expected = _case(arrays, case)
  got = _attend(value, shapes, locations, weights, tf.float32, jit)
  np.testing.assert_allclose(got, expected, rtol=0,
                             atol=_bound(manifest['cases'][case], expected))


@pytest.mark.parametrize('case', range(6))
def test_core_float64_is_the_definition(msda_fixture, case):
  # In float64 the op is the exact formula; PyTorch's float32 output is
  # within its own measured float32 error of it.
  arrays, manifest = msda_fixture
  value, shapes, locations, weights, expected = _case(arrays, case)
  value, locations, weights = (a.astype(np.float64)
                               for a in (value, locations, weights))
  got = _attend(value, shapes, locations, weights, tf.float64)
  np.testing.assert_allclose(
      got, _numpy_definition(value, shapes, locations, weights), rtol=0,
      atol=1e-12)
  np.testing.assert_allclose(
      got, expected, rtol=0,
      atol=2 * manifest['cases'][case]['float32_error'] + 1e-7)


def test_borders_and_levels_by_hand():
  # Two levels, one head, one channel, one point per level. Level 0 is 2x2
  # [[1, 2], [3, 4]], level 1 is 1x2 [[10, 20]].
  value = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0]).reshape(1, 6, 1, 1)
  shapes = [(2, 2), (1, 2)]
  # Query 0: level 0 on the left border (half of pixel (0, 0) = 0.5),
  #          level 1 on the centre of pixel 1 (20).
  # Query 1: level 0 a full pixel outside (0), level 1 at x = 0.5, between
  #          both pixel centres (15).
  # Query 2: level 0 at the bottom-right corner (a quarter of 4 = 1),
  #          level 1 a quarter pixel outside the left border (x_pix =
  #          -0.75: a quarter of 10).
  locations = np.array([
      [[0.0, 0.25], [0.75, 0.5]],
      [[-0.5, 0.25], [0.5, 0.5]],
      [[1.0, 1.0], [-0.125, 0.5]],
  ]).reshape(1, 3, 1, 2, 1, 2)
  weights = np.array([[0.5, 0.25], [1.0, 0.5], [2.0, 0.4]]).reshape(
      1, 3, 1, 2, 1)
  got = _attend(value, shapes, locations, weights, tf.float64)[0, :, 0]
  np.testing.assert_allclose(
      got, [0.5 * 0.5 + 0.25 * 20.0, 1.0 * 0.0 + 0.5 * 15.0,
            2.0 * 1.0 + 0.4 * 2.5], rtol=0, atol=1e-12)


def test_shapes_must_agree():
  with pytest.raises(ValueError, match='do not match'):
    deformable_attention.multi_scale_deformable_attention(
        tf.zeros([1, 5, 1, 2]), [(2, 2)], tf.zeros([1, 3, 1, 1, 1, 2]),
        tf.zeros([1, 3, 1, 1, 1]))


@pytest.mark.parametrize('jit', [False, True])
def test_module_matches_pytorch(msda_fixture, jit):
  arrays, manifest = msda_fixture
  layer, shapes, args = m2f_standalone_checks.msdeformattn_module(
      arrays, manifest['module'])
  forward = tf.function(lambda q, r, x: layer(q, r, x, shapes),
                        jit_compile=jit)
  expected = arrays['module_output']
  np.testing.assert_allclose(forward(*args).numpy(), expected, rtol=0,
                             atol=_bound(manifest['module'], expected))


def test_offsets_are_pixels_of_the_sampled_level():
  # Zero kernels: the offsets are the bias, in pixels of each level, divided
  # by that level's (W, H); the attention weights are uniform over L * P.
  layer = layer_lib.MSDeformAttn(num_heads=1, num_levels=2, num_points=1)
  shapes = [(2, 4), (1, 2)]
  query = tf.zeros([1, 1, 4])
  reference = tf.constant([[[[0.5, 0.5], [0.25, 0.75]]]])
  layer(query, reference, tf.zeros([1, 10, 4]), shapes)
  layer.sampling_offsets.bias.assign([1.0, 0.5, 1.0, 0.5])
  locations, weights = layer.sampling(query, reference, shapes)
  np.testing.assert_allclose(
      locations.numpy().reshape(2, 2),
      [[0.5 + 1.0 / 4, 0.5 + 0.5 / 2], [0.25 + 1.0 / 2, 0.75 + 0.5 / 1]])
  np.testing.assert_allclose(weights.numpy().reshape(2), [0.5, 0.5])


def test_initial_offsets_are_the_ring():
  # Head m points at (cos, sin)(2 pi m / M) scaled to a unit max-norm, point
  # p is p + 1 such steps away, on every level.
  bias = layer_lib.ring_offsets(8, 2, 3).reshape(8, 2, 3, 2)
  directions = np.array([[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0],
                         [-1, -1], [0, -1], [1, -1]], np.float32)
  expected = directions[:, None, None, :] * np.arange(1, 4)[None, None, :,
                                                            None]
  np.testing.assert_allclose(bias, np.broadcast_to(expected, bias.shape),
                             atol=1e-5)
  layer = layer_lib.MSDeformAttn(num_heads=8, num_levels=2, num_points=3)
  layer(tf.zeros([1, 2, 16]), tf.zeros([1, 2, 2, 2]), tf.zeros([1, 2, 16]),
        [(1, 1), (1, 1)])
  np.testing.assert_array_equal(layer.sampling_offsets.kernel.numpy(), 0.0)
  np.testing.assert_array_equal(layer.attention_weights.kernel.numpy(), 0.0)
  np.testing.assert_array_equal(layer.attention_weights.bias.numpy(), 0.0)
  np.testing.assert_array_equal(layer.sampling_offsets.bias.numpy(),
                                bias.reshape(-1))


def _gradients(value, shapes, locations, weights, cotangent, jit):
  """d sum(cotangent * output) / d (value, locations, weights)."""

  def grads(v, x, w):
    with tf.GradientTape() as tape:
      tape.watch([v, x, w])
      output = deformable_attention.multi_scale_deformable_attention(
          v, shapes, x, w)
      objective = tf.reduce_sum(output * cotangent)
    return tape.gradient(objective, [v, x, w])

  fn = tf.function(grads, jit_compile=jit)
  return [g.numpy() for g in fn(tf.constant(value), tf.constant(locations),
                                tf.constant(weights))]


def _random_case(seed, dtype=np.float64):
  """3 levels (3x4, 2x2, 1x1), 2 heads of 3 channels, 5 queries, 2 points;
  locations from -0.2 to 1.2 of each level (some neighbours outside)."""
  rng = np.random.default_rng(seed)
  shapes = [(3, 4), (2, 2), (1, 1)]
  value = rng.normal(size=(2, 17, 2, 3))
  locations = rng.uniform(-0.2, 1.2, size=(2, 5, 2, 3, 2, 2))
  weights = rng.uniform(0.0, 1.0, size=(2, 5, 2, 3, 2))
  cotangent = rng.normal(size=(2, 5, 6))
  return [a.astype(dtype) for a in (value, locations, weights, cotangent)
          ], shapes


@pytest.mark.parametrize('jit', [False, True])
def test_gradients_are_the_derivatives(jit):
  # The backward pass gathers the corners again (custom gradient): its
  # gradients equal central differences of the float64 op (locations away
  # from the kinks of the bilinear weights, which lie on pixel centres).
  (value, locations, weights, cotangent), shapes = _random_case(0)
  got = _gradients(value, shapes, locations, weights, cotangent, jit)

  def objective(v, x, w):
    return float(np.sum(_numpy_definition(v, shapes, x, w).reshape(
        cotangent.shape) * cotangent))

  step = 1e-6
  inputs = [value, locations, weights]
  for which, grad in enumerate(got):
    numeric = np.zeros_like(grad)
    for index in np.ndindex(grad.shape):
      plus = [a.copy() for a in inputs]
      minus = [a.copy() for a in inputs]
      plus[which][index] += step
      minus[which][index] -= step
      numeric[index] = (objective(*plus) - objective(*minus)) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7)


@pytest.mark.parametrize('jit', [False, True])
def test_gradients_equal_autodiff_of_the_formula(monkeypatch, jit):
  # Against TF's own differentiation of the same formula, float32 (the
  # gather differentiated by autodiff, the corners kept from the forward
  # pass).
  (value, locations, weights, cotangent), shapes = _random_case(1, np.float32)
  got = _gradients(value, shapes, locations, weights, cotangent, jit)
  monkeypatch.setattr(deformable_attention, '_recomputed_in_backward',
                      deformable_attention._weighted_corners)  # pylint: disable=protected-access
  expected = _gradients(value, shapes, locations, weights, cotangent, jit)
  for g, e in zip(got, expected):
    np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)
