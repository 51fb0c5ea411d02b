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

"""Benchmarks this project's TF MaskFormer or Mask2Former against PyTorch.

In one process and one run it times, side by side and with the same weights:

* 'tf_xla': our model / train step under `tf.function(jit_compile=True)`;
* 'tf_graph': the same under a plain `tf.function`, as Model Garden's trainer
  runs it; on a CPU the train step then compiles only its matcher and loss
  with XLA (`task.xla_compile` 'auto': the CPU default);
* 'torch': the `transformers` port in eager PyTorch:
  `MaskFormerForInstanceSegmentation` (the port that matches the original's
  forward pass, final-layer matching and loss; docs/semantics.md, section
  12) or `Mask2FormerForUniversalSegmentation`.

`--architecture` picks the model:

* maskformer (default): the registered experiment
  `maskformer_ade20k_semantic_r50` (ResNet-50, FPN pixel decoder, 150
  classes; queries configurable); the `transformers` model is built from its
  own `ResNetConfig` / DETR decoder config. Train steps use the final
  layer's losses unless `--deep_supervision`.
* mask2former: the registered experiment `mask2former_ade20k_semantic_r50`
  (ResNet-50, 6 deformable encoder layers, 9 masked-attention decoder layers
  with 10 supervised heads, 150 classes, 12,544 sampled points per mask,
  oversample 3, importance 0.75, weights class 2 / mask 5 / dice 5, "no
  object" 0.1); the `transformers` model is built from an equal
  `Mask2FormerConfig` (`reference.transformers_witness.
  build_mask2former_port`). Train steps always use deep supervision (every
  head, on both sides; `--nodeep_supervision` is refused). The loss's random
  points are drawn by each side itself (TF: the task's stateless seeds,
  PyTorch: its own RNG): different points, the same work.

Either way the `transformers` model is saved with safetensors and loaded into
the TF model by the project's strict converter (`checkpoints/converter.py`);
both must have the same number of trainable parameters (printed; the run
fails otherwise), and the forward outputs of both (class and mask logits of
the final head) are compared (the parity line).

Workloads (defaults): forward at 512 x 512, batch 1 and 8; a full train step
(forward, matching, loss, backward, optimizer update) at batch 2; and scaling
of time and peak memory with the image size and the number of queries
(forward, batch 1, 'tf_xla' against 'torch') and with the number of targets
per image (train step). The TF train step is the project's task
(`MaskFormerSegmentationTask.train_step`, its AdamW with whole-model
clipping); the PyTorch step is the port's own matcher and loss, backward,
whole-model `clip_grad_norm_` and `torch.optim.AdamW` with the experiment's
learning rate, weight decay, backbone multiplier and clipping.

Timing: the first call of every implementation (tracing, XLA compilation) is
reported separately and excluded; then `--repeats` rounds run every
implementation once per round (the order alternates), and the tables show
the minimum and the median. Memory: one more call per implementation; on CPU
a thread samples the process's resident set (`/proc/self/statm`) every
millisecond, after `malloc_trim(0)` returned freed heap pages, and the peak
increase over the RSS just before the call is reported; on a GPU the
allocators' peak statistics are used.

Results go to a JSON file (default docs/benchmark_results.json, or
docs/benchmark_results_mask2former.json) and to the architecture's own
section of docs/benchmarks.md (between HTML comment markers:
`<!-- tools/benchmark.py: begin -->` / `end -->` for MaskFormer,
`<!-- tools/benchmark.py --architecture=mask2former: begin -->` / `end -->`
for Mask2Former; the rest of the file is kept). Without torch /
transformers (the optional `benchmark` extra) only the TF columns are
measured. The parts live in `tools/benchmarking/`.

Examples:
  python tools/benchmark.py                      # the full CPU benchmark
  python tools/benchmark.py --quick --markdown=/tmp/b.md --output_json=/tmp/b.json
  python tools/benchmark.py --device=gpu         # bfloat16 on a GPU
  python tools/benchmark.py --architecture=mask2former
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
import shlex
import time
from typing import Optional

from absl import app
from absl import flags
from absl import logging

from benchmarking import machine_setup
from benchmarking import model_benchmark
from benchmarking import models
from benchmarking import reporting
from benchmarking import torch_workloads

# The default JSON results file of each architecture.
_DEFAULT_JSON = {
    models.MASKFORMER: 'docs/benchmark_results.json',
    models.MASK2FORMER: 'docs/benchmark_results_mask2former.json',
}

_OUTPUT_JSON = flags.DEFINE_string(
    'output_json', None, 'JSON results file; default '
    'docs/benchmark_results.json (mask2former: '
    'docs/benchmark_results_mask2former.json; none with --quick); empty: '
    'none.')
_MARKDOWN = flags.DEFINE_string(
    'markdown', None, 'Markdown file whose section of the architecture is '
    '(re)written; default docs/benchmarks.md (none with --quick); empty: '
    'none.')
_PEAK_TFLOPS = flags.DEFINE_float(
    'peak_tflops', None, 'The GPU peak bfloat16 TFLOP/s for the fraction-of-'
    'peak column (default: looked up from the device name).')
_OMP_WAIT_POLICY = flags.DEFINE_string(
    'omp_wait_policy', 'PASSIVE', 'OMP_WAIT_POLICY for PyTorch\'s OpenMP '
    'threads, set before torch is imported unless the environment sets it; '
    'empty: the OpenMP default. With the default spin-waiting, a torch step '
    'on a CPU shared with other processes ran 2-8x slower and erratically '
    '(a spinning thread holds a core while its partner waits for one).')

# The run's settings, read by `model_benchmark.Env` from `flags.FLAGS`.
flags.DEFINE_enum(
    'architecture', models.MASKFORMER, list(models.ARCHITECTURES),
    'The model benchmarked: maskformer (experiment '
    'maskformer_ade20k_semantic_r50 against transformers\' '
    'MaskFormerForInstanceSegmentation) or mask2former (experiment '
    'mask2former_ade20k_semantic_r50 against transformers\' '
    'Mask2FormerForUniversalSegmentation, always with deep supervision). '
    'Each has its own section of the markdown file and its own default '
    'JSON file.')
flags.DEFINE_bool(
    'quick', False, 'Smoke test: a tiny architecture, tiny sizes and one '
    'repeat; writes nothing unless --markdown / --output_json are given.')
flags.DEFINE_enum(
    'device', 'cpu', ['cpu', 'gpu'], 'Where to run. gpu: bfloat16 (Keras '
    "'mixed_bfloat16' policy, torch.autocast), images/s and the fraction of "
    'the peak FLOP/s.')
flags.DEFINE_list(
    'sizes', None, 'Image sizes of the size scaling (forward, batch 1); '
    'default 256,512,768,1024 (quick: 64,96).')
flags.DEFINE_list(
    'queries', None, 'Query counts of the query scaling (forward, batch 1); '
    'default 50,100,200 (quick: 8,16).')
flags.DEFINE_list(
    'targets', None, 'Targets per image of the target scaling (train step); '
    'default 0,10,50,100 (quick: 0,4).')
flags.DEFINE_integer(
    'repeats', None, 'Timed rounds per workload after the first call; '
    'default 3 (quick: 1).', lower_bound=1)
flags.DEFINE_integer(
    'image_size', None, 'Image size of the main table and of the query and '
    'target scaling; default 512 (quick: 64).', lower_bound=32)
flags.DEFINE_integer(
    'num_queries', None, 'Queries of the main table and of the size and '
    'target scaling; default 100 (quick: 8).', lower_bound=1)
flags.DEFINE_list(
    'forward_batches', None, 'Batch sizes of the forward rows of the main '
    'table; default 1,8 (quick: 1,2).')
flags.DEFINE_integer(
    'train_batch', 2, 'Batch size of every train step.', lower_bound=1)
flags.DEFINE_integer(
    'train_targets', None, 'Targets per image of the main train step; '
    'default 10 (quick: 4).', lower_bound=0)
flags.DEFINE_bool(
    'deep_supervision', None, 'MaskFormer: train with the auxiliary losses '
    "(the recipe; `transformers` then matches L sets where the original and "
    'we match L - 1); default: final-layer losses only, equal work on both '
    'sides. Mask2Former: always on (every head on both sides); '
    '--nodeep_supervision is refused.')
flags.DEFINE_list(
    'implementations', list(models.IMPLEMENTATIONS),
    'Implementations to run, any of ' + ', '.join(models.IMPLEMENTATIONS) +
    '.')
flags.DEFINE_integer(
    'threads', None, 'Intra-op threads of TF and torch.set_num_threads; '
    'default: the number of CPUs.', lower_bound=1)
flags.DEFINE_integer('seed', 0, 'Seed of the weights and inputs.')


def _output_path(value: Optional[str], default: str, quick: bool) -> str:
  if value is None:
    return '' if quick else os.path.join(REPO_ROOT, default)
  return value


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.check_writable(_OUTPUT_JSON.value, '--output_json')
  cli.check_writable(_MARKDOWN.value, '--markdown')
  start = time.perf_counter()
  fw = torch_workloads.Frameworks(_OMP_WAIT_POLICY.value)
  env = model_benchmark.Env(fw, flags.FLAGS)
  machine_setup.configure(env, _PEAK_TFLOPS.value)
  machine = machine_setup.machine_facts(env)
  if not fw.available:
    logging.warning('PyTorch side %s', fw.missing)
  sweeps = model_benchmark.run_workloads(env)
  command = 'python tools/benchmark.py ' + ' '.join(
      shlex.quote(a) for a in sys.argv[1:])
  report = reporting.build_report(env, sweeps, machine, command, start)
  section = reporting.render_markdown(env, report)
  print(section)
  json_path = _output_path(_OUTPUT_JSON.value,
                           _DEFAULT_JSON[env.architecture], env.quick)
  if json_path:
    reporting.write_json(json_path, report)
  markdown_path = _output_path(_MARKDOWN.value, 'docs/benchmarks.md',
                               env.quick)
  if markdown_path:
    reporting.update_section(markdown_path, section, env.architecture)


if __name__ == '__main__':
  cli.run(main)
