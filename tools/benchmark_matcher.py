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

"""Benchmarks the in-graph matcher against scipy and the DETR matcher.

In one run on the same machine, for each workload (a batch of [Q, T] costs
with some valid targets per image) it times:

* this project's shortest-augmenting-path solver
  (`projects.maskformer.ops.linear_assignment`) under XLA (`jit_compile`);
* a Python loop over `scipy.optimize.linear_sum_assignment` on each image's
  valid targets;
* Model Garden's DETR matcher
  (`official.projects.detr.ops.matchers.hungarian_matching`, graph mode, its
  fastest here) on square [Q, Q] matrices whose invalid target columns hold a
  constant (which leaves the optimum unchanged). It is about 100x slower, so it
  runs on chunks of the batch until a time budget is spent and the batch time
  is extrapolated from the chunks done.

It checks every solver's matchings against scipy's optimum and prints a
markdown table. Exits non-zero if a solver is not optimal.

Example:
  python tools/benchmark_matcher.py --cases=full,coco20 --repeats=5
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
import time
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from absl import app
from absl import flags
from absl import logging
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

_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size', 64, 'Images per batch (cost matrices per solver call).',
    lower_bound=1)
_NUM_QUERIES = flags.DEFINE_integer(
    'num_queries', 100, 'Queries Q per image; also the number of target slots '
    'T (the DETR matcher needs square matrices).', lower_bound=1)
_CASES = flags.DEFINE_list(
    'cases', list(CASES), 'Workloads to run, any of: ' + ', '.join(
        f'{name} ({text})' for name, text in CASES.items()) + '.')
_REPEATS = flags.DEFINE_integer(
    'repeats', 5, 'Timed runs per solver after one warm-up; the table shows '
    'the minimum and the median.', lower_bound=1)
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the random costs.')
_DETR_CHUNK = flags.DEFINE_integer(
    'detr_chunk', 2, 'Matrices per DETR matcher call.', lower_bound=1)
_DETR_BUDGET_S = flags.DEFINE_float(
    'detr_budget_s', 30.0, 'Wall-clock seconds per workload after which no '
    'further DETR chunk is started (0 skips the DETR matcher). One call cannot '
    'be interrupted, so a workload may overrun by one chunk.', lower_bound=0.0)
_GAP_TOLERANCE = flags.DEFINE_float(
    'gap_tolerance', 1e-5, 'A matching counts as optimal when its cost is '
    'within this times (1 + sum |matched costs|) of scipy\'s optimum.',
    lower_bound=0.0)


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


def _ms(seconds: float) -> str:
  return f'{seconds * 1e3:,.1f}'


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  unknown = [case for case in _CASES.value if case not in CASES]
  if unknown:
    raise app.UsageError(f'--cases: unknown workload(s) {", ".join(unknown)}; '
                         f'choose from {", ".join(CASES)}.')
  rng = np.random.default_rng(_SEED.value)
  batch_size, num_queries = _BATCH_SIZE.value, _NUM_QUERIES.value
  print(f'Machine: {os.cpu_count()} CPUs, load average '
        f'{", ".join(f"{x:.2f}" for x in os.getloadavg())} at start; '
        f'TensorFlow {tf.__version__}; B={batch_size}, Q=T={num_queries}; '
        f'min / median of {_REPEATS.value} warm runs.\n')
  print('| workload | valid targets per image | ours, XLA (ms) | '
        'loop iterations | first call incl. compile (s) | scipy loop (ms) | '
        'DETR matcher (ms) | worst gap ours / DETR |')
  print('|---|---|---|---|---|---|---|---|')
  failures = []
  for case in _CASES.value:
    cost, valid = make_workload(case, batch_size, num_queries, rng)
    optima = optimal_totals(cost, valid)
    ours = bench_ours(cost, valid, _REPEATS.value)
    scipy_times = bench_scipy(cost, valid, _REPEATS.value)
    ours_gap = worst_gap(cost, valid, ours['query_for_target'], optima)
    detr_cell, detr_gap_cell = 'skipped', '-'
    if _DETR_BUDGET_S.value > 0:
      detr_s, detr_done, detr_matching = bench_detr(
          cost, valid, _DETR_CHUNK.value, _DETR_BUDGET_S.value)
      detr_gap = worst_gap(cost, valid, detr_matching, optima)
      detr_cell = _ms(detr_s)
      if detr_done < batch_size:
        detr_cell = f'~{detr_cell} (extrapolated from {detr_done}/{batch_size})'
      detr_gap_cell = f'{detr_gap:.1e}'
      if detr_gap > _GAP_TOLERANCE.value:
        failures.append(f'DETR matcher not optimal on {case}: gap {detr_gap}')
    if ours_gap > _GAP_TOLERANCE.value:
      failures.append(f'linear_assignment not optimal on {case}: gap '
                      f'{ours_gap}')
    counts = valid.sum(axis=1)
    times = ours['times']
    print(f'| {case} | {counts.min()}-{counts.max()} (mean {counts.mean():.0f})'
          f' | {_ms(min(times))} / {_ms(float(np.median(times)))} | '
          f'{ours["iterations"]} | {ours["first_call_s"]:.2f} | '
          f'{_ms(min(scipy_times))} / {_ms(float(np.median(scipy_times)))} | '
          f'{detr_cell} | {ours_gap:.1e} / {detr_gap_cell} |', flush=True)
  if failures:
    for failure in failures:
      logging.error(failure)
    raise SystemExit(1)


if __name__ == '__main__':
  cli.run(main)
