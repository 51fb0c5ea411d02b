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

"""Benchmarks this project's TF MaskFormer against the PyTorch port.

In one process and one run it times, side by side and with the same weights:

* 'tf_xla': our model / train step under `tf.function(jit_compile=True)`;
* 'tf_graph': the same under a plain `tf.function`, as Model Garden's trainer
  runs it; on a CPU the train step then compiles only its matcher and loss
  with XLA (`task.xla_compile` 'auto': the CPU default);
* 'torch': `transformers`' `MaskFormerForInstanceSegmentation` in eager
  PyTorch (the port that matches the original's forward pass, final-layer
  matching and loss; reference_semantics.md section 11).

The architecture is the registered experiment `maskformer_ade20k_semantic_r50`
(ResNet-50, FPN pixel decoder, 150 classes; queries configurable). The
`transformers` model is built from its own `ResNetConfig` / DETR decoder
config, saved with safetensors and loaded into the TF model by the project's
strict converter (`checkpoints/converter.py`); the forward outputs of both
are compared (the parity line).

Workloads (defaults): forward at 512 x 512, batch 1 and 8; a full train step
(forward, matching, loss, backward, optimizer update) at batch 2; and scaling
of time and peak memory with the image size and the number of queries
(forward, batch 1, 'tf_xla' against 'torch') and with the number of targets
per image (train step). The TF train step is the project's task
(`MaskFormerSegmentationTask.train_step`, its AdamW with whole-model
clipping); the PyTorch step is the port's own matcher and loss, backward,
whole-model `clip_grad_norm_` and `torch.optim.AdamW`.

Timing: the first call of every implementation (tracing, XLA compilation) is
reported separately and excluded; then `--repeats` rounds run every
implementation once per round (the order alternates), and the tables show
the minimum and the median. Memory: one more call per implementation; on CPU
a thread samples the process's resident set (`/proc/self/statm`) every
millisecond, after `malloc_trim(0)` returned freed heap pages, and the peak
increase over the RSS just before the call is reported; on a GPU the
allocators' peak statistics are used.

Results go to a JSON file and to this tool's own section of
docs/benchmarks.md (between HTML comment markers; the rest of the file is
kept). Without torch / transformers (the optional `benchmark` extra) only the
TF columns are measured.

Examples:
  python tools/benchmark.py                      # the full CPU benchmark
  python tools/benchmark.py --quick --markdown=/tmp/b.md --output_json=/tmp/b.json
  python tools/benchmark.py --device=gpu         # bfloat16 on a GPU
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
import ctypes
import dataclasses
import datetime
import gc
import importlib
import json
import platform
import shlex
import statistics
import tempfile
import threading
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from absl import app
from absl import flags
from absl import logging
import numpy as np
from official.core import config_definitions as cfg
from official.core import exp_factory
import tensorflow as tf
import tf_keras

from projects.maskformer.checkpoints import converter
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.modeling import resnet as resnet_lib
from projects.maskformer.reference import transformers_witness
from projects.maskformer.tasks import maskformer_segmentation

SECTION_BEGIN = '<!-- tools/benchmark.py: begin -->'
SECTION_END = '<!-- tools/benchmark.py: end -->'
EXPERIMENT = 'maskformer_ade20k_semantic_r50'
TF_XLA = 'tf_xla'
TF_GRAPH = 'tf_graph'
TORCH = 'torch'
IMPLEMENTATIONS = (TF_XLA, TF_GRAPH, TORCH)
IMPL_TITLES = {TF_XLA: 'TF XLA', TF_GRAPH: 'TF graph', TORCH: 'PyTorch'}
NOT_MEASURED_NO_GPU = 'not measured: no GPU'
# Dense bfloat16 tensor-core peaks (TFLOP/s) from the vendors' data sheets,
# for the fraction-of-peak column; `--peak_tflops` overrides.
GPU_PEAK_BF16_TFLOPS = {'H200': 989.0, 'H100': 989.0, 'A100': 312.0,
                        'L40S': 362.0, 'L4': 121.0, 'A10': 125.0}
_MIB = 2.0**20

_QUICK = flags.DEFINE_bool(
    'quick', False, 'Smoke test: a tiny architecture, tiny sizes and one '
    'repeat; writes nothing unless --markdown / --output_json are given.')
_OUTPUT_JSON = flags.DEFINE_string(
    'output_json', None, 'JSON results file; default '
    'docs/benchmark_results.json (none with --quick); empty: none.')
_MARKDOWN = flags.DEFINE_string(
    'markdown', None, 'Markdown file whose benchmark section is (re)written; '
    'default docs/benchmarks.md (none with --quick); empty: none.')
_DEVICE = flags.DEFINE_enum(
    'device', 'cpu', ['cpu', 'gpu'], 'Where to run. gpu: bfloat16 (Keras '
    "'mixed_bfloat16' policy, torch.autocast), images/s and the fraction of "
    'the peak FLOP/s.')
_SIZES = flags.DEFINE_list(
    'sizes', None, 'Image sizes of the size scaling (forward, batch 1); '
    'default 256,512,768,1024 (quick: 64,96).')
_QUERIES = flags.DEFINE_list(
    'queries', None, 'Query counts of the query scaling (forward, batch 1); '
    'default 50,100,200 (quick: 8,16).')
_TARGETS = flags.DEFINE_list(
    'targets', None, 'Targets per image of the target scaling (train step); '
    'default 0,10,50,100 (quick: 0,4).')
_REPEATS = flags.DEFINE_integer(
    'repeats', None, 'Timed rounds per workload after the first call; '
    'default 3 (quick: 1).', lower_bound=1)
_IMAGE_SIZE = flags.DEFINE_integer(
    'image_size', None, 'Image size of the main table and of the query and '
    'target scaling; default 512 (quick: 64).', lower_bound=32)
_NUM_QUERIES = flags.DEFINE_integer(
    'num_queries', None, 'Queries of the main table and of the size and '
    'target scaling; default 100 (quick: 8).', lower_bound=1)
_FORWARD_BATCHES = flags.DEFINE_list(
    'forward_batches', None, 'Batch sizes of the forward rows of the main '
    'table; default 1,8 (quick: 1,2).')
_TRAIN_BATCH = flags.DEFINE_integer(
    'train_batch', 2, 'Batch size of every train step.', lower_bound=1)
_TRAIN_TARGETS = flags.DEFINE_integer(
    'train_targets', None, 'Targets per image of the main train step; '
    'default 10 (quick: 4).', lower_bound=0)
_DEEP_SUPERVISION = flags.DEFINE_bool(
    'deep_supervision', False, 'Train with the auxiliary losses (the '
    "recipe; `transformers` then matches L sets where the original and we "
    'match L - 1). Default: final-layer losses only, equal work on both '
    'sides.')
_IMPLS = flags.DEFINE_list(
    'implementations', list(IMPLEMENTATIONS),
    'Implementations to run, any of ' + ', '.join(IMPLEMENTATIONS) + '.')
_THREADS = flags.DEFINE_integer(
    'threads', None, 'Intra-op threads of TF and torch.set_num_threads; '
    'default: the number of CPUs.', lower_bound=1)
_PEAK_TFLOPS = flags.DEFINE_float(
    'peak_tflops', None, 'The GPU peak bfloat16 TFLOP/s for the fraction-of-'
    'peak column (default: looked up from the device name).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the weights and inputs.')
_OMP_WAIT_POLICY = flags.DEFINE_string(
    'omp_wait_policy', 'PASSIVE', 'OMP_WAIT_POLICY for PyTorch\'s OpenMP '
    'threads, set before torch is imported unless the environment sets it; '
    'empty: the OpenMP default. With the default spin-waiting, a torch step '
    'on a CPU shared with other processes ran 2-8x slower and erratically '
    '(a spinning thread holds a core while its partner waits for one).')


# --------------------------------------------------------------------------
# Architecture and models.


@dataclasses.dataclass(frozen=True)
class Arch:
  """One MaskFormer architecture, for both frameworks."""
  name: str
  depths: Tuple[int, ...]
  base_width: int
  conv_dim: int
  mask_dim: int
  hidden_dim: int
  num_heads: int
  dim_feedforward: int
  num_decoder_layers: int
  num_classes: int
  max_segments: int


def experiment_arch() -> Arch:
  """The R50 architecture of the registered ADE20K semantic experiment."""
  config = exp_factory.get_exp_config(EXPERIMENT)
  model = config.task.model
  resnet = model.backbone.torch_resnet
  predictor = model.transformer_predictor
  if model.pixel_decoder.type != 'fpn':
    raise ValueError(f'{EXPERIMENT} does not use the FPN pixel decoder')
  return Arch(
      name=f'R{resnet.model_id} + FPN ({EXPERIMENT})',
      depths=tuple(resnet.depths or resnet_lib.RESNET_DEPTHS[resnet.model_id]),
      base_width=resnet.base_width,
      conv_dim=model.pixel_decoder.conv_dim,
      mask_dim=model.pixel_decoder.mask_dim,
      hidden_dim=predictor.hidden_dim, num_heads=predictor.num_heads,
      dim_feedforward=predictor.dim_feedforward,
      num_decoder_layers=predictor.num_decoder_layers,
      num_classes=model.num_classes,
      max_segments=config.task.train_data.parser.max_segments)


# `transformers` always uses GroupNorm(32, C): conv_dim 32 keeps it equal.
TINY_ARCH = Arch(name='tiny (quick mode)', depths=(1, 1, 1, 1), base_width=8,
                 conv_dim=32, mask_dim=32, hidden_dim=32, num_heads=2,
                 dim_feedforward=64, num_decoder_layers=2, num_classes=150,
                 max_segments=8)


def tf_experiment(arch: Arch, num_queries: int, deep_supervision: bool,
                  precision: str) -> cfg.ExperimentConfig:
  """The registered experiment with `arch` and `num_queries`."""
  config = exp_factory.get_exp_config(EXPERIMENT)
  model = config.task.model
  model.num_classes = arch.num_classes
  model.backbone.torch_resnet.depths = list(arch.depths)
  model.backbone.torch_resnet.base_width = arch.base_width
  model.pixel_decoder.conv_dim = arch.conv_dim
  model.pixel_decoder.mask_dim = arch.mask_dim
  model.pixel_decoder.num_groups = 32
  predictor = model.transformer_predictor
  predictor.hidden_dim = arch.hidden_dim
  predictor.num_heads = arch.num_heads
  predictor.dim_feedforward = arch.dim_feedforward
  predictor.num_decoder_layers = arch.num_decoder_layers
  predictor.num_queries = num_queries
  predictor.deep_supervision = deep_supervision
  config.runtime.mixed_precision_dtype = precision
  return config


class Frameworks:
  """The optional PyTorch side: None attributes when not installed."""

  def __init__(self):
    self.torch = self.transformers = self.safetensors_torch = None
    self.missing = ''
    if _OMP_WAIT_POLICY.value and 'OMP_WAIT_POLICY' not in os.environ:
      os.environ['OMP_WAIT_POLICY'] = _OMP_WAIT_POLICY.value
    try:
      # torch first: on a machine without the extra it is the one named.
      torch = importlib.import_module('torch')
      transformers = importlib.import_module('transformers')
      safetensors_torch = importlib.import_module('safetensors.torch')
    except ImportError as e:
      self.missing = (f'not measured: {e.name} is not installed (pip install '
                      '-e .[pytorch])')
      return
    self.torch, self.transformers = torch, transformers
    self.safetensors_torch = safetensors_torch

  @property
  def available(self) -> bool:
    return self.torch is not None


@dataclasses.dataclass
class ModelPair:
  """Both frameworks' models of one query count, with the same weights."""
  num_queries: int
  task: maskformer_segmentation.MaskFormerSegmentationTask
  experiment: cfg.ExperimentConfig
  tf_model: tf_keras.Model
  torch_model: Any = None
  conversion: str = ''
  forward_fns: Dict[str, Callable] = dataclasses.field(
      default_factory=dict)
  train_fns: Dict[str, Callable] = dataclasses.field(default_factory=dict)
  torch_optimizer: Any = None


def build_pair(env: 'Env', num_queries: int) -> ModelPair:
  """Builds both models and converts the PyTorch weights into the TF one."""
  experiment = tf_experiment(env.arch, num_queries, env.deep_supervision,
                             env.precision)
  task = maskformer_segmentation.MaskFormerSegmentationTask(experiment.task)
  tf_keras.utils.set_random_seed(env.seed)
  tf_model = task.build_model()
  pair = ModelPair(num_queries, task, experiment, tf_model)
  if not env.fw.available:
    pair.conversion = 'TF weights randomly initialized (no PyTorch model)'
    return pair
  torch = env.fw.torch
  torch.manual_seed(env.seed)
  # The port of the same architecture (reference_semantics.md section 11
  # lists how it differs; with `use_auxiliary_loss` off its forward computes
  # the final outputs only, the train step turns it on for
  # --deep_supervision). Its backbone BatchNorm is frozen by the train step.
  model = transformers_witness.build_port(experiment.task.model)
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, 'maskformer.safetensors')
    env.fw.safetensors_torch.save_file(
        {k: v.detach().contiguous() for k, v in model.state_dict().items()},
        path)
    summary = converter.convert_model(tf_model, path)
  pair.conversion = (f'{summary.num_tensors} `transformers` tensors '
                     f'({summary.naming} names) -> {summary.num_variables} TF '
                     f'variables, {len(summary.ignored)} ignored')
  pair.torch_model = model.to(env.torch_device)
  return pair


# --------------------------------------------------------------------------
# Synthetic inputs.


@dataclasses.dataclass
class Workload:
  """Framework-neutral inputs of one measurement.

  Attributes:
    pixels: a uint8 [B, H, W, 3] array of RGB pixels.
    segment_map: an int32 [B, H, W] array, per pixel the index of its target
      (-1 for none), or None for forward workloads.
    classes: an int32 [B, k] array, the class of every target.
  """
  pixels: np.ndarray
  segment_map: Optional[np.ndarray] = None
  classes: Optional[np.ndarray] = None


def make_workload(seed: int, batch: int, size: int,
                  num_targets: Optional[int] = None,
                  num_classes: int = 150) -> Workload:
  """Random pixels and, for training, `num_targets` segments per image.

  The segments are the Voronoi cells of `num_targets` random seed pixels
  (every one non-empty, covering the image); their classes are distinct.
  """
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
  if num_targets is None:
    return Workload(pixels)
  segment_map = np.full((batch, size, size), -1, np.int32)
  classes = np.zeros((batch, num_targets), np.int32)
  if num_targets:
    yy, xx = np.mgrid[:size, :size]
    for b in range(batch):
      seeds = rng.choice(size * size, num_targets, replace=False)
      distance = np.full((size, size), np.inf)
      for k, flat in enumerate(seeds):
        d = (yy - flat // size)**2 + (xx - flat % size)**2
        closer = d < distance
        segment_map[b][closer] = k
        distance = np.where(closer, d, distance)
      classes[b] = rng.choice(num_classes, num_targets, replace=False)
  return Workload(pixels, segment_map, classes)


def normalized_nhwc(pixels: np.ndarray) -> np.ndarray:
  """The original's input normalization of uint8 pixels (float32 NHWC)."""
  mean = np.asarray(maskformer_input.MEAN_RGB, np.float32)
  std = np.asarray(maskformer_input.STDDEV_RGB, np.float32)
  return (pixels.astype(np.float32) - mean) / std


def tf_batch(workload: Workload, num_slots: int, image_dtype: tf.DType):
  """The TF model / train-step input in the parser's device contract.

  This is the one place that knows that contract (the module docstring of
  `dataloaders/maskformer_input.py`): images are uint8 0-255 canvases (the
  train step normalizes them on the device, `prepare_model_inputs`) or
  normalized float tensors (what the model itself takes); labels hold the
  segment map in the narrowest dtype of `num_slots` padded target slots.

  Args:
    workload: the inputs.
    num_slots: T, the target slots per image (the parser's `max_segments`).
    image_dtype: uint8 (raw pixels) or a float dtype (normalized).

  Returns:
    The images for a forward workload, else `(images, labels)`.
  """
  if image_dtype == tf.uint8:
    images = tf.constant(workload.pixels)
  else:
    images = tf.constant(normalized_nhwc(workload.pixels), image_dtype)
  if workload.segment_map is None:
    return images
  batch, height, width = workload.segment_map.shape
  num_targets = workload.classes.shape[1]
  classes = np.zeros((batch, num_slots), np.int32)
  classes[:, :num_targets] = workload.classes
  valid = np.arange(num_slots)[None, :].repeat(batch, 0) < num_targets
  image_info = np.array([[height, width], [height, width], [1.0, 1.0],
                         [0.0, 0.0]], np.float32)
  labels = {
      maskformer_input.PIXEL_MASK: tf.ones((batch, height, width), tf.bool),
      maskformer_input.SEGMENT_MAP: tf.constant(
          workload.segment_map,
          maskformer_input.segment_map_dtype(num_slots)),
      maskformer_input.SEGMENT_CLASSES: tf.constant(classes),
      maskformer_input.SEGMENT_IS_CROWD: tf.zeros((batch, num_slots), tf.bool),
      maskformer_input.SEGMENT_VALID: tf.constant(valid),
      maskformer_input.IMAGE_INFO: tf.constant(
          np.broadcast_to(image_info, (batch, 4, 2))),
      maskformer_input.IMAGE_ID: tf.range(batch, dtype=tf.int32),
  }
  return images, labels


def torch_batch(torch, workload: Workload, device):
  """`pixel_values` and, for training, `mask_labels` / `class_labels`."""
  pixels = torch.from_numpy(
      normalized_nhwc(workload.pixels).transpose(0, 3, 1, 2).copy())
  pixels = pixels.to(device)
  if workload.segment_map is None:
    return pixels, None, None
  num_targets = workload.classes.shape[1]
  masks, classes = [], []
  for segment_map, image_classes in zip(workload.segment_map,
                                        workload.classes):
    one_hot = segment_map[None] == np.arange(num_targets)[:, None, None]
    masks.append(torch.from_numpy(one_hot.astype(np.float32)).to(device))
    classes.append(torch.from_numpy(image_classes.astype(np.int64)).to(device))
  return pixels, masks, classes


# --------------------------------------------------------------------------
# Step functions: each is a zero-argument callable that runs one step and
# returns when its results are ready.


def _pred(outputs: Dict[str, Any]) -> Dict[str, tf.Tensor]:
  return {k: outputs[k] for k in ('pred_logits', 'pred_masks')}


def tf_forward_fn(env: 'Env', pair: ModelPair, jit: bool, images):
  """Returns a forward step of `pair.tf_model` (inference mode)."""
  key = TF_XLA if jit else TF_GRAPH
  if key not in pair.forward_fns:
    model = pair.tf_model
    pair.forward_fns[key] = tf.function(
        lambda x: _pred(model(x, training=False)), jit_compile=jit)
  fn = pair.forward_fns[key]

  def run():
    with tf.device(env.tf_device):
      outputs = fn(images)
    return {k: v.numpy() for k, v in outputs.items()}
  return run


def tf_train_fn(env: 'Env', pair: ModelPair, jit: bool, batch):
  """Returns one train step of the task (its own optimizer per flavour)."""
  impl = TF_XLA if jit else TF_GRAPH
  if impl not in pair.train_fns:
    task, experiment = pair.task, pair.experiment
    optimizer = task.create_optimizer(experiment.trainer.optimizer_config,
                                      experiment.runtime)
    # Slots created before tracing, as the task's tests do.
    optimizer._create_all_weights(pair.tf_model.trainable_variables)  # pylint: disable=protected-access
    metrics = task.build_metrics(training=True)
    step = tf.function(task.train_step, jit_compile=jit)
    pair.train_fns[impl] = lambda b: step(b, model=pair.tf_model,
                                          optimizer=optimizer, metrics=metrics)
  step_fn = pair.train_fns[impl]

  def run():
    with tf.device(env.tf_device):
      logs = step_fn(batch)
    return float(logs['total_loss'].numpy())
  return run


def _freeze_batch_norm(torch, model):
  """Train mode with the backbone BatchNorm frozen (the original's FrozenBN)."""
  model.train()
  for module in model.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
      module.eval()
      for parameter in module.parameters():
        parameter.requires_grad_(False)


def torch_optimizer(torch, model):
  """AdamW with the recipe's groups: backbone lr x 0.1, no decay on norms and
  the query embedding (as `MaskFormerAdamW`)."""
  no_decay_types = (torch.nn.modules.batchnorm._BatchNorm,  # pylint: disable=protected-access
                    torch.nn.GroupNorm, torch.nn.LayerNorm, torch.nn.Embedding)
  groups = {}
  for module_name, module in model.named_modules():
    for name, parameter in module.named_parameters(recurse=False):
      if not parameter.requires_grad:
        continue
      backbone = f'{module_name}.{name}'.startswith(
          'model.pixel_level_module.encoder.')
      no_decay = isinstance(module, no_decay_types)
      groups.setdefault((backbone, no_decay), []).append(parameter)
  return torch.optim.AdamW(
      [{'params': params, 'lr': 1e-4 * (0.1 if backbone else 1.0),
        'weight_decay': 0.0 if no_decay else 1e-4}
       for (backbone, no_decay), params in groups.items()],
      lr=1e-4, betas=(0.9, 0.999), eps=1e-8)


def torch_forward_fn(env: 'Env', pair: ModelPair, pixels):
  torch, model = env.fw.torch, pair.torch_model

  def run():
    model.eval()
    with torch.inference_mode(), env.autocast():
      outputs = model(pixel_values=pixels)
      result = {'pred_logits': outputs.class_queries_logits.float(),
                'pred_masks': outputs.masks_queries_logits.float()}
    env.synchronize()
    return {k: v.cpu().numpy() for k, v in result.items()}
  return run


def torch_train_fn(env: 'Env', pair: ModelPair, pixels, masks, classes):
  torch, model = env.fw.torch, pair.torch_model
  _freeze_batch_norm(torch, model)
  if pair.torch_optimizer is None:
    pair.torch_optimizer = torch_optimizer(torch, model)
  optimizer = pair.torch_optimizer
  params = [p for p in model.parameters() if p.requires_grad]

  def run():
    _freeze_batch_norm(torch, model)
    optimizer.zero_grad(set_to_none=True)
    # The port's auxiliary losses need the hidden states passed explicitly
    # (5.23 fails in `torch.stack(None)` otherwise).
    model.config.use_auxiliary_loss = env.deep_supervision
    try:
      with env.autocast():
        outputs = model(pixel_values=pixels, mask_labels=masks,
                        class_labels=classes,
                        output_hidden_states=env.deep_supervision)
    finally:
      model.config.use_auxiliary_loss = False
    outputs.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 0.01)
    optimizer.step()
    loss = outputs.loss.detach().float().item()
    env.synchronize()
    return loss
  return run


# --------------------------------------------------------------------------
# Measurement.


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

  def to_json(self, env: 'Env') -> Dict[str, Any]:
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
          if env.peak_tflops:
            entry['fraction_of_peak'] = (entry['achieved_tflops'] /
                                         env.peak_tflops)
      out['results'][impl] = entry
    return out

  def step_flops(self) -> Optional[float]:
    """FLOPs of one step: counted forward; train step estimated as 3x."""
    if not self.forward_gflops_per_image:
      return None
    factor = 3.0 if self.kind == 'train' else 1.0
    return factor * self.forward_gflops_per_image * 1e9 * self.batch


class Env:
  """Settings and shared state of one benchmark run."""

  def __init__(self, fw: Frameworks):
    quick = _QUICK.value
    self.fw = fw
    self.quick = quick
    self.device = _DEVICE.value
    self.precision = 'bfloat16' if self.device == 'gpu' else 'float32'
    self.arch = TINY_ARCH if quick else experiment_arch()
    self.seed = _SEED.value
    self.deep_supervision = _DEEP_SUPERVISION.value
    self.repeats = _REPEATS.value or (1 if quick else 3)
    self.image_size = _IMAGE_SIZE.value or (64 if quick else 512)
    self.num_queries = _NUM_QUERIES.value or (8 if quick else 100)
    self.forward_batches = _ints(_FORWARD_BATCHES.value,
                                 [1, 2] if quick else [1, 8])
    self.train_batch = _TRAIN_BATCH.value
    self.train_targets = (_TRAIN_TARGETS.value if _TRAIN_TARGETS.value
                          is not None else (4 if quick else 10))
    self.sizes = _ints(_SIZES.value, [64, 96] if quick else
                       [256, 512, 768, 1024])
    self.queries = _ints(_QUERIES.value, [8, 16] if quick else [50, 100, 200])
    self.targets = _ints(_TARGETS.value, [0, 4] if quick else [0, 10, 50, 100])
    self.num_slots = max([self.arch.max_segments, self.train_targets] +
                         self.targets)
    self.threads = _THREADS.value or os.cpu_count()
    unknown = set(_IMPLS.value) - set(IMPLEMENTATIONS)
    if unknown:
      raise app.UsageError(f'unknown --implementations {sorted(unknown)}')
    self.impls = [i for i in IMPLEMENTATIONS if i in _IMPLS.value]
    if not fw.available:
      self.impls = [i for i in self.impls if i != TORCH]
    if not self.impls:
      raise app.UsageError('no implementation left to run')
    # The forward scaling tables compare XLA with PyTorch (or what is left
    # of them); the target scaling has every implementation (the train
    # step's CPU default is 'tf_graph').
    self.sweep_impls = ([i for i in (TF_XLA, TORCH) if i in self.impls] or
                        self.impls[:1])
    self.peak_tflops = None
    self.device_name = platform.processor() or 'CPU'
    self.tf_device = '/CPU:0'
    self.tf_dtype = tf.float32
    self.torch_device = 'cpu'
    self.pairs: Dict[int, ModelPair] = {}
    self.cases: Dict[Any, Case] = {}
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

  def train_image_dtype(self, pair: ModelPair) -> tf.DType:
    """The experiment's training images: uint8, or normalized floats."""
    dtype = tf.dtypes.as_dtype(pair.experiment.task.train_data.parser.dtype)
    return dtype if dtype == tf.uint8 else self.tf_dtype

  def pair(self, num_queries: int) -> ModelPair:
    if num_queries not in self.pairs:
      start = time.perf_counter()
      self.pairs[num_queries] = build_pair(self, num_queries)
      logging.info('Built the models with %d queries in %.1f s: %s',
                   num_queries, time.perf_counter() - start,
                   self.pairs[num_queries].conversion)
    return self.pairs[num_queries]


def _ints(values: Optional[Sequence[str]], default: List[int]) -> List[int]:
  return [int(v) for v in values] if values else list(default)


def _tf_allocator_peak(device: str, fn: Callable[[], Any]) -> float:
  """Peak bytes of TF's allocator on `device` during `fn`, over the start."""
  tf.config.experimental.reset_memory_stats(device)
  before = tf.config.experimental.get_memory_info(device)['current']
  fn()
  return tf.config.experimental.get_memory_info(device)['peak'] - before


def _memory_call(env: Env, impl: str, fn: Callable[[], Any],
                 result: ImplResult):
  """Runs `fn` once and records its peak memory increase in `result`.

  GPU: the allocators' peak statistics. CPU: TF's allocator statistics for
  TF (its oneDNN CPU allocator pools memory, BFC, and never returns it, so
  its resident set stops growing after the first call) and the resident set
  for PyTorch (plain malloc, which `malloc_trim` empties); the RSS increase
  is recorded for TF too.
  """
  if env.device == 'gpu':
    if impl == TORCH:
      torch = env.fw.torch
      torch.cuda.synchronize()
      torch.cuda.reset_peak_memory_stats()
      before = torch.cuda.memory_allocated()
      fn()
      peak = torch.cuda.max_memory_allocated() - before
      result.memory_method = 'torch.cuda.max_memory_allocated'
    else:
      peak = _tf_allocator_peak('GPU:0', fn)
      result.memory_method = 'tf.config.experimental.get_memory_info (GPU)'
    result.peak_memory_mib = peak / _MIB
    return
  with RssPeak() as rss:
    if impl == TORCH:
      fn()
      result.memory_method = 'RSS sampler'
    else:
      result.peak_memory_mib = _tf_allocator_peak('CPU:0', fn) / _MIB
      result.memory_method = 'tf.config.experimental.get_memory_info (CPU)'
  result.rss_increase_mib = rss.increase / _MIB
  if impl == TORCH:
    result.peak_memory_mib = result.rss_increase_mib


def measure(env: Env, case: Case,
            fns: Dict[str, Callable[[], Any]],
            first_calls: bool = True) -> Dict[str, Any]:
  """Times `fns` interleaved; fills `case.results`; returns first outputs.

  Args:
    env: the run.
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


def forward_flops(fn, images) -> Optional[float]:
  """Float operations of a traced forward (TF's graph profiler)."""
  from tensorflow.python.profiler import model_analyzer  # pylint: disable=g-import-not-at-top
  from tensorflow.python.profiler import option_builder  # pylint: disable=g-import-not-at-top
  try:
    graph = fn.get_concrete_function(images).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options['output'] = 'none'
    return float(model_analyzer.profile(graph, options=options)
                 .total_float_ops)
  except Exception:  # pylint: disable=broad-except
    logging.exception('FLOP count failed')
    return None


def run_forward(env: Env, table: str, batch: int, size: int,
                num_queries: int, impls: Sequence[str]) -> Case:
  """Measures (or reuses) a forward workload."""
  case = Case(table, 'forward', batch, size, num_queries, None)
  if case.key in env.cases:
    return env.cases[case.key]
  pair = env.pair(num_queries)
  workload = make_workload(env.seed + batch * 7919 + size, batch, size)
  images = tf_batch(workload, env.num_slots, env.tf_dtype)
  fns = {}
  for impl in impls:
    if impl in (TF_XLA, TF_GRAPH):
      fns[impl] = tf_forward_fn(env, pair, impl == TF_XLA, images)
    elif impl == TORCH and pair.torch_model is not None:
      pixels, _, _ = torch_batch(env.fw.torch, workload, env.torch_device)
      fns[impl] = torch_forward_fn(env, pair, pixels)
  outputs = measure(env, case, fns)
  traced = [i for i in (TF_XLA, TF_GRAPH) if i in fns and
            case.results[i].first_call_s is not None]
  if traced and batch == 1:
    flops = forward_flops(pair.forward_fns[traced[0]], images)
    case.forward_gflops_per_image = flops / 1e9 if flops else None
  elif batch > 1:
    single = env.cases.get(('forward', 1, size, num_queries, None))
    if single:
      case.forward_gflops_per_image = single.forward_gflops_per_image
  if (not env.parity and TORCH in outputs and outputs[TORCH] is not None):
    env.parity = parity(env, case, outputs)
  env.cases[case.key] = case
  return case


def run_train(env: Env, table: str, batch: int, size: int, num_queries: int,
              num_targets: int, impls: Sequence[str]) -> Case:
  """Measures (or reuses) a train-step workload."""
  case = Case(table, 'train', batch, size, num_queries, num_targets)
  if case.key in env.cases:
    return env.cases[case.key]
  pair = env.pair(num_queries)
  workload = make_workload(env.seed + batch * 7919 + size + num_targets,
                           batch, size, num_targets, env.arch.num_classes)
  tf_inputs = tf_batch(workload, env.num_slots, env.train_image_dtype(pair))
  fns = {}
  for impl in impls:
    if impl in (TF_XLA, TF_GRAPH):
      fns[impl] = tf_train_fn(env, pair, impl == TF_XLA, tf_inputs)
    elif impl == TORCH and pair.torch_model is not None:
      fns[impl] = torch_train_fn(
          env, pair, *torch_batch(env.fw.torch, workload, env.torch_device))
  # Same shapes as an earlier train workload: nothing to trace or compile.
  warmed = any(c.kind == 'train' and c.batch == batch and
               c.image_size == size and c.num_queries == num_queries
               for c in env.cases.values())
  measure(env, case, fns, first_calls=not warmed)
  forward = env.cases.get(('forward', 1, size, num_queries, None))
  if forward:
    case.forward_gflops_per_image = forward.forward_gflops_per_image
  env.cases[case.key] = case
  return case


def parity(env: Env, case: Case, outputs) -> Dict[str, Any]:
  """Largest differences of the TF outputs from the PyTorch ones."""
  reference = outputs[TORCH]
  result = {
      'workload': f'forward, batch {case.batch}, {case.image_size} x '
                  f'{case.image_size}, {case.num_queries} queries, '
                  f'{env.precision}, eval mode',
      'pred_logits_max_abs': float(np.abs(reference['pred_logits']).max()),
      'pred_masks_max_abs': float(np.abs(reference['pred_masks']).max()),
  }
  for impl in (TF_XLA, TF_GRAPH):
    if outputs.get(impl) is None:
      continue
    for key in ('pred_logits', 'pred_masks'):
      result[f'{impl}_{key}_max_abs_diff'] = float(
          np.abs(outputs[impl][key].astype(np.float64) -
                 reference[key].astype(np.float64)).max())
  return result


def torch_flop_check(env: Env, size: int, num_queries: int):
  """The PyTorch FLOP counter on the same forward, as a cross-check."""
  if not env.fw.available or env.pair(num_queries).torch_model is None:
    return {}
  from torch.utils import flop_counter  # pylint: disable=g-import-not-at-top
  torch = env.fw.torch
  model = env.pair(num_queries).torch_model
  pixels, _, _ = torch_batch(torch, make_workload(env.seed, 1, size),
                             env.torch_device)
  model.eval()
  try:
    with torch.inference_mode(), flop_counter.FlopCounterMode(
        display=False) as counter:
      model(pixel_values=pixels)
  except Exception:  # pylint: disable=broad-except
    logging.exception('PyTorch FLOP count failed')
    return {}
  return {'image_size': size, 'num_queries': num_queries,
          'torch_flop_counter_gflops': counter.get_total_flops() / 1e9}


# --------------------------------------------------------------------------
# Reporting.


def _versions(fw: Frameworks) -> Dict[str, str]:
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  versions = {'python': platform.python_version(), 'tensorflow': tf.__version__,
              'tf_keras': tf_keras.__version__, 'numpy': np.__version__}
  for package in ('tf-models-official',):
    try:
      versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      pass
  if fw.available:
    versions['torch'] = fw.torch.__version__
    versions['transformers'] = fw.transformers.__version__
  return versions


def _machine(env: Env) -> Dict[str, Any]:
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  try:
    memory_gib = (os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') /
                  2.0**30)
  except (ValueError, OSError):
    memory_gib = None
  machine = {'cpu': cpu, 'cpus': os.cpu_count(), 'memory_gib': memory_gib,
             'platform': platform.platform(), 'device': env.device,
             'device_name': env.device_name}
  try:
    machine['load_average_start'] = list(os.getloadavg())
  except OSError:
    pass
  return machine


def _threads(env: Env) -> Dict[str, Any]:
  threads = {
      'tf_intra_op': tf.config.threading.get_intra_op_parallelism_threads(),
      'tf_inter_op': (tf.config.threading.get_inter_op_parallelism_threads()
                      or 'default'),
      'onednn': os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default (on)'),
  }
  if env.fw.available:
    threads['torch'] = env.fw.torch.get_num_threads()
    threads['torch_interop'] = env.fw.torch.get_num_interop_threads()
    threads['OMP_WAIT_POLICY'] = os.environ.get('OMP_WAIT_POLICY', 'default')
  return threads


def _load(machine: Dict[str, Any], when: str) -> str:
  load = machine.get(f'load_average_{when}')
  return f'{load[0]:.2f}' if load else '?'


def _seconds(value: Optional[float]) -> str:
  if value is None:
    return '-'
  if value >= 10:
    return f'{value:.1f}'
  if value >= 1:
    return f'{value:.2f}'
  return f'{value:.3f}'


def _time_cell(result: Optional[ImplResult]) -> str:
  if result is None:
    return '-'
  if not result.ok:
    return result.status
  return f'{_seconds(result.min_s)} / {_seconds(result.median_s)}'


def _ratios(case: Case, impl: str) -> Optional[Tuple[float, float]]:
  """(median ratio, min ratio) of `impl` over PyTorch, or None."""
  a, b = case.results.get(impl), case.results.get(TORCH)
  if not (a and b and a.ok and b.ok):
    return None
  return a.median_s / b.median_s, a.min_s / b.min_s


def _ratio(case: Case, impl: str) -> str:
  ratios = _ratios(case, impl)
  return f'{ratios[0]:.2f} ({ratios[1]:.2f})' if ratios else '-'


def _memory(result: Optional[ImplResult]) -> str:
  if result is None or result.peak_memory_mib is None:
    return '-'
  return f'{result.peak_memory_mib:,.0f}'


def _joined(case: Case, impls: Sequence[str], cell) -> str:
  return ' / '.join(cell(case.results.get(i)) for i in impls)


def _first_call(result: Optional[ImplResult]) -> str:
  return _seconds(result.first_call_s) if result else '-'


def _table(cases: Sequence[Case], impls: Sequence[str],
           label_titles: Sequence[str], labels: Callable[[Case], List[str]],
           extra: Tuple[str, Callable[[Case, ImplResult], str]],
           per_impl_extra: bool = True) -> List[str]:
  """A markdown table: one time column per implementation, then ratios."""
  short = ' / '.join(IMPL_TITLES[i] for i in impls)
  ratios = [i for i in impls if i != TORCH] if TORCH in impls else []
  extra_title, extra_cell = extra
  titles = (list(label_titles) +
            [f'{IMPL_TITLES[i]} (s)' for i in impls] +
            [f'{IMPL_TITLES[i]} / PyTorch: median (min)' for i in ratios] +
            [f'first call (s): {short}', f'peak memory (MiB): {short}',
             f'{extra_title}: {short}' if per_impl_extra else extra_title])
  rows = ['| ' + ' | '.join(titles) + ' |', '|' + '---|' * len(titles)]
  for case in cases:

    def extra_value(result, case=case):
      return extra_cell(case, result) if result and result.ok else '-'

    cells = (labels(case) +
             [_time_cell(case.results.get(i)) for i in impls] +
             [_ratio(case, i) for i in ratios] +
             [_joined(case, impls, _first_call),
              _joined(case, impls, _memory),
              _joined(case, impls, extra_value) if per_impl_extra else
              extra_cell(case, None)])
    rows.append('| ' + ' | '.join(cells) + ' |')
  return rows


def render_markdown(env: Env, report: Dict[str, Any]) -> str:
  """This tool's section of docs/benchmarks.md."""
  impls = env.impls
  sweep = env.sweep_impls
  machine, versions, threads = (report['machine'], report['versions'],
                                report['threads'])
  lines = [
      SECTION_BEGIN,
      '## TF MaskFormer vs PyTorch (`tools/benchmark.py`)',
      '',
      f'`{report["command"]}` — {report["date"]}, wall time '
      f'{report["wall_time_s"] / 60:.1f} min.',
      '',
      f'Machine: {machine["cpu"]}, {machine["cpus"]} CPUs'
      + (f', {machine["memory_gib"]:.0f} GiB' if machine.get('memory_gib')
         else '')
      + f'; device {env.device} ({env.precision}); load average '
      f'{_load(machine, "start")} at the start, {_load(machine, "end")} at '
      'the end. '
      + ', '.join(f'{k} {v}' for k, v in versions.items()) + '. Threads: '
      + ', '.join(f'{k} {v}' for k, v in threads.items()) + '.',
      '',
      f'Model: {env.arch.name}, {env.arch.num_classes} classes, '
      f'{env.arch.num_decoder_layers} decoder layers; both frameworks hold '
      f'the same weights ({report["conversion"]}).',
  ]
  train_dtype = env.train_image_dtype(env.pair(env.num_queries)).name
  lines += [
      'Inputs: random pixels; train targets: the Voronoi cells of k random '
      'seed pixels per image, distinct classes. Forward: normalized float '
      'images on both sides. Train: TF gets the experiment\'s training '
      f'contract ({train_dtype} images, normalized on the device in the '
      'step; the segment map with padded target slots), PyTorch normalized '
      'float32 `pixel_values` with per-image `mask_labels` / `class_labels` '
      'of the same segments.',
  ]
  if env.fw.available:
    lines += [
        '`transformers` is configured like the original: dropout 0.1 also on '
        'the attention weights and in the FFN, its backbone BatchNorm frozen '
        "in the train step (eval statistics, no gradients: the original's "
        'FrozenBN). Train steps use '
        + ('deep supervision (ours: L - 1 auxiliary sets as the original; the '
           'port: L sets, the first from the zero queries)'
           if env.deep_supervision else
           'the final layer\'s matching and losses only (the port\'s default; '
           'equal work on both sides; `--deep_supervision` for the recipe)')
        + '; AdamW (backbone lr x 0.1, no decay on norms / query embedding) '
        'after whole-model gradient clipping to 0.01 on both sides.',
    ]
  else:
    lines += ['', f'PyTorch: {env.fw.missing}.']
  lines += [
      '',
      'Method: every implementation is called once first (tracing / XLA '
      'compilation: "first call", excluded), then the implementations run '
      f'interleaved for {env.repeats} round(s) (order alternating); times are '
      'min / median in seconds. Peak memory: one more call each, the peak '
      'increase over the memory in use just before the call (MiB; weights '
      'and optimizer state that exist before are not counted); '
      + ('PyTorch: a thread reads the process RSS (`/proc/self/statm`) every '
         '1 ms after `malloc_trim(0)` returned freed heap pages; TF: its '
         'allocator\'s statistics (`tf.config.experimental.get_memory_info'
         '(\'CPU:0\')`), since its oneDNN CPU allocator pools memory and its '
         'RSS stops growing after the first call (the JSON also has the RSS '
         'increase of TF\'s calls). The two methods are close but not '
         'identical: RSS also counts allocator overhead and pages.'
         if env.device == 'cpu' else
         'the allocators\' peak statistics (`tf.config.experimental.'
         'get_memory_info`, `torch.cuda.max_memory_allocated`) minus the '
         'allocation before the call (MiB).')
      + (' TF graph is a plain `tf.function`, as Model Garden\'s trainer '
         'runs the step: on a CPU its train step compiles the matcher and '
         'loss with XLA and runs the model with TensorFlow\'s kernels '
         '(`task.xla_compile` \'auto\', the CPU default).'
         if env.device == 'cpu' else '')
      + ' Ratios: TF time / PyTorch time of the medians (and of the '
      'minima, less sensitive to other processes): below 1.00 means TF is '
      'faster.',
      '',
  ]
  parity_info = report.get('parity') or {}
  if parity_info:
    diffs = ', '.join(
        f'{IMPL_TITLES[i]}: pred_logits '
        f'{parity_info[f"{i}_pred_logits_max_abs_diff"]:.1e}, pred_masks '
        f'{parity_info[f"{i}_pred_masks_max_abs_diff"]:.1e}'
        for i in (TF_XLA, TF_GRAPH)
        if f'{i}_pred_logits_max_abs_diff' in parity_info)
    lines += [
        f'**Parity** ({parity_info["workload"]}), max |TF - PyTorch|: {diffs} '
        f'(largest |value|: pred_logits '
        f'{parity_info["pred_logits_max_abs"]:.2f}, pred_masks '
        f'{parity_info["pred_masks_max_abs"]:.2f}).',
        '',
    ]
  else:
    lines += ['**Parity**: not measured (no PyTorch model).', '']

  main = [c for c in env.cases.values() if c.table == 'main']
  lines += [f'### Forward and train step ({env.image_size} x '
            f'{env.image_size}, {env.num_queries} queries)', '']
  lines += _table(
      main, impls, ['step', 'batch'],
      lambda c: ['forward' if c.kind == 'forward' else
                 f'train step, {c.num_targets} targets/image', str(c.batch)],
      ('images/s', lambda c, r: f'{c.batch / r.median_s:.2f}'))

  def sweep_table(title: str, axis: str, cases: List[Case], value,
                  columns: Sequence[str] = sweep):
    return ['', f'### {title}', ''] + _table(
        cases, columns, [axis], lambda c: [value(c)],
        ('GFLOP/image (forward)',
         lambda c, r: (f'{c.forward_gflops_per_image:.3g}'
                       if c.forward_gflops_per_image else '-')),
        per_impl_extra=False)

  if sweep:
    by_table = {name: [env.cases[k] for k in keys]
                for name, keys in report['sweeps'].items()}
    lines += sweep_table(
        f'Scaling with the image size (forward, batch 1, '
        f'{env.num_queries} queries)', 'image size',
        by_table['sizes'], lambda c: f'{c.image_size} x {c.image_size}')
    lines += sweep_table(
        f'Scaling with the queries (forward, batch 1, {env.image_size} x '
        f'{env.image_size})', 'queries', by_table['queries'],
        lambda c: str(c.num_queries))
    lines += sweep_table(
        f'Scaling with the targets per image (train step, batch '
        f'{env.train_batch}, {env.image_size} x {env.image_size}, '
        f'{env.num_queries} queries, {env.num_slots} padded TF target slots; '
        'first call "-": same shapes as the main train step, nothing to '
        'compile)', 'targets/image', by_table['targets'],
        lambda c: str(c.num_targets), impls)

  lines += ['', f'### GPU ({"bfloat16" if env.device == "gpu" else "bfloat16 rows"})', '']
  if env.device == 'gpu':
    lines += [f'Device: {env.device_name}; peak {env.peak_tflops or "?"} '
              'TFLOP/s (bfloat16 dense). FLOPs: the TF graph profiler\'s '
              'forward count, x 3 for a train step (estimate).', '',
              '| step | batch | implementation | images/s | achieved TFLOP/s '
              '| fraction of peak |', '|---|---|---|---|---|---|']
    for case in main:
      flops = case.step_flops()
      for impl in impls:
        result = case.results.get(impl)
        if not (result and result.ok):
          continue
        achieved = flops / result.median_s / 1e12 if flops else None
        fraction = (f'{achieved / env.peak_tflops:.1%}'
                    if achieved and env.peak_tflops else '-')
        achieved_text = f'{achieved:.1f}' if achieved else '-'
        lines.append(
            f'| {case.kind} | {case.batch} | {IMPL_TITLES[impl]} | '
            f'{case.batch / result.median_s:.1f} | {achieved_text} | '
            f'{fraction} |')
  else:
    lines += ['| step | batch | implementation | images/s | fraction of peak '
              'FLOP/s |', '|---|---|---|---|---|']
    for case in main:
      for impl in impls:
        lines.append(f'| {case.kind} | {case.batch} | {IMPL_TITLES[impl]} | '
                     f'{NOT_MEASURED_NO_GPU} | {NOT_MEASURED_NO_GPU} |')
  check = report.get('flop_check') or {}
  lines += ['']
  main_forward = env.cases.get(('forward', 1, env.image_size,
                                env.num_queries, None))
  if main_forward and main_forward.forward_gflops_per_image:
    text = (f'Forward FLOPs per image at {env.image_size} x {env.image_size}: '
            f'{main_forward.forward_gflops_per_image:.1f} G (TF graph '
            'profiler')
    if check:
      text += (f'; `torch.utils.flop_counter`: '
               f'{check["torch_flop_counter_gflops"]:.1f} G, matmul / conv / '
               'attention only')
    lines += [text + ').']
  lines += ['', '**Goal** (our XLA forward and train step, and on a CPU the '
            'CPU-default train step at every target count, no slower than '
            'PyTorch at equal config): ' + report['goal_summary'], '',
            SECTION_END]
  return '\n'.join(lines) + '\n'


def goal_summary(env: Env) -> str:
  """The XLA / PyTorch ratio of each main workload and, on a CPU, the CPU
  default's (TF graph) of each target count, met or not."""
  goals = [(case, TF_XLA, f'forward batch {case.batch}'
            if case.kind == 'forward' else f'train step batch {case.batch}')
           for case in env.cases.values() if case.table == 'main']
  if env.device == 'cpu':
    goals += [(case, TF_GRAPH, f'CPU-default train step, '
               f'{case.num_targets} targets/image')
              for case in sorted(env.cases.values(),
                                 key=lambda c: c.num_targets or 0)
              if case.kind == 'train' and case.batch == env.train_batch]
  parts = []
  for case, impl, name in goals:
    ratios = _ratios(case, impl)
    if not ratios:
      continue
    median, minimum = ratios
    met = ('met' if max(median, minimum) <= 1.0 else
           'not met' if min(median, minimum) > 1.0 else
           'met by one statistic only')
    parts.append(f'{name}: {median:.2f} median, {minimum:.2f} min ({met})')
  return '; '.join(parts) + '.' if parts else 'not measured.'


def update_section(path: str, section: str):
  """Replaces this tool's section of `path` (or appends it)."""
  text = ''
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      text = f.read()
  begin, end = text.find(SECTION_BEGIN), text.find(SECTION_END)
  if (begin < 0) != (end < 0) or (begin >= 0 and end < begin):
    raise ValueError(f'{path}: unbalanced benchmark section markers')
  if begin >= 0:
    text = text[:begin] + section.rstrip('\n') + text[end + len(SECTION_END):]
  else:
    if not text:
      text = '# Benchmarks\n'
    text = text.rstrip('\n') + '\n\n' + section
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text if text.endswith('\n') else text + '\n')


def _output_path(value: Optional[str], default: str, quick: bool) -> str:
  if value is None:
    return '' if quick else os.path.join(REPO_ROOT, default)
  return value


def configure(env: Env):
  """Threads, visible devices and the precision policy (before any op)."""
  tf.config.threading.set_intra_op_parallelism_threads(env.threads)
  if env.fw.available:
    env.fw.torch.set_num_threads(env.threads)
  if env.device == 'cpu':
    tf.config.set_visible_devices([], 'GPU')
    env.tf_dtype = tf.float32
    return
  gpus = tf.config.list_physical_devices('GPU')
  if not gpus:
    raise app.UsageError('--device=gpu: TensorFlow sees no GPU')
  if env.fw.available and not env.fw.torch.cuda.is_available():
    raise app.UsageError('--device=gpu: torch sees no CUDA device')
  tf.config.experimental.set_memory_growth(gpus[0], True)
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  env.tf_dtype = tf.bfloat16
  env.tf_device = '/GPU:0'
  env.torch_device = 'cuda'
  details = tf.config.experimental.get_device_details(gpus[0])
  env.device_name = details.get('device_name', 'GPU')
  env.peak_tflops = _PEAK_TFLOPS.value or next(
      (v for k, v in GPU_PEAK_BF16_TFLOPS.items() if k in env.device_name),
      None)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.check_writable(_OUTPUT_JSON.value, '--output_json')
  cli.check_writable(_MARKDOWN.value, '--markdown')
  start = time.perf_counter()
  fw = Frameworks()
  env = Env(fw)
  configure(env)
  machine = _machine(env)
  if not fw.available:
    logging.warning('PyTorch side %s', fw.missing)

  main_impls = env.impls
  sweep_impls = env.sweep_impls
  for batch in env.forward_batches:
    run_forward(env, 'main', batch, env.image_size, env.num_queries,
                main_impls)
  run_train(env, 'main', env.train_batch, env.image_size, env.num_queries,
            env.train_targets, main_impls)
  env.flop_check = torch_flop_check(env, env.image_size, env.num_queries)
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

  try:
    machine['load_average_end'] = list(os.getloadavg())
  except OSError:
    pass
  command = 'python tools/benchmark.py ' + ' '.join(
      shlex.quote(a) for a in sys.argv[1:])
  report = {
      'tool': 'tools/benchmark.py',
      'command': command.strip(),
      'date': datetime.datetime.now().astimezone().isoformat(
          timespec='seconds'),
      'wall_time_s': time.perf_counter() - start,
      'machine': machine,
      'versions': _versions(fw),
      'threads': _threads(env),
      'settings': {
          'device': env.device, 'precision': env.precision,
          'architecture': dataclasses.asdict(env.arch),
          'experiment': EXPERIMENT, 'repeats': env.repeats,
          'image_size': env.image_size, 'num_queries': env.num_queries,
          'forward_batches': env.forward_batches,
          'train_batch': env.train_batch, 'train_targets': env.train_targets,
          'tf_target_slots': env.num_slots,
          'tf_train_image_dtype': env.train_image_dtype(
              env.pair(env.num_queries)).name,
          'deep_supervision': env.deep_supervision,
          'implementations': env.impls, 'seed': env.seed,
      },
      'pytorch': 'measured' if fw.available else fw.missing,
      'conversion': env.pair(env.num_queries).conversion,
      'parity': env.parity,
      'flop_check': env.flop_check,
      'cases': [case.to_json(env) for case in env.cases.values()],
      'sweeps': sweeps,
      'gpu': ({'status': 'measured', 'device_name': env.device_name,
               'peak_tflops': env.peak_tflops} if env.device == 'gpu' else
              {'status': NOT_MEASURED_NO_GPU}),
  }
  report['goal_summary'] = goal_summary(env)
  section = render_markdown(env, report)
  print(section)
  json_path = _output_path(_OUTPUT_JSON.value, 'docs/benchmark_results.json',
                           env.quick)
  if json_path:
    serializable = dict(report, sweeps={
        k: [list(key) for key in v] for k, v in sweeps.items()})
    with open(json_path, 'w', encoding='utf-8') as f:
      json.dump(serializable, f, indent=1, default=str)
      f.write('\n')
  markdown_path = _output_path(_MARKDOWN.value, 'docs/benchmarks.md',
                               env.quick)
  if markdown_path:
    update_section(markdown_path, section)


if __name__ == '__main__':
  cli.run(main)
