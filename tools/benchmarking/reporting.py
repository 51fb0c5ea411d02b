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

"""The model benchmark's report: JSON, and its section of docs/benchmarks.md.

`build_report` gathers a finished run into a JSON-serialisable dict;
`render_markdown` turns it into the tool's markdown section (tables of time,
ratios to PyTorch, first calls, peak memory, the parity line and the goal
summary) and `update_section` replaces that section of a markdown file,
between HTML comment markers, keeping the rest of the file. Each
architecture has its own section (`section_markers`), so both coexist.
"""
import dataclasses
import datetime
import json
import os
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from benchmarking import machine_setup
from benchmarking import measurement
from benchmarking import models

# Each architecture's section of docs/benchmarks.md, between its markers.
SECTION_TOOLS = {
    models.MASKFORMER: 'tools/benchmark.py',
    models.MASK2FORMER: 'tools/benchmark.py --architecture=mask2former',
}
IMPL_TITLES = {models.TF_XLA: 'TF XLA', models.TF_GRAPH: 'TF graph',
               models.TORCH: 'PyTorch'}
NOT_MEASURED_NO_GPU = 'not measured: no GPU'


def section_markers(architecture: str) -> Tuple[str, str]:
  """The begin and end markers of `architecture`'s section."""
  tool = SECTION_TOOLS[architecture]
  return f'<!-- {tool}: begin -->', f'<!-- {tool}: end -->'


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


def _time_cell(result: Optional[measurement.ImplResult]) -> str:
  if result is None:
    return '-'
  if not result.ok:
    return result.status
  return f'{_seconds(result.min_s)} / {_seconds(result.median_s)}'


def _ratios(case: measurement.Case,
            impl: str) -> Optional[Tuple[float, float]]:
  """(median ratio, min ratio) of `impl` over PyTorch, or None."""
  a, b = case.results.get(impl), case.results.get(models.TORCH)
  if not (a and b and a.ok and b.ok):
    return None
  return a.median_s / b.median_s, a.min_s / b.min_s


def _ratio(case: measurement.Case, impl: str) -> str:
  ratios = _ratios(case, impl)
  return f'{ratios[0]:.2f} ({ratios[1]:.2f})' if ratios else '-'


def _memory(result: Optional[measurement.ImplResult]) -> str:
  if result is None or result.peak_memory_mib is None:
    return '-'
  return f'{result.peak_memory_mib:,.0f}'


def _joined(case: measurement.Case, impls: Sequence[str], cell) -> str:
  return ' / '.join(cell(case.results.get(i)) for i in impls)


def _first_call(result: Optional[measurement.ImplResult]) -> str:
  return _seconds(result.first_call_s) if result else '-'


def _table(cases: Sequence[measurement.Case], impls: Sequence[str],
           label_titles: Sequence[str],
           labels: Callable[[measurement.Case], List[str]],
           extra: Tuple[str, Callable[
               [measurement.Case, measurement.ImplResult], str]],
           per_impl_extra: bool = True) -> List[str]:
  """A markdown table: one time column per implementation, then ratios."""
  short = ' / '.join(IMPL_TITLES[i] for i in impls)
  ratios = ([i for i in impls if i != models.TORCH]
            if models.TORCH in impls else [])
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


def _port_setup(env) -> str:
  """How the `transformers` port is configured and trained."""
  if env.architecture == models.MASK2FORMER:
    pair = env.pair(env.num_queries)
    losses = pair.experiment.task.losses
    adamw = pair.experiment.trainer.optimizer_config.optimizer.maskformer_adamw
    return (
        '`transformers`\' `Mask2FormerForUniversalSegmentation` is built from '
        'the same config (dropout '
        f'{pair.experiment.task.model.pixel_decoder.dropout_rate:g}, as the '
        'original), its backbone BatchNorm frozen in the train step (eval '
        'statistics, no gradients: the original\'s FrozenBN); trainable '
        f'parameters: TF {pair.trainable_parameters["tf"]:,}, PyTorch '
        f'{pair.trainable_parameters["torch"]:,}. Train steps use deep supervision on both sides (Mask2Former '
        f'always does: all {env.arch.dec_layers} heads matched and '
        f'supervised), point-sampled losses with {losses.train_num_points:,} '
        f'points (oversample {losses.oversample_ratio:g}, importance '
        f'{losses.importance_sample_ratio:g}), weights class '
        f'{losses.class_weight:g} / mask {losses.mask_weight:g} / dice '
        f'{losses.dice_weight:g}, "no object" {losses.no_object_weight:g}. '
        'The random points differ: TF draws them from the task\'s stateless '
        'seeds, PyTorch from its own RNG; the amount of work is the same, '
        'which is what the timing needs. AdamW (weight decay '
        f'{adamw.weight_decay_rate:g}, backbone lr x '
        f'{adamw.backbone_lr_multiplier:g}, no decay on norms / decoder '
        'embeddings) after whole-model gradient clipping to '
        f'{adamw.global_clipnorm:g} on both sides.')
  return (
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
      'after whole-model gradient clipping to 0.01 on both sides.')


def render_markdown(env, report: Dict[str, Any]) -> str:
  """This tool's section of docs/benchmarks.md."""
  impls = env.impls
  sweep = env.sweep_impls
  machine, versions, threads = (report['machine'], report['versions'],
                                report['threads'])
  begin, end = section_markers(env.architecture)
  lines = [
      begin,
      f'## TF {env.arch.TITLE} vs PyTorch '
      f'(`{SECTION_TOOLS[env.architecture]}`)',
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
      f'{env.arch.decoder_summary}; both frameworks hold '
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
    lines += [_port_setup(env)]
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
        for i in (models.TF_XLA, models.TF_GRAPH)
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

  def sweep_table(title: str, axis: str, cases: List[measurement.Case],
                  value, columns: Sequence[str] = sweep):
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

  gpu_title = 'bfloat16' if env.device == 'gpu' else 'bfloat16 rows'
  lines += ['', f'### GPU ({gpu_title})', '']
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
            end]
  return '\n'.join(lines) + '\n'


def goal_summary(env) -> str:
  """The XLA / PyTorch ratio of each main workload and, on a CPU, the CPU
  default's (TF graph) of each target count, met or not."""
  goals = [(case, models.TF_XLA, f'forward batch {case.batch}'
            if case.kind == 'forward' else f'train step batch {case.batch}')
           for case in env.cases.values() if case.table == 'main']
  if env.device == 'cpu':
    goals += [(case, models.TF_GRAPH, f'CPU-default train step, '
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


def update_section(path: str, section: str, architecture: str):
  """Replaces `architecture`'s section of `path` (or appends it)."""
  text = ''
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      text = f.read()
  begin_marker, end_marker = section_markers(architecture)
  begin, end = text.find(begin_marker), text.find(end_marker)
  if (begin < 0) != (end < 0) or (begin >= 0 and end < begin):
    raise ValueError(f'{path}: unbalanced benchmark section markers')
  if begin >= 0:
    text = text[:begin] + section.rstrip('\n') + text[end + len(end_marker):]
  else:
    if not text:
      text = '# Benchmarks\n'
    text = text.rstrip('\n') + '\n\n' + section
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text if text.endswith('\n') else text + '\n')


def build_report(env, sweeps: Dict[str, List[Tuple]],
                 machine: Dict[str, Any], command: str,
                 start: float) -> Dict[str, Any]:
  """The JSON report of a finished run (`render_markdown` renders it).

  Args:
    env: the run (`model_benchmark.Env`), its workloads measured.
    sweeps: the case keys of each scaling table ('sizes', 'queries',
      'targets').
    machine: `machine_setup.machine_facts` at the start; the load average
      at the end is added.
    command: the command line of the run.
    start: `time.perf_counter()` at the start of the run.

  Returns:
    The report.
  """
  try:
    machine['load_average_end'] = list(os.getloadavg())
  except OSError:
    pass
  report = {
      'tool': 'tools/benchmark.py',
      'command': command.strip(),
      'date': datetime.datetime.now().astimezone().isoformat(
          timespec='seconds'),
      'wall_time_s': time.perf_counter() - start,
      'machine': machine,
      'versions': machine_setup.framework_versions(env.fw),
      'threads': machine_setup.thread_settings(env),
      'settings': {
          'device': env.device, 'precision': env.precision,
          'architecture': dataclasses.asdict(env.arch),
          'experiment': env.arch.EXPERIMENT, 'repeats': env.repeats,
          'image_size': env.image_size, 'num_queries': env.num_queries,
          'forward_batches': env.forward_batches,
          'train_batch': env.train_batch, 'train_targets': env.train_targets,
          'tf_target_slots': env.num_slots,
          'tf_train_image_dtype': env.train_image_dtype(
              env.pair(env.num_queries)).name,
          'deep_supervision': env.deep_supervision,
          'implementations': env.impls, 'seed': env.seed,
      },
      'pytorch': 'measured' if env.fw.available else env.fw.missing,
      'conversion': env.pair(env.num_queries).conversion,
      'trainable_parameters': env.pair(env.num_queries).trainable_parameters,
      'parity': env.parity,
      'flop_check': env.flop_check,
      'cases': [case.to_json(env.peak_tflops) for case in env.cases.values()],
      'sweeps': sweeps,
      'gpu': ({'status': 'measured', 'device_name': env.device_name,
               'peak_tflops': env.peak_tflops} if env.device == 'gpu' else
              {'status': NOT_MEASURED_NO_GPU}),
  }
  report['goal_summary'] = goal_summary(env)
  return report


def write_json(path: str, report: Dict[str, Any]):
  """Writes `report` to `path` (the sweeps' case keys as lists)."""
  serializable = dict(report, sweeps={
      k: [list(key) for key in v] for k, v in report['sweeps'].items()})
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(serializable, f, indent=1, default=str)
    f.write('\n')
