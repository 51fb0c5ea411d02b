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

"""Property tests of the batched linear assignment solver against scipy."""
import itertools

import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

from projects.maskformer.ops import linear_assignment

# Continuous costs: our total within this of scipy's optimum, relative to
# 1 + sum|matched costs|: float32 costs against scipy on their float64 copy;
# equal totals, not equal indices, since ties make indices ambiguous
# (observed gaps ~1e-9).
REL_TOL = 1e-6

_solve_xla = tf.function(linear_assignment.linear_sum_assignment,
                         jit_compile=True)


def _solve(cost, valid):
  result = _solve_xla(tf.constant(cost, tf.float32), tf.constant(valid))
  return {name: value.numpy() for name, value in result._asdict().items()}


def _scipy_optimum(cost, valid):
  """scipy's optimum of cost[:, valid] (float64 copy of the float32 values)."""
  sub = cost[:, valid].astype(np.float32).astype(np.float64)
  rows, cols = optimize.linear_sum_assignment(sub)
  return sub[rows, cols].sum(), np.abs(sub[rows, cols]).sum()


def _assert_structure(result, valid):
  """Distinct queries for valid targets, -1 elsewhere, inverse maps."""
  query_for_target = result['query_for_target']
  target_for_query = result['target_for_query']
  num_queries = target_for_query.shape[1]
  for b in range(valid.shape[0]):
    queries = query_for_target[b][valid[b]]
    assert np.all((queries >= 0) & (queries < num_queries)), b
    assert len(set(queries.tolist())) == len(queries), b
    assert np.all(query_for_target[b][~valid[b]] == -1), b
    matched = target_for_query[b] >= 0
    assert matched.sum() == valid[b].sum(), b
    np.testing.assert_array_equal(
        query_for_target[b][target_for_query[b][matched]],
        np.nonzero(matched)[0])


def _assert_optimal(cost, valid, result, exact=False):
  """Our total cost equals scipy's optimum on every image."""
  _assert_structure(result, valid)
  for b in range(cost.shape[0]):
    targets = np.nonzero(valid[b])[0]
    queries = result['query_for_target'][b][targets]
    ours = cost[b][queries, targets].astype(np.float64).sum()
    optimum, scale = _scipy_optimum(cost[b], valid[b])
    if exact:
      assert ours == optimum, (b, ours, optimum)
    else:
      assert abs(ours - optimum) <= REL_TOL * (1.0 + scale), (b, ours, optimum)


def _assert_dual_certificate(cost, valid, result):
  """u_t + v_q <= C[q, t], equality on matched pairs, v <= 0, v = 0 if free."""
  u, v = result['target_duals'], result['query_duals']
  for b in range(cost.shape[0]):
    targets = np.nonzero(valid[b])[0]
    sub = cost[b][:, targets].astype(np.float64)
    tol = 1e-5 * (1.0 + np.abs(sub).max()) if sub.size else 0.0
    slack = sub - u[b][targets][np.newaxis, :] - v[b][:, np.newaxis]
    assert slack.min(initial=0.0) >= -tol, b
    queries = result['query_for_target'][b][targets]
    np.testing.assert_allclose(slack[queries, np.arange(len(targets))], 0.0,
                               atol=tol)
    assert np.all(v[b] <= tol)
    assert np.all(v[b][result['target_for_query'][b] < 0] == 0.0)


def _families(rng, batch, num_queries, num_targets):
  """Named [batch, Q, T] cost families that stress an exact solver.

  Offsets, wide dynamic ranges, ties (duplicated rows and columns, rank 1)
  and block structure, besides plain uniform and normal costs.
  """
  shape = (batch, num_queries, num_targets)
  rank1 = (rng.random((batch, num_queries, 1)) *
           rng.random((batch, 1, num_targets)))
  duplicated = rng.random(shape)
  duplicated[:, 1::2, :] = duplicated[:, 0:-1:2, :]
  duplicated[:, :, 1::3] = duplicated[:, :, 0:-1:3]
  block = rng.random(shape) + 10.0
  half_q, half_t = num_queries // 2, num_targets // 2
  block[:, :half_q, :half_t] -= 10.0
  block[:, half_q:, half_t:] -= 10.0
  return {
      'uniform': rng.random(shape),
      'normal': rng.normal(size=shape),
      'negative': -rng.random(shape) * 5.0,
      'large_offset': 1e3 + rng.random(shape),
      'normal_1e4': rng.normal(size=shape) * 1e4,
      'wide_range': 10.0**rng.uniform(-3.0, 3.0, size=shape),
      'rank1': rank1,
      'duplicated': duplicated,
      'block_diagonal': block,
  }


def _valid_masks(rng, batch, num_targets):
  """All valid, none, one, and random non-prefix subsets, cycling."""
  masks = np.zeros((batch, num_targets), bool)
  for b in range(batch):
    kind = b % 4
    if kind == 0:
      masks[b] = True
    elif kind == 2:
      masks[b, rng.integers(num_targets)] = True
    elif kind == 3:
      masks[b] = rng.random(num_targets) < 0.6
  return masks


FAMILY_NAMES = ('uniform', 'normal', 'negative', 'large_offset', 'normal_1e4',
                'wide_range', 'rank1', 'duplicated', 'block_diagonal')


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_matches_scipy_optimum(family):
  rng = np.random.default_rng(FAMILY_NAMES.index(family))
  cost = _families(rng, 16, 12, 10)[family].astype(np.float32)
  valid = _valid_masks(rng, 16, 10)
  result = _solve(cost, valid)
  _assert_optimal(cost, valid, result)
  _assert_dual_certificate(cost, valid, result)


@pytest.mark.parametrize('high', [1, 3, 10])
def test_integer_costs_exact(high):
  """Ties everywhere ({0}, {0..2}, {0..9}): the optimum must be exact."""
  rng = np.random.default_rng(high)
  cost = rng.integers(0, high, size=(16, 12, 10)).astype(np.float32)
  valid = _valid_masks(rng, 16, 10)
  result = _solve(cost, valid)
  _assert_optimal(cost, valid, result, exact=True)
  _assert_dual_certificate(cost, valid, result)


def test_brute_force_oracle():
  """Second oracle: enumerate every injective map for T <= 6 targets."""
  rng = np.random.default_rng(7)
  batch, num_queries, num_targets = 12, 7, 6
  cost = rng.integers(0, 50, size=(batch, num_queries, num_targets))
  cost = (cost + rng.random(cost.shape)).astype(np.float32)
  valid = np.zeros((batch, num_targets), bool)
  for b in range(batch):
    valid[b, rng.permutation(num_targets)[:b % (num_targets + 1)]] = True
  result = _solve(cost, valid)
  _assert_structure(result, valid)
  for b in range(batch):
    targets = np.nonzero(valid[b])[0]
    sub = cost[b][:, targets].astype(np.float64)
    best = min(
        (sub[list(queries), range(len(targets))].sum()
         for queries in itertools.permutations(range(num_queries),
                                               len(targets))),
        default=0.0)
    ours = sub[result['query_for_target'][b][targets],
               range(len(targets))].sum()
    assert abs(ours - best) <= REL_TOL * (1.0 + np.abs(sub).sum()), b


def test_unique_optimum_gives_scipy_indices():
  """Without ties (continuous random costs) the indices equal scipy's."""
  rng = np.random.default_rng(11)
  cost = rng.random((16, 12, 10)).astype(np.float32)
  valid = _valid_masks(rng, 16, 10)
  result = _solve(cost, valid)
  for b in range(16):
    targets = np.nonzero(valid[b])[0]
    rows, cols = optimize.linear_sum_assignment(
        cost[b][:, targets].astype(np.float64))
    expected = np.full(10, -1)
    expected[targets[cols]] = rows
    np.testing.assert_array_equal(result['query_for_target'][b], expected)


def test_non_finite_costs_are_avoided():
  """NaN/+-inf entries: same optimum as scipy with them forbidden (+inf)."""
  rng = np.random.default_rng(3)
  cost = rng.random((16, 12, 10)).astype(np.float32)
  bad = rng.random(cost.shape) < 0.15
  cost[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32),
                         size=bad.sum())
  valid = _valid_masks(rng, 16, 10)
  result = _solve(cost, valid)
  _assert_structure(result, valid)
  forbidden = np.where(np.isfinite(cost), cost, np.inf).astype(np.float64)
  for b in range(16):
    targets = np.nonzero(valid[b])[0]
    rows, cols = optimize.linear_sum_assignment(forbidden[b][:, targets])
    optimum = forbidden[b][:, targets][rows, cols].sum()
    ours = forbidden[b][result['query_for_target'][b][targets], targets].sum()
    assert abs(ours - optimum) <= REL_TOL * (1.0 + abs(optimum)), b


def test_all_non_finite_image_still_matches():
  cost = np.full((2, 5, 4), np.nan, np.float32)
  cost[1] = np.inf
  valid = np.ones((2, 4), bool)
  result = _solve(cost, valid)
  _assert_structure(result, valid)


def test_invariances():
  """Row shifts add their constants; permutations keep the optimum."""
  rng = np.random.default_rng(5)
  cost = rng.random((16, 12, 10)).astype(np.float32)
  valid = _valid_masks(rng, 16, 10)

  def totals(c, v):
    r = _solve(c, v)
    return np.array([
        c[b][r['query_for_target'][b][v[b]], np.nonzero(v[b])[0]]
        .astype(np.float64).sum() for b in range(c.shape[0])
    ])

  base = totals(cost, valid)
  shift = rng.integers(-5, 6, size=(16, 1, 10)).astype(np.float32)
  shifted = totals(cost + shift, valid)
  expected = base + (shift[:, 0, :] * valid).sum(axis=1)
  np.testing.assert_allclose(shifted, expected, rtol=0, atol=1e-4)
  query_perm = rng.permutation(12)
  target_perm = rng.permutation(10)
  permuted = totals(cost[:, query_perm][:, :, target_perm],
                    valid[:, target_perm])
  np.testing.assert_allclose(permuted, base, rtol=0, atol=1e-5)


def test_full_size_mixed_batch_and_iteration_bound():
  """Worst (rank-1) and trivial images in one batch; k^2 iteration bound."""
  rng = np.random.default_rng(1)
  batch, size = 8, 100
  cost = rng.random((batch, size, size)).astype(np.float32)
  cost[0] = np.outer(rng.random(size), rng.random(size))
  cost[3] = np.outer(rng.random(size), rng.random(size)) * 1e3
  valid = np.ones((batch, size), bool)
  valid[1] = False
  valid[2] = np.arange(size) == 17
  valid[4] = rng.random(size) < 0.3
  result = _solve(cost, valid)
  _assert_optimal(cost, valid, result)
  _assert_dual_certificate(cost, valid, result)
  assert result['num_iterations'] <= valid.sum(axis=1).max()**2
  # Lockstep masking does not disturb the neighbours of the worst case.
  alone = _solve(cost[1:3], valid[1:3])
  np.testing.assert_array_equal(alone['query_for_target'],
                                result['query_for_target'][1:3])


def test_coco_like_iterations():
  """64 images with up to 20 of 100 targets: < 100 loop iterations."""
  rng = np.random.default_rng(2)
  cost = rng.random((64, 100, 100)).astype(np.float32)
  valid = np.zeros((64, 100), bool)
  for b in range(64):
    valid[b, rng.permutation(100)[:rng.integers(0, 21)]] = True
  result = _solve(cost, valid)
  _assert_optimal(cost, valid, result)
  assert result['num_iterations'] < 100
  assert result['num_iterations'] <= valid.sum(axis=1).max()**2


def test_graph_mode_matches_xla_and_is_deterministic():
  """Non-XLA kernels (which reject out-of-range gathers) agree; repeatable."""
  rng = np.random.default_rng(9)
  cost = rng.integers(0, 3, size=(16, 12, 10)).astype(np.float32)
  valid = _valid_masks(rng, 16, 10)
  graph = tf.function(linear_assignment.linear_sum_assignment)(
      tf.constant(cost), tf.constant(valid))
  first = _solve(cost, valid)
  second = _solve(cost, valid)
  for name in first:
    np.testing.assert_array_equal(first[name], second[name])
  _assert_optimal(cost, valid, {k: v.numpy() for k, v in
                                graph._asdict().items()}, exact=True)


def test_no_gradient_through_solver():
  cost = tf.Variable(np.random.default_rng(0).random((2, 5, 4)),
                     dtype=tf.float32)
  with tf.GradientTape() as tape:
    result = linear_assignment.linear_sum_assignment(cost)
    total = tf.reduce_sum(result.target_duals) + tf.reduce_sum(
        result.query_duals)
  assert tape.gradient(total, cost) is None
  assert result.query_for_target.dtype == tf.int32
  assert result.target_for_query.dtype == tf.int32


def test_bfloat16_cost_is_solved_in_float32():
  rng = np.random.default_rng(4)
  cost = rng.random((4, 12, 10)).astype(np.float32)
  rounded = tf.cast(tf.cast(cost, tf.bfloat16), tf.float32).numpy()
  result = linear_assignment.linear_sum_assignment(
      tf.cast(cost, tf.bfloat16), tf.ones([4, 10], tf.bool))
  assert result.target_duals.dtype == tf.float32
  _assert_optimal(rounded, np.ones((4, 10), bool),
                  {k: v.numpy() for k, v in result._asdict().items()})


def test_rejects_more_targets_than_queries():
  with pytest.raises(ValueError, match='more targets'):
    linear_assignment.linear_sum_assignment(tf.zeros([1, 3, 4]))
  with pytest.raises(ValueError, match=r'\[B, Q, T\]'):
    linear_assignment.linear_sum_assignment(tf.zeros([3, 4]))
