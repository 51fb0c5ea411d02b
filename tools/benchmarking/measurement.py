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

"""Timing and peak memory of the model benchmark's steps.

Timing: the first call of every implementation (tracing, XLA compilation) is
reported separately; then `repeats` rounds run every implementation once per
round (the order alternates). Memory: one more call per implementation; on a
CPU `RssPeak` samples the process's resident set and TF's allocator
statistics are read, on a GPU the allocators' peak statistics.
"""
import ctypes
import dataclasses
import gc
import os
import statistics
import threading
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional

from absl import logging
import tensorflow as tf

from benchmarking import models

_MIB = 2.0**20


class RssPeak:
  """Peak resident-set increase of this process during a `with` block.

  A thread reads `/proc/self/statm` every `interval` seconds. Before the
  block, `malloc_trim(0)` hands freed heap pages back to the system, so
  memory the block reuses from earlier calls counts too.
  """

  def __init__(self, interval: float = 0.001):
    self._interval = interval
    self._page = os.sysconf('SC_PAGE_SIZE')
    self._stop = threading.Event()
    self._thread = None
    self.baseline = self.peak = 0

  def _rss(self) -> int:
    with open('/proc/self/statm', 'rb') as f:
      return int(f.read().split()[1]) * self._page

  def _sample(self):
    while not self._stop.is_set():
      self.peak = max(self.peak, self._rss())
      time.sleep(self._interval)

  def __enter__(self):
    gc.collect()
    try:
      ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:
      pass
    self.baseline = self.peak = self._rss()
    self._thread = threading.Thread(target=self._sample, daemon=True)
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.peak = max(self.peak, self._rss())

  @property
  def increase(self) -> int:
    return self.peak - self.baseline


@dataclasses.dataclass
class ImplResult:
  """One implementation's measurements of one workload."""
  status: str = 'ok'
  first_call_s: Optional[float] = None
  times_s: List[float] = dataclasses.field(default_factory=list)
  peak_memory_mib: Optional[float] = None
  memory_method: str = ''
  rss_increase_mib: Optional[float] = None

  @property
  def ok(self) -> bool:
    return self.status == 'ok' and bool(self.times_s)

  @property
  def min_s(self) -> Optional[float]:
    return min(self.times_s) if self.ok else None

  @property
  def median_s(self) -> Optional[float]:
    return statistics.median(self.times_s) if self.ok else None


@dataclasses.dataclass
class Case:
  """One workload and its results per implementation."""
  table: str
  kind: str  # 'forward' or 'train'
  batch: int
  image_size: int
  num_queries: int
  num_targets: Optional[int]
  results: Dict[str, ImplResult] = dataclasses.field(default_factory=dict)
  forward_gflops_per_image: Optional[float] = None

  @property
  def key(self):
    return (self.kind, self.batch, self.image_size, self.num_queries,
            self.num_targets)

  def to_json(self, peak_tflops: Optional[float]) -> Dict[str, Any]:
    out = {k: getattr(self, k) for k in (
        'table', 'kind', 'batch', 'image_size', 'num_queries', 'num_targets',
        'forward_gflops_per_image')}
    out['results'] = {}
    for impl, result in self.results.items():
      entry = dataclasses.asdict(result)
      entry.update(min_s=result.min_s, median_s=result.median_s)
      if result.ok:
        entry['images_per_s'] = self.batch / result.median_s
        flops = self.step_flops()
        if flops:
          entry['achieved_tflops'] = flops / result.median_s / 1e12
          if peak_tflops:
            entry['fraction_of_peak'] = (entry['achieved_tflops'] /
                                         peak_tflops)
      out['results'][impl] = entry
    return out

  def step_flops(self) -> Optional[float]:
    """FLOPs of one step: counted forward; train step estimated as 3x."""
    if not self.forward_gflops_per_image:
      return None
    factor = 3.0 if self.kind == 'train' else 1.0
    return factor * self.forward_gflops_per_image * 1e9 * self.batch


# TensorFlow's CPU allocator keeps statistics only with its oneDNN
# optimizations on; with TF_ENABLE_ONEDNN_OPTS=0 `reset_memory_stats('CPU:0')`
# raises.
NO_CPU_ALLOCATOR_STATISTICS = (
    'not measured: TensorFlow\'s CPU allocator keeps no statistics with '
    'oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)')


def allocator_keeps_statistics(device: str) -> bool:
  """Whether TF's allocator of `device` reports its peak memory."""
  try:
    tf.config.experimental.reset_memory_stats(device)
  except ValueError:
    return False
  return True


def tf_allocator_peak(device: str, fn: Callable[[], Any]) -> float:
  """Peak bytes of TF's allocator on `device` during `fn`, over the start.

  The caller checks `allocator_keeps_statistics(device)` first.
  """
  tf.config.experimental.reset_memory_stats(device)
  before = tf.config.experimental.get_memory_info(device)['current']
  fn()
  return tf.config.experimental.get_memory_info(device)['peak'] - before


def _memory_call(env, impl: str, fn: Callable[[], Any],
                 result: ImplResult):
  """Runs `fn` once and records its peak memory increase in `result`.

  GPU: the allocators' peak statistics. CPU: TF's allocator statistics for
  TF (its oneDNN CPU allocator pools memory, BFC, and never returns it, so
  its resident set stops growing after the first call) and the resident set
  for PyTorch (plain malloc, which `malloc_trim` empties); the RSS increase
  is recorded for TF too. With oneDNN off TF's CPU allocator keeps no
  statistics: TF's peak is then None and `memory_method` says why.
  """
  if env.device == 'gpu':
    if impl == models.TORCH:
      torch = env.fw.torch
      torch.cuda.synchronize()
      torch.cuda.reset_peak_memory_stats()
      before = torch.cuda.memory_allocated()
      fn()
      peak = torch.cuda.max_memory_allocated() - before
      result.memory_method = 'torch.cuda.max_memory_allocated'
    else:
      peak = tf_allocator_peak('GPU:0', fn)
      result.memory_method = 'tf.config.experimental.get_memory_info (GPU)'
    result.peak_memory_mib = peak / _MIB
    return
  with RssPeak() as rss:
    if impl == models.TORCH:
      fn()
      result.memory_method = 'RSS sampler'
    elif allocator_keeps_statistics('CPU:0'):
      result.peak_memory_mib = tf_allocator_peak('CPU:0', fn) / _MIB
      result.memory_method = 'tf.config.experimental.get_memory_info (CPU)'
    else:
      fn()
      result.memory_method = NO_CPU_ALLOCATOR_STATISTICS
  result.rss_increase_mib = rss.increase / _MIB
  if impl == models.TORCH:
    result.peak_memory_mib = result.rss_increase_mib


def measure(env, case: Case,
            fns: Dict[str, Callable[[], Any]],
            first_calls: bool = True) -> Dict[str, Any]:
  """Times `fns` interleaved; fills `case.results`; returns first outputs.

  Args:
    env: the run (`model_benchmark.Env`).
    case: the workload; its results are filled in.
    fns: {implementation: step}.
    first_calls: run (and report) a first call before the timed rounds;
      False when the steps were already called with these shapes.

  Returns:
    {implementation: output of its first call} (empty without first calls).
  """
  outputs = {}
  for impl in fns:
    case.results[impl] = ImplResult()

  def call(impl):
    try:
      start = time.perf_counter()
      output = fns[impl]()
      return time.perf_counter() - start, output
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('%s failed on %s', impl, case.key)
      case.results[impl].status = f'error: {type(e).__name__}: {e}'[:200]
      return None, None

  def live():
    return [i for i in fns if case.results[i].status == 'ok']

  if first_calls:
    for impl in live():
      seconds, outputs[impl] = call(impl)
      case.results[impl].first_call_s = seconds
  for round_index in range(env.repeats):
    order = live() if round_index % 2 == 0 else live()[::-1]
    for impl in order:
      seconds, _ = call(impl)
      if seconds is not None:
        case.results[impl].times_s.append(seconds)
  for impl in live():
    try:
      _memory_call(env, impl, fns[impl], case.results[impl])
    except Exception as e:  # pylint: disable=broad-except
      case.results[impl].status = f'error: {type(e).__name__}: {e}'[:200]
  logging.info('%s: %s', case.key, {
      i: (r.min_s, r.median_s, r.peak_memory_mib, r.status)
      for i, r in case.results.items()})
  return outputs

