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

"""Exact batched linear assignment (shortest augmenting paths) for XLA/TPU.

The solver is the shortest-augmenting-path method with dual potentials that
`scipy.optimize.linear_sum_assignment` implements (D. F. Crouse, "On
implementing 2D rectangular assignment algorithms", IEEE TAES 2016), written as
one flat `tf.while_loop` over a per-image state machine so that a whole batch
(and every decoder layer stacked along the batch) is solved in a single
XLA-compilable loop with static shapes and no host callbacks.

Orientation: the input cost is [B, Q, T] (queries x padded targets, T <= Q).
Inside, rows are the valid targets and columns the queries; every valid target
is inserted in turn by a Dijkstra search over reduced costs
`cost - u[row] - v[col]`, followed by an augmentation along the shortest path
and the dual update of Crouse's algorithm. Invalid targets are never inserted,
so the result is the optimum of `cost[b][:, target_valid[b]]`.

Each loop iteration advances every unfinished image by one Dijkstra step (which
visits one query; when that query is free it also applies the dual update and
flips the first edge of the augmenting path) or by one further augmentation
step. An image with k valid targets, g of them placed by the greedy start,
needs at most k^2 - g^2 iterations: inserting the r-th target takes at most r
Dijkstra steps (r - 1 matched queries plus the free one that ends the search)
and at most r - 1 extra augmentation steps (the path alternates over distinct
visited targets). The loop count is the maximum of that over the batch.
"""
from typing import NamedTuple
from typing import Optional

import tensorflow as tf


class Assignment(NamedTuple):
  """The optimal assignment of a batch of cost matrices.

  Attributes:
    query_for_target: An int32 [B, T] tensor: the query matched to each target,
      -1 for invalid targets.
    target_for_query: An int32 [B, Q] tensor: the target matched to each query,
      -1 for unmatched queries.
    target_duals: A float32 [B, T] tensor, the dual potentials u of the
      targets (0 for invalid targets).
    query_duals: A float32 [B, Q] tensor, the dual potentials v of the queries
      (<= 0, and 0 for unmatched queries). Together with `target_duals` they
      certify optimality: u[t] + v[q] <= cost[q, t] for all valid t and all q,
      with equality on matched pairs.
    num_iterations: An int32 scalar, the number of while-loop iterations run.
  """
  query_for_target: tf.Tensor
  target_for_query: tf.Tensor
  target_duals: tf.Tensor
  query_duals: tf.Tensor
  num_iterations: tf.Tensor


# Phases of the per-image state machine.
_SEARCH = 0
_AUGMENT = 1
_DONE = 2


def sanitize_costs(cost: tf.Tensor, target_valid: tf.Tensor) -> tf.Tensor:
  """Replaces non-finite costs by a finite value that no optimum would choose.

  NaN, +inf and -inf become, per image,
  `max + (k + 1) * (max - min + 1)` where `max`/`min` are the extreme finite
  costs over the valid targets and k the number of valid targets. Any
  assignment that uses one such entry costs more than any assignment that uses
  none, so the optimum avoids them whenever possible (as scipy does for +inf),
  while the magnitudes stay within about k times the cost range, which keeps
  the float32 reduced costs precise.

  Args:
    cost: A float32 [B, Q, T] tensor.
    target_valid: A bool [B, T] tensor.

  Returns:
    A float32 [B, Q, T] tensor with only finite values.
  """
  finite = tf.math.is_finite(cost) & target_valid[:, tf.newaxis, :]
  zeros = tf.zeros_like(cost)
  highest = tf.reduce_max(tf.where(finite, cost, zeros), axis=[1, 2])
  lowest = tf.reduce_min(tf.where(finite, cost, zeros), axis=[1, 2])
  num_valid = tf.reduce_sum(tf.cast(target_valid, tf.float32), axis=1)
  replacement = highest + (num_valid + 1.0) * (highest - lowest + 1.0)
  return tf.where(tf.math.is_finite(cost), cost,
                  replacement[:, tf.newaxis, tf.newaxis])


def _set_at(tensor: tf.Tensor, index: tf.Tensor, value: tf.Tensor,
            active: tf.Tensor) -> tf.Tensor:
  """Writes value[b] at tensor[b, index[b]] for the active images.

  Args:
    tensor: A [B, N] tensor.
    index: An int32 [B] tensor of positions in [0, N).
    value: A [B] tensor of tensor's dtype.
    active: A bool [B] tensor; inactive rows are left unchanged.

  Returns:
    The updated [B, N] tensor.
  """
  positions = tf.range(tf.shape(tensor)[1], dtype=tf.int32)
  hit = ((positions[tf.newaxis, :] == index[:, tf.newaxis]) &
         active[:, tf.newaxis])
  return tf.where(hit, value[:, tf.newaxis], tensor)


def _take(tensor: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
  """Returns tensor[b, index[b]] as a [B] tensor; index is clamped to range."""
  index = tf.clip_by_value(index, 0, tf.shape(tensor)[1] - 1)
  return tf.gather(tensor, index[:, tf.newaxis], batch_dims=1)[:, 0]


def _greedy_start(cost_t: tf.Tensor, target_valid: tf.Tensor):
  """Exact warm start: row-minimum duals and the conflict-free argmins.

  With u = row minima and v = 0 the duals are feasible, and every target whose
  argmin query is claimed by no lower-indexed target can be matched to it at
  zero reduced cost (complementary slackness holds), so the search only has to
  insert the remaining targets.

  Args:
    cost_t: A float32 [B, T, Q] tensor (targets as rows).
    target_valid: A bool [B, T] tensor.

  Returns:
    u: A float32 [B, T] tensor (0 for invalid targets).
    col4row: An int32 [B, T] tensor, the greedily placed query or -1.
    row4col: An int32 [B, Q] tensor, the inverse map (-1 where free).
  """
  num_targets = tf.shape(cost_t)[1]
  num_queries = tf.shape(cost_t)[2]
  u = tf.where(target_valid, tf.reduce_min(cost_t, axis=2), 0.0)
  best = tf.argmin(cost_t, axis=2, output_type=tf.int32)
  target_ids = tf.range(num_targets, dtype=tf.int32)
  query_ids = tf.range(num_queries, dtype=tf.int32)
  # claims[b, t, q]: valid target t has query q as its (first) argmin.
  claims = (best[:, :, tf.newaxis] == query_ids[tf.newaxis, tf.newaxis, :]) & (
      target_valid[:, :, tf.newaxis])
  sentinel = num_targets
  first_claimant = tf.reduce_min(
      tf.where(claims, target_ids[tf.newaxis, :, tf.newaxis], sentinel), axis=1)
  row4col = tf.where(first_claimant < sentinel, first_claimant, -1)
  wins = target_valid & (tf.gather(first_claimant, best, batch_dims=1)
                         == target_ids[tf.newaxis, :])
  col4row = tf.where(wins, best, -1)
  return u, col4row, row4col


def linear_sum_assignment(cost: tf.Tensor,
                          target_valid: Optional[tf.Tensor] = None
                          ) -> Assignment:
  """Minimum-cost matching of every valid target to a distinct query.

  Equivalent to running `scipy.optimize.linear_sum_assignment` on
  `cost[b][:, target_valid[b]]` for every b (same optimal cost; the indices
  agree wherever the optimum is unique). Differentiation is stopped at `cost`.

  Args:
    cost: A float [B, Q, T] tensor (any float dtype; computed in float32), with
      a static T <= Q. Non-finite entries are replaced by `sanitize_costs`.
    target_valid: An optional bool [B, T] tensor; targets that are False are
      never matched. Any subset may be valid. Defaults to all valid.

  Returns:
    An `Assignment`.

  Raises:
    ValueError: if `cost` is not rank 3 or has more targets than queries.
  """
  cost = tf.convert_to_tensor(cost)
  if cost.shape.rank != 3:
    raise ValueError(f'cost must be [B, Q, T], got shape {cost.shape}.')
  num_queries, num_targets = cost.shape[1], cost.shape[2]
  if (num_queries is not None and num_targets is not None and
      num_targets > num_queries):
    raise ValueError(f'cost has more targets ({num_targets}) than queries '
                     f'({num_queries}); clip the targets to Q upstream.')
  cost = tf.stop_gradient(tf.cast(cost, tf.float32))
  dims = tf.shape(cost)
  batch_size, num_queries, num_targets = dims[0], dims[1], dims[2]
  if target_valid is None:
    target_valid = tf.ones([batch_size, num_targets], tf.bool)
  target_valid = tf.cast(tf.stop_gradient(target_valid), tf.bool)
  cost_t = tf.transpose(sanitize_costs(cost, target_valid), [0, 2, 1])

  u, col4row, row4col = _greedy_start(cost_t, target_valid)
  v = tf.zeros([batch_size, num_queries], tf.float32)
  # The targets still to insert, in increasing index order, then the rest.
  pending = target_valid & (col4row < 0)
  order = tf.argsort(tf.cast(~pending, tf.int32), axis=1, stable=True)
  num_pending = tf.reduce_sum(tf.cast(pending, tf.int32), axis=1)

  target_ids = tf.range(num_targets, dtype=tf.int32)[tf.newaxis, :]
  query_ids = tf.range(num_queries, dtype=tf.int32)[tf.newaxis, :]
  inf = tf.constant(float('inf'), tf.float32)

  first_root = _take(order, tf.zeros([batch_size], tf.int32))
  state = dict(
      phase=tf.where(num_pending > 0, _SEARCH, _DONE),
      inserted=tf.zeros([batch_size], tf.int32),  # count of pending done
      root=first_root,  # the target being inserted
      row=first_root,  # the target the search is expanding
      cursor=tf.zeros([batch_size], tf.int32),  # augmentation: current query
      min_val=tf.zeros([batch_size], tf.float32),
      u=u,
      v=v,
      col4row=col4row,
      row4col=row4col,
      path=tf.fill([batch_size, num_queries], -1),
      shortest=tf.fill([batch_size, num_queries], inf),
      rows_seen=tf.zeros([batch_size, num_targets], tf.bool),
      cols_seen=tf.zeros([batch_size, num_queries], tf.bool),
  )

  def search_step(s):
    """One Dijkstra step of the searching images (dual update at the sink)."""
    active = tf.equal(s['phase'], _SEARCH)
    row = s['row']
    cost_row = tf.gather(cost_t, tf.clip_by_value(row, 0, num_targets - 1),
                         batch_dims=1)
    offset = s['min_val'] - _take(s['u'], row)
    reduced = offset[:, tf.newaxis] + cost_row - s['v']
    unseen = ~s['cols_seen']
    improve = active[:, tf.newaxis] & unseen & (reduced < s['shortest'])
    path = tf.where(improve, row[:, tf.newaxis], s['path'])
    shortest = tf.where(improve, reduced, s['shortest'])
    rows_seen = s['rows_seen'] | (
        (target_ids == row[:, tf.newaxis]) & active[:, tf.newaxis])

    open_paths = tf.where(unseen, shortest, inf)
    lowest = tf.reduce_min(open_paths, axis=1)
    tied = unseen & tf.equal(open_paths, lowest[:, tf.newaxis])
    tied_free = tied & (s['row4col'] < 0)
    # Prefer a free query among the tied minima: it ends the search at once.
    sink_found = tf.reduce_any(tied_free, axis=1)
    pick = tf.where(sink_found[:, tf.newaxis], tied_free, tied)
    col = tf.argmax(tf.cast(pick, tf.int32), axis=1, output_type=tf.int32)
    sink_found &= active
    min_val = tf.where(active, lowest, s['min_val'])
    cols_seen = s['cols_seen'] | (
        (query_ids == col[:, tf.newaxis]) & active[:, tf.newaxis])
    next_row = tf.where(active & ~sink_found, _take(s['row4col'], col), row)

    # Crouse's dual update once the shortest augmenting path is known.
    is_root = target_ids == s['root'][:, tf.newaxis]
    path_at_row = tf.gather(shortest, tf.clip_by_value(s['col4row'], 0,
                                                       num_queries - 1),
                            batch_dims=1)
    u_step = tf.where(is_root, min_val[:, tf.newaxis],
                      tf.where(rows_seen, min_val[:, tf.newaxis] - path_at_row,
                               0.0))
    u_new = tf.where(sink_found[:, tf.newaxis], s['u'] + u_step, s['u'])
    v_new = tf.where(sink_found[:, tf.newaxis] & cols_seen,
                     s['v'] - (min_val[:, tf.newaxis] - shortest), s['v'])

    s = dict(s, path=path, shortest=shortest, rows_seen=rows_seen,
             min_val=min_val, cols_seen=cols_seen, row=next_row, u=u_new,
             v=v_new, phase=tf.where(sink_found, _AUGMENT, s['phase']),
             cursor=tf.where(sink_found, col, s['cursor']))
    return s

  def augment_step(s):
    """Flips one edge of the augmenting path; at its end starts the next row."""
    active = tf.equal(s['phase'], _AUGMENT)
    col = s['cursor']
    row = _take(s['path'], col)
    row4col = _set_at(s['row4col'], col, row, active)
    previous_col = _take(s['col4row'], row)
    col4row = _set_at(s['col4row'], row, col, active)
    row_done = active & tf.equal(row, s['root'])
    inserted = s['inserted'] + tf.cast(row_done, tf.int32)
    finished = row_done & (inserted >= num_pending)
    restart = row_done & ~finished
    next_root = tf.where(restart, _take(order, inserted), s['root'])
    phase = tf.where(finished, _DONE,
                     tf.where(restart, _SEARCH, s['phase']))
    reset = restart[:, tf.newaxis]
    return dict(
        s, phase=phase, inserted=inserted, root=next_root,
        row=tf.where(restart, next_root, s['row']),
        cursor=tf.where(active & ~row_done, previous_col, s['cursor']),
        min_val=tf.where(restart, 0.0, s['min_val']),
        row4col=row4col, col4row=col4row,
        shortest=tf.where(reset, inf, s['shortest']),
        rows_seen=s['rows_seen'] & ~reset,
        cols_seen=s['cols_seen'] & ~reset)

  def cond(iteration, s):
    del iteration
    return tf.reduce_any(tf.not_equal(s['phase'], _DONE))

  def body(iteration, s):
    return iteration + 1, augment_step(search_step(s))

  # A safety cap only: the loop provably ends within max_b k_b^2 <= T^2
  # iterations (module docstring); this cap also bounds every Dijkstra search
  # by Q steps and every augmentation by T steps per target.
  max_iterations = num_targets * (num_targets + num_queries) + num_targets
  num_iterations, state = tf.while_loop(
      cond, body, (tf.constant(0, tf.int32), state),
      maximum_iterations=max_iterations)
  return Assignment(
      query_for_target=state['col4row'],
      target_for_query=state['row4col'],
      target_duals=state['u'],
      query_duals=state['v'],
      num_iterations=num_iterations)
