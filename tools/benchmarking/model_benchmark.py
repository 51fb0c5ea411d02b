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

"""The model benchmark's run: its settings and the workloads it measures.

`Env` holds the settings (from the flags of tools/benchmark.py) and the
run's state: the models of each query count and the measured cases.
`run_workloads` measures the main table (forward at each batch size, one
train step) and the scaling with the image size, the queries and the
targets per image; `parity` compares the TF outputs with PyTorch's.
"""
import os
import platform
import time
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from absl import app
from absl import logging
import numpy as np
import tensorflow as tf

from benchmarking import measurement
from benchmarking import models
from benchmarking import synthetic_inputs
from benchmarking import tf_workloads
from benchmarking import torch_workloads


class Env:
  """Settings and shared state of one benchmark run."""

  def __init__(self, fw: torch_workloads.Frameworks, options: Any):
    """Reads the run's settings.

    Args:
      fw: the PyTorch side (possibly not installed).
      options: the flag values of tools/benchmark.py (absl's `flags.FLAGS`
        or any object with attributes of the same names); None or empty
        values take the defaults, which depend on `quick`.

    Raises:
      app.UsageError: unknown implementations, or none left to run; or
        Mask2Former without deep supervision.
    """
    quick = options.quick
    self.fw = fw
    self.quick = quick
    self.architecture = options.architecture
    self.deep_supervision = _deep_supervision(self.architecture,
                                              options.deep_supervision)
    self.device = options.device
    self.precision = 'bfloat16' if self.device == 'gpu' else 'float32'
    self.arch = (models.TINY_ARCHS[self.architecture] if quick else
                 models.experiment_arch(self.architecture))
    self.seed = options.seed
    self.repeats = options.repeats or (1 if quick else 3)
    self.image_size = options.image_size or (64 if quick else 512)
    self.num_queries = options.num_queries or (8 if quick else 100)
    self.forward_batches = _ints(options.forward_batches,
                                 [1, 2] if quick else [1, 8])
    self.train_batch = options.train_batch
    self.train_targets = (options.train_targets if options.train_targets
                          is not None else (4 if quick else 10))
    self.sizes = _ints(options.sizes, [64, 96] if quick else
                       [256, 512, 768, 1024])
    self.queries = _ints(options.queries, [8, 16] if quick else [50, 100, 200])
    self.targets = _ints(options.targets, [0, 4] if quick else [0, 10, 50, 100])
    self.num_slots = max([self.arch.max_segments, self.train_targets] +
                         self.targets)
    self.threads = options.threads or os.cpu_count()
    unknown = set(options.implementations) - set(models.IMPLEMENTATIONS)
    if unknown:
      raise app.UsageError(f'unknown --implementations {sorted(unknown)}')
    self.impls = [i for i in models.IMPLEMENTATIONS
                  if i in options.implementations]
    if not fw.available:
      self.impls = [i for i in self.impls if i != models.TORCH]
    if not self.impls:
      raise app.UsageError('no implementation left to run')
    # The forward scaling tables compare XLA with PyTorch (or what is left
    # of them); the target scaling has every implementation (the train
    # step's CPU default is 'tf_graph').
    self.sweep_impls = ([i for i in (models.TF_XLA, models.TORCH)
                         if i in self.impls] or self.impls[:1])
    self.peak_tflops = None
    self.device_name = platform.processor() or 'CPU'
    self.tf_device = '/CPU:0'
    self.tf_dtype = tf.float32
    self.torch_device = 'cpu'
    self.pairs: Dict[int, models.ModelPair] = {}
    self.cases: Dict[Any, measurement.Case] = {}
    self.parity: Dict[str, Any] = {}
    self.flop_check: Dict[str, Any] = {}

  # Device helpers used by the PyTorch steps.
  def autocast(self):
    torch = self.fw.torch
    if self.device == 'gpu':
      return torch.autocast(device_type='cuda', dtype=torch.bfloat16)
    return torch.autocast(device_type='cpu', enabled=False)

  def synchronize(self):
    if self.device == 'gpu':
      self.fw.torch.cuda.synchronize()

  def train_image_dtype(self, pair: models.ModelPair) -> tf.DType:
    """The experiment's training images: uint8, or normalized floats."""
    dtype = tf.dtypes.as_dtype(pair.experiment.task.train_data.parser.dtype)
    return dtype if dtype == tf.uint8 else self.tf_dtype

  def pair(self, num_queries: int) -> models.ModelPair:
    if num_queries not in self.pairs:
      start = time.perf_counter()
      self.pairs[num_queries] = models.build_pair(self, num_queries)
      logging.info('Built the models with %d queries in %.1f s: %s',
                   num_queries, time.perf_counter() - start,
                   self.pairs[num_queries].conversion)
    return self.pairs[num_queries]


def _deep_supervision(architecture: str, requested: Optional[bool]) -> bool:
  """Whether the train steps supervise every head (--deep_supervision).

  MaskFormer: off unless requested. Mask2Former: always on (its
  `transformers` port has no other mode).

  Raises:
    app.UsageError: --nodeep_supervision with Mask2Former.
  """
  if architecture == models.MASK2FORMER:
    if requested is False:
      raise app.UsageError(
          '--nodeep_supervision is not supported with '
          '--architecture=mask2former: Mask2Former always trains with deep '
          'supervision (every head, on both sides)')
    return True
  return bool(requested)


def _ints(values: Optional[Sequence[str]], default: List[int]) -> List[int]:
  return [int(v) for v in values] if values else list(default)


def run_forward(env: Env, table: str, batch: int, size: int,
                num_queries: int, impls: Sequence[str]) -> measurement.Case:
  """Measures (or reuses) a forward workload."""
  case = measurement.Case(table, 'forward', batch, size, num_queries, None)
  if case.key in env.cases:
    return env.cases[case.key]
  pair = env.pair(num_queries)
  workload = synthetic_inputs.make_workload(env.seed + batch * 7919 + size,
                                            batch, size)
  images = tf_workloads.tf_batch(workload, env.num_slots, env.tf_dtype)
  fns = {}
  for impl in impls:
    if impl in (models.TF_XLA, models.TF_GRAPH):
      fns[impl] = tf_workloads.tf_forward_fn(env, pair, impl == models.TF_XLA,
                                             images)
    elif impl == models.TORCH and pair.torch_model is not None:
      pixels, _, _ = torch_workloads.torch_batch(env.fw.torch, workload,
                                                 env.torch_device)
      fns[impl] = torch_workloads.torch_forward_fn(env, pair, pixels)
  outputs = measurement.measure(env, case, fns)
  traced = [i for i in (models.TF_XLA, models.TF_GRAPH) if i in fns and
            case.results[i].first_call_s is not None]
  if traced and batch == 1:
    flops = tf_workloads.forward_flops(pair.forward_fns[traced[0]], images)
    case.forward_gflops_per_image = flops / 1e9 if flops else None
  elif batch > 1:
    single = env.cases.get(('forward', 1, size, num_queries, None))
    if single:
      case.forward_gflops_per_image = single.forward_gflops_per_image
  if (not env.parity and models.TORCH in outputs and
      outputs[models.TORCH] is not None):
    env.parity = parity(env, case, outputs)
  env.cases[case.key] = case
  return case


def run_train(env: Env, table: str, batch: int, size: int, num_queries: int,
              num_targets: int, impls: Sequence[str]) -> measurement.Case:
  """Measures (or reuses) a train-step workload."""
  case = measurement.Case(table, 'train', batch, size, num_queries,
                          num_targets)
  if case.key in env.cases:
    return env.cases[case.key]
  pair = env.pair(num_queries)
  workload = synthetic_inputs.make_workload(
      env.seed + batch * 7919 + size + num_targets, batch, size, num_targets,
      env.arch.num_classes)
  tf_inputs = tf_workloads.tf_batch(workload, env.num_slots,
                                    env.train_image_dtype(pair))
  fns = {}
  for impl in impls:
    if impl in (models.TF_XLA, models.TF_GRAPH):
      fns[impl] = tf_workloads.tf_train_fn(env, pair, impl == models.TF_XLA,
                                           tf_inputs)
    elif impl == models.TORCH and pair.torch_model is not None:
      fns[impl] = torch_workloads.torch_train_fn(
          env, pair, *torch_workloads.torch_batch(env.fw.torch, workload,
                                                  env.torch_device))
  # Same shapes as an earlier train workload: nothing to trace or compile.
  warmed = any(c.kind == 'train' and c.batch == batch and
               c.image_size == size and c.num_queries == num_queries
               for c in env.cases.values())
  measurement.measure(env, case, fns, first_calls=not warmed)
  forward = env.cases.get(('forward', 1, size, num_queries, None))
  if forward:
    case.forward_gflops_per_image = forward.forward_gflops_per_image
  env.cases[case.key] = case
  return case


def parity(env: Env, case: measurement.Case, outputs) -> Dict[str, Any]:
  """Largest differences of the TF outputs from the PyTorch ones."""
  reference = outputs[models.TORCH]
  result = {
      'workload': f'forward, batch {case.batch}, {case.image_size} x '
                  f'{case.image_size}, {case.num_queries} queries, '
                  f'{env.precision}, eval mode',
      'pred_logits_max_abs': float(np.abs(reference['pred_logits']).max()),
      'pred_masks_max_abs': float(np.abs(reference['pred_masks']).max()),
  }
  for impl in (models.TF_XLA, models.TF_GRAPH):
    if outputs.get(impl) is None:
      continue
    for key in ('pred_logits', 'pred_masks'):
      result[f'{impl}_{key}_max_abs_diff'] = float(
          np.abs(outputs[impl][key].astype(np.float64) -
                 reference[key].astype(np.float64)).max())
  return result


def run_workloads(env: Env) -> Dict[str, List[Tuple]]:
  """Measures the main table's workloads and the scaling sweeps.

  Args:
    env: the run; its cases, parity and FLOP check are filled in.

  Returns:
    The case keys of each scaling table ('sizes', 'queries', 'targets').
  """
  main_impls = env.impls
  sweep_impls = env.sweep_impls
  for batch in env.forward_batches:
    run_forward(env, 'main', batch, env.image_size, env.num_queries,
                main_impls)
  run_train(env, 'main', env.train_batch, env.image_size, env.num_queries,
            env.train_targets, main_impls)
  env.flop_check = torch_workloads.torch_flop_check(env, env.image_size,
                                                    env.num_queries)
  sweeps = {'sizes': [], 'queries': [], 'targets': []}
  if sweep_impls:
    for num_targets in env.targets:
      sweeps['targets'].append(run_train(
          env, 'targets', env.train_batch, env.image_size, env.num_queries,
          num_targets, main_impls).key)
    for size in env.sizes:
      sweeps['sizes'].append(run_forward(
          env, 'sizes', 1, size, env.num_queries, sweep_impls).key)
    for num_queries in env.queries:
      sweeps['queries'].append(run_forward(
          env, 'queries', 1, env.image_size, num_queries, sweep_impls).key)
  return sweeps
