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

r"""Peak memory and time of one train step of an experiment, before paying.

Builds the task, model and optimizer of any registered experiment (with
--config_file / --params_override) at a given canvas, per-replica batch and
`max_segments`, and runs its train step on this machine: the whole step
compiled with XLA (`--compile=whole_step`, what a TPU runs) or as Model
Garden's trainer runs it (`--compile=task`, with the task's `xla_compile`).
It prints:

  * state: the memory in use before the step (weights, optimizer slots, the
    input batch);
  * peak: the largest memory in use during the step, state included (TF's
    CPU allocator statistics, `tf.config.experimental.get_memory_info`,
    which XLA's buffers go through too);
  * with --split, the peak of the backward pass through the backbone only,
    through backbone + pixel decoder and through the whole model (a stand-in
    loss on their outputs), each compiled the same way, and the increments:
    backbone, pixel decoder, predictor, and matcher + loss + optimizer;
  * the first call (tracing and compilation) and the step time (min and
    median of --steps calls).

Inputs are synthetic (--targets horizontal bands per image, random pixels)
or the first batch of the experiment's training pipeline on --input_path
(TFRecords of tools/create_coco_panoptic_tfrecord.py, augmented as the
experiment says). XLA:CPU's memory is close to, not equal to, an
accelerator's: TPUs pad the minor dimensions of arrays to their tiles
(docs/memory.md).

Examples:
  python tools/train_step_cost.py --experiment=maskformer_coco_panoptic_r50 \
      --canvas=1024 --batch=1 --max_segments=100 --precision=float32
  python tools/train_step_cost.py --experiment=maskformer_coco_panoptic_r50 \
      --canvas=832 --canvas_width=1344 --batch=1 --steps=3
  python tools/train_step_cost.py --experiment=maskformer_coco_panoptic_r50 \
      --canvas=512 --input_path=/tmp/sample/val-00000-of-00001 --split
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
import statistics
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import Sequence

from absl import flags
import numpy as np
from official.core import config_definitions as cfg
import tensorflow as tf

from benchmarking import measurement
import experiment_flags
from projects.maskformer.configs import task as task_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.ops import precision
from projects.maskformer.tasks import maskformer_segmentation

WHOLE_STEP = 'whole_step'
TASK = 'task'
_MIB = 2.0**20
# Model outputs whose stand-in loss ends each --split program.
STAGES = (
    ('backbone', ('backbone_features',)),
    # MaskFormer's, then Mask2Former's.
    ('pixel decoder', ('mask_features', 'transformer_encoder_features',
                       'multi_scale_features')),
    ('predictor', ('pred_logits', 'pred_masks', 'aux_outputs')),
)

_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags()
_CANVAS = flags.DEFINE_integer(
    'canvas', None, 'Training canvas height, and width unless --canvas_width '
    'says otherwise (the parser\'s output_size; the augmentation\'s output, '
    'detr_panoptic max_size or semantic_crop crop_size, is bounded by it as '
    'in a recipe at that canvas); default: the experiment\'s.',
    lower_bound=32)
_CANVAS_WIDTH = flags.DEFINE_integer(
    'canvas_width', None, 'Training canvas width, for a canvas that is not '
    'square (--canvas gives its height); default: --canvas. detr_panoptic\'s '
    'max_size is bounded by the shorter side.', lower_bound=32)
_BATCH = flags.DEFINE_integer(
    'batch', 1, 'Per-replica batch size.', lower_bound=1)
_MAX_SEGMENTS = flags.DEFINE_integer(
    'max_segments', None, 'Padded target slots per image; default: the '
    'experiment\'s.', lower_bound=1)
_TARGETS = flags.DEFINE_integer(
    'targets', 10, 'Synthetic inputs: real targets per image (horizontal '
    'bands), at most --max_segments.', lower_bound=0)
_INPUT_PATH = flags.DEFINE_string(
    'input_path', None, 'TFRecord file pattern of the experiment\'s format: '
    'use the first batch of its training pipeline instead of synthetic '
    'inputs.')
_PRECISION = flags.DEFINE_enum(
    'precision', None, ['float32', 'bfloat16'], 'Keras policy: float32, or '
    'bfloat16 (mixed_bfloat16); default: the experiment\'s runtime.')
_COMPILE = flags.DEFINE_enum(
    'compile', WHOLE_STEP, [WHOLE_STEP, TASK], 'whole_step: the train step '
    'under tf.function(jit_compile=True), as on a TPU; task: a plain '
    'tf.function as Model Garden\'s trainer calls it (the task compiles what '
    'its task.xla_compile says).')
_SPLIT = flags.DEFINE_bool(
    'split', False, 'Also measure the peak of the backbone, backbone + pixel '
    'decoder and whole-model backward passes (3 more compilations).')
_STEPS = flags.DEFINE_integer(
    'steps', 3, 'Timed steps after the first call.', lower_bound=1)
_OUTPUT_JSON = flags.DEFINE_string(
    'output_json', None, 'Also write the results to this JSON file.')


def experiment() -> cfg.ExperimentConfig:
  """The experiment with the flags' canvas, batch and slots."""
  params = experiment_flags.load_experiment(_EXPERIMENT_FLAGS)
  data = params.task.train_data
  if _CANVAS_WIDTH.value and not _CANVAS.value:
    raise cli.UserError('--canvas_width needs --canvas (the canvas height)')
  if _CANVAS.value:
    canvas = [_CANVAS.value, _CANVAS_WIDTH.value or _CANVAS.value]
    data.parser.output_size = canvas
    # The recipe at this canvas: its augmentation's output fits the canvas.
    augmentation = data.parser.augmentation
    augmentation.detr_panoptic.max_size = min(
        augmentation.detr_panoptic.max_size, *canvas)
    augmentation.semantic_crop.crop_size = [
        min(c, side) for c, side in zip(augmentation.semantic_crop.crop_size,
                                        canvas)]
    if params.task.model.input_size[0] is not None:
      params.task.model.input_size = canvas + [
          params.task.model.input_size[2]]
  if _MAX_SEGMENTS.value:
    data.parser.max_segments = _MAX_SEGMENTS.value
  data.global_batch_size = _BATCH.value
  if _INPUT_PATH.value:
    data.input_path = _INPUT_PATH.value
    data.tfds_name = ''
    # Runs that differ in their settings only read the same images.
    data.seed = 0 if data.seed is None else data.seed
  if _PRECISION.value:
    params.runtime.mixed_precision_dtype = _PRECISION.value
  if not data.parser.output_size or None in data.parser.output_size:
    raise cli.UserError('the experiment has no static training canvas; give '
                        '--canvas')
  if not _INPUT_PATH.value and _TARGETS.value > data.parser.max_segments:
    raise cli.UserError(f'--targets={_TARGETS.value} exceeds max_segments='
                        f'{data.parser.max_segments}')
  return params


def synthetic_batch(data) -> Any:
  """Random uint8 canvases with --targets horizontal bands per image."""
  height, width = data.parser.output_size
  batch, slots, count = _BATCH.value, data.parser.max_segments, _TARGETS.value
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
  rows = np.arange(height) * count // height if count else np.full(height, -1)
  segment_map = np.broadcast_to(rows[None, :, None], (batch, height, width))
  valid = np.broadcast_to(np.arange(slots) < count, (batch, slots))
  image_info = np.array([[height, width], [height, width], [1.0, 1.0],
                         [0.0, 0.0]], np.float32)
  labels = {
      maskformer_input.PIXEL_MASK: tf.ones((batch, height, width), tf.bool),
      maskformer_input.SEGMENT_MAP: tf.constant(
          segment_map, maskformer_input.segment_map_dtype(slots)),
      maskformer_input.SEGMENT_CLASSES: tf.constant(
          rng.integers(0, 100, (batch, slots)), tf.int32),
      maskformer_input.SEGMENT_IS_CROWD: tf.zeros((batch, slots), tf.bool),
      maskformer_input.SEGMENT_VALID: tf.constant(valid),
      maskformer_input.IMAGE_INFO: tf.constant(
          np.broadcast_to(image_info, (batch, 4, 2))),
      maskformer_input.IMAGE_ID: tf.range(batch, dtype=tf.int32),
  }
  return tf.constant(images), labels


def stage_program(task, model, stage_keys: Sequence[str]) -> Callable:
  """A backward pass through the model up to the outputs `stage_keys`.

  The model runs as the train step runs it (padding-exact where the
  training data says so).
  """
  data = task.task_config.train_data

  def program(inputs):
    images, labels = maskformer_input.prepare_model_inputs(*inputs, data)
    with tf.GradientTape() as tape:
      outputs = task.run_model(model, images, labels, data, training=True)
      loss = tf.add_n([
          tf.reduce_mean(tf.cast(t, tf.float32))
          for t in tf.nest.flatten([outputs[k] for k in stage_keys
                                    if k in outputs])])
    grads = tape.gradient(loss, model.trainable_variables)
    return tf.linalg.global_norm([g for g in grads if g is not None])
  return program


def peak_mib(fn: Callable[[], Any]) -> float:
  """The allocator's peak memory in use during `fn()`, in MiB."""
  tf.config.experimental.reset_memory_stats('CPU:0')
  fn()
  return tf.config.experimental.get_memory_info('CPU:0')['peak'] / _MIB


def measure(params: cfg.ExperimentConfig) -> Dict[str, Any]:
  """Builds everything and measures; returns the results."""
  policy = {'bfloat16': 'mixed_bfloat16', 'float32': 'float32'}.get(
      params.runtime.mixed_precision_dtype or 'float32', 'float32')
  with precision.keras_policy(policy):
    task = maskformer_segmentation.MaskFormerSegmentationTask(params.task)
    model = task.build_model()
    optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                      params.runtime)
    optimizer._create_all_weights(model.trainable_variables)  # pylint: disable=protected-access
    data = params.task.train_data
    if _INPUT_PATH.value:
      inputs = next(iter(task.build_inputs(data)))
    else:
      inputs = synthetic_batch(data)
    jit = _COMPILE.value == WHOLE_STEP
    metrics = task.build_metrics(training=True)
    step = tf.function(task.train_step, jit_compile=jit)

    def train():
      return float(step(inputs, model=model, optimizer=optimizer,
                        metrics=metrics)['total_loss'])

    results = {
        'experiment': _EXPERIMENT_FLAGS.experiment.value,
        'canvas': list(data.parser.output_size), 'batch': _BATCH.value,
        'max_segments': data.parser.max_segments,
        'targets': ('input_path' if _INPUT_PATH.value else _TARGETS.value),
        'valid_targets_per_image': (
            inputs[1][maskformer_input.SEGMENT_VALID].numpy() &
            ~inputs[1][maskformer_input.SEGMENT_IS_CROWD].numpy()
        ).sum(axis=1).tolist(),
        'precision': policy, 'compile': _COMPILE.value,
        'xla_compile': params.task.xla_compile,
        'state_mib': tf.config.experimental.get_memory_info('CPU:0')[
            'current'] / _MIB,
    }
    start = time.perf_counter()
    train()
    results['first_call_s'] = time.perf_counter() - start
    times = []
    for _ in range(_STEPS.value):
      start = time.perf_counter()
      train()
      times.append(time.perf_counter() - start)
    results['step_s'] = {'min': min(times), 'median': statistics.median(times),
                         'all': times}
    results['peak_mib'] = peak_mib(train)
    if _SPLIT.value:
      peaks = {}
      for name, keys in STAGES:
        program = tf.function(stage_program(task, model, keys),
                              jit_compile=jit)
        program(inputs)
        peaks[name] = peak_mib(lambda program=program: program(inputs).numpy())
      peaks['matcher, loss, optimizer'] = results['peak_mib']
      previous, split = results['state_mib'], {}
      for name, peak in peaks.items():
        split[name] = peak - previous
        previous = max(previous, peak)
      results['stage_peaks_mib'] = peaks
      results['split_mib'] = split
  return results


def report(results: Dict[str, Any]) -> str:
  lines = [
      f'{results["experiment"]}: canvas {results["canvas"][0]} x '
      f'{results["canvas"][1]}, per-replica batch {results["batch"]}, '
      f'max_segments {results["max_segments"]}, valid targets per image '
      f'{results["valid_targets_per_image"]}, {results["precision"]}, '
      f'compile {results["compile"]} (task.xla_compile '
      f'{results["xla_compile"]})',
      f'  state (weights, optimizer slots, inputs): '
      f'{results["state_mib"]:,.0f} MiB',
      f'  peak of the train step:                   '
      f'{results["peak_mib"]:,.0f} MiB',
  ]
  for name, value in results.get('split_mib', {}).items():
    lines.append(f'    {name + ":":<40}+{value:,.0f} MiB')
  step = results['step_s']
  lines.append(f'  first call {results["first_call_s"]:.1f} s; step '
               f'{step["min"]:.2f} s min, {step["median"]:.2f} s median')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise cli.UserError(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.check_writable(_OUTPUT_JSON.value, '--output_json')
  tf.config.set_visible_devices([], 'GPU')
  if not measurement.allocator_keeps_statistics('CPU:0'):
    raise cli.UserError(
        'TensorFlow\'s CPU allocator keeps no statistics with oneDNN off '
        '(TF_ENABLE_ONEDNN_OPTS=0): run with oneDNN on (the default) to '
        'measure the memory')
  try:
    params = experiment()
  except ValueError as e:
    raise cli.UserError(str(e)) from e
  if params.task.xla_compile not in (task_cfg.XLA_COMPILE_AUTO,
                                     task_cfg.XLA_COMPILE_WHOLE_STEP,
                                     task_cfg.XLA_COMPILE_CRITERION):
    raise cli.UserError(f'bad task.xla_compile {params.task.xla_compile!r}')
  results = measure(params)
  print(report(results))
  cli.write_json(_OUTPUT_JSON.value, results)


if __name__ == '__main__':
  cli.run(main, required=['experiment'])
