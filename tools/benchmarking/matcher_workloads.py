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

"""The matcher benchmark's workloads and solvers (tools/benchmark_matcher.py).

Random cost batches of each workload, scipy's optimum of every image, the
worst gap of a solver's matchings from it, and the three solvers timed:
this project's shortest-augmenting-path solver under XLA, a Python loop of
scipy calls and Model Garden's DETR matcher (on chunks, within a budget).
"""
import time
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

import numpy as np
from official.projects.detr.ops import matchers
from scipy import optimize
import tensorflow as tf

from projects.maskformer.ops import linear_assignment

CASES = {
    'full': 'uniform costs, all targets valid',
    'coco20': 'uniform costs, k ~ U{0..20} valid targets per image',
    'coco60': 'uniform costs, k ~ U{0..60} valid targets per image',
    'rank1': 'rank-1 outer products (worst case), all targets valid',
}


def make_workload(case: str, batch_size: int, num_queries: int,
                  rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
  """A float32 [B, Q, Q] cost batch and its bool [B, Q] target validity.

  Args:
    case: One of `CASES`.
    batch_size: B.
    num_queries: Q (= T).
    rng: The random generator.

  Returns:
    (cost, target_valid).

  Raises:
    ValueError: for an unknown case.
  """
  shape = (batch_size, num_queries, num_queries)
  valid = np.ones((batch_size, num_queries), bool)
  if case == 'full':
    cost = rng.random(shape)
  elif case in ('coco20', 'coco60'):
    cost = rng.random(shape)
    limit = min(int(case[4:]), num_queries)
    counts = rng.integers(0, limit + 1, size=batch_size)
    valid = np.arange(num_queries)[np.newaxis, :] < counts[:, np.newaxis]
  elif case == 'rank1':
    cost = (rng.random((batch_size, num_queries, 1)) *
            rng.random((batch_size, 1, num_queries)))
  else:
    raise ValueError(f'--cases: unknown workload {case!r}; choose from '
                     f'{", ".join(CASES)}.')
  return cost.astype(np.float32), valid


def optimal_totals(cost: np.ndarray, valid: np.ndarray) -> List[float]:
  """scipy's optimum of each image's valid targets (float64)."""
  totals = []
  for image_cost, image_valid in zip(cost, valid):
    sub = image_cost[:, image_valid].astype(np.float64)
    rows, cols = optimize.linear_sum_assignment(sub)
    totals.append(sub[rows, cols].sum())
  return totals


def worst_gap(cost: np.ndarray, valid: np.ndarray,
              query_for_target: np.ndarray, optima: List[float]) -> float:
  """Largest (ours - optimum) / (1 + sum |matched|) over the images given."""
  gaps = []
  for b, optimum in enumerate(optima[:len(query_for_target)]):
    targets = np.nonzero(valid[b])[0]
    queries = query_for_target[b][targets]
    if np.any(queries < 0) or len(set(queries.tolist())) != len(queries):
      return float('inf')
    matched = cost[b][queries, targets].astype(np.float64)
    gaps.append((matched.sum() - optimum) / (1.0 + np.abs(matched).sum()))
  return max(gaps, default=0.0)


def time_runs(run: Callable[[], None], repeats: int) -> List[float]:
  """Wall-clock seconds of `repeats` calls of `run`."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return times


def bench_ours(cost: np.ndarray, valid: np.ndarray, repeats: int
               ) -> Dict[str, object]:
  """This solver under XLA: compile time, run times, iterations, result."""
  solve = tf.function(linear_assignment.linear_sum_assignment,
                      jit_compile=True)
  cost_t, valid_t = tf.constant(cost), tf.constant(valid)
  start = time.perf_counter()
  result = solve(cost_t, valid_t)
  query_for_target = result.query_for_target.numpy()
  first_call = time.perf_counter() - start
  times = time_runs(lambda: solve(cost_t, valid_t).query_for_target.numpy(),
                    repeats)
  return {'first_call_s': first_call, 'times': times,
          'iterations': int(result.num_iterations),
          'query_for_target': query_for_target}


def bench_scipy(cost: np.ndarray, valid: np.ndarray, repeats: int
                ) -> List[float]:
  """A Python loop of scipy calls over the images' valid targets."""
  subs = [c[:, v].astype(np.float64) for c, v in zip(cost, valid)]
  return time_runs(lambda: [optimize.linear_sum_assignment(s) for s in subs],
                   repeats)


def bench_detr(cost: np.ndarray, valid: np.ndarray, chunk: int,
               budget_s: float) -> Tuple[Optional[float], int, np.ndarray]:
  """DETR's cover matcher on chunks until the budget is spent.

  Args:
    cost: A float32 [B, Q, Q] cost batch.
    valid: A bool [B, Q] target validity.
    chunk: Matrices per call.
    budget_s: No chunk starts after this many seconds.

  Returns:
    (seconds per batch extrapolated from the chunks done or None if none ran,
    matrices done, int [done, Q] query-for-target of the matrices done).
  """
  match = tf.function(matchers.hungarian_matching)
  # Invalid target columns get a constant: every perfect matching pays it
  # equally often, so the optimum on the valid targets is unchanged.
  square = np.where(valid[:, np.newaxis, :], cost, 0.0).astype(np.float32)
  match(tf.zeros_like(square[:chunk]))  # trace (instantly solved) untimed
  done, elapsed, results = 0, 0.0, []
  while done < len(square) and elapsed < budget_s:
    batch = tf.constant(square[done:done + chunk])
    start = time.perf_counter()
    _, assignment = match(batch)
    assignment = assignment.numpy()  # [n, workers = queries, jobs = targets]
    elapsed += time.perf_counter() - start
    results.append(np.where(assignment.any(axis=1),
                            np.argmax(assignment, axis=1), -1))
    done += len(assignment)
  if not done:
    return None, 0, np.zeros((0, cost.shape[2]), np.int32)
  return elapsed * len(square) / done, done, np.concatenate(results)
