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
markdown table. Exits non-zero if a solver is not optimal. The workloads and
solvers are in `tools/benchmarking/matcher_workloads.py`.

Example:
  python tools/benchmark_matcher.py --cases=full,coco20 --repeats=5
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from benchmarking import matcher_workloads

_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size', 64, 'Images per batch (cost matrices per solver call).',
    lower_bound=1)
_NUM_QUERIES = flags.DEFINE_integer(
    'num_queries', 100, 'Queries Q per image; also the number of target slots '
    'T (the DETR matcher needs square matrices).', lower_bound=1)
_CASES = flags.DEFINE_list(
    'cases', list(matcher_workloads.CASES), 'Workloads to run, any of: ' +
    ', '.join(f'{name} ({text})'
              for name, text in matcher_workloads.CASES.items()) + '.')
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


def _ms(seconds: float) -> str:
  return f'{seconds * 1e3:,.1f}'


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  unknown = [case for case in _CASES.value
             if case not in matcher_workloads.CASES]
  if unknown:
    raise app.UsageError(f'--cases: unknown workload(s) {", ".join(unknown)}; '
                         f'choose from {", ".join(matcher_workloads.CASES)}.')
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
    cost, valid = matcher_workloads.make_workload(case, batch_size,
                                                  num_queries, rng)
    optima = matcher_workloads.optimal_totals(cost, valid)
    ours = matcher_workloads.bench_ours(cost, valid, _REPEATS.value)
    scipy_times = matcher_workloads.bench_scipy(cost, valid, _REPEATS.value)
    ours_gap = matcher_workloads.worst_gap(cost, valid,
                                           ours['query_for_target'], optima)
    detr_cell, detr_gap_cell = 'skipped', '-'
    if _DETR_BUDGET_S.value > 0:
      detr_s, detr_done, detr_matching = matcher_workloads.bench_detr(
          cost, valid, _DETR_CHUNK.value, _DETR_BUDGET_S.value)
      detr_gap = matcher_workloads.worst_gap(cost, valid, detr_matching, optima)
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

