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

"""Images/s of the MaskFormer input pipeline vs bare JPEG decoding, one run.

The COCO panoptic sample's images are replicated `--num_images` times into a
temporary panoptic dataset and converted to TFRecords with the project's
converter. Four tf.data pipelines then read the same records, each with a
parallel map (AUTOTUNE), batching and prefetching:
  * bare JPEG decode: the JPEG bytes decoded, nothing else (the baseline);
  * record decode: the project's decoder (JPEG + segment-index PNG);
  * decode + augment: plus the training augmentation, without the canvas;
  * training pipeline: `input_pipeline.build_input` (read, decode, augment,
    pad onto the canvas, build the fixed-size labels, batch; `--dtype=uint8`,
    the recipe's default, leaves the normalization to the device, float
    dtypes normalize on the host).
The middle two return one element of each of their outputs, so that they
batch; they show where the time goes. Pipelines are timed in alternating
rounds in the same process, each round on a fresh, warmed-up iterator (so
that no idle pipeline refills its buffers during another's timing). The
table gives the median rate of each and its ratio to the baseline, and the
same for the process CPU time per image, which other processes sharing the
cores hardly change (on an idle machine where every pipeline keeps the cores
busy, both ratios agree). The datasets are built by
`tools/benchmarking/input_pipelines.py`.

  python tools/benchmark_input.py --sample_dir ../shared/data/coco_panoptic_sample
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
import statistics
import tempfile

from absl import app
from absl import flags
import tensorflow as tf

from benchmarking import input_pipelines
from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.conversion import loading
from projects.maskformer.conversion import tfrecords
from projects.maskformer.dataloaders import input_pipeline

_SAMPLE_DIR = flags.DEFINE_string(
    'sample_dir', None,
    'Folder of the COCO panoptic sample (images/, panoptic/, panoptic.json).')
_NUM_IMAGES = flags.DEFINE_integer(
    'num_images', 64, 'Images in the benchmark dataset (the sample repeated).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 8, 'Batch size.')
_IMAGES_PER_ROUND = flags.DEFINE_integer(
    'images_per_round', 256, 'Images timed per round and per pipeline.')
_ROUNDS = flags.DEFINE_integer(
    'rounds', 3, 'Alternating timing rounds; the median is reported.')
_WARMUP_BATCHES = flags.DEFINE_integer(
    'warmup_batches', 4, 'Batches read before each timing round.')
_AUGMENTATION = flags.DEFINE_enum(
    'augmentation', 'detr_panoptic', ['detr_panoptic', 'large_scale_jitter'],
    'Training augmentation of the pipeline (the COCO recipe, or large-scale '
    'jitter onto the canvas).')
_OUTPUT_SIZE = flags.DEFINE_list(
    'output_size', ['1344', '1344'],
    'Canvas height,width; at least 1333,1333 for detr_panoptic.')
_DTYPE = flags.DEFINE_enum(
    'dtype', 'uint8', ['uint8', 'float32', 'bfloat16'],
    'Image dtype of the pipeline output (uint8: normalized on the device).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  for name in ('panoptic.json', 'images', 'panoptic'):
    if not os.path.exists(os.path.join(_SAMPLE_DIR.value, name)):
      raise cli.UserError(f'--sample_dir {_SAMPLE_DIR.value} is not a COCO '
                          f'panoptic sample folder: it has no {name}')
  output_size = [int(s) for s in _OUTPUT_SIZE.value]
  with tempfile.TemporaryDirectory() as work_dir:
    annotation_file = input_pipelines.replicated_dataset(
        _SAMPLE_DIR.value, _NUM_IMAGES.value, work_dir)
    prefix = os.path.join(work_dir, 'benchmark')
    files = tfrecords.convert_coco_panoptic(
        annotation_file, os.path.join(_SAMPLE_DIR.value, 'images'),
        os.path.join(_SAMPLE_DIR.value, 'panoptic'), prefix, num_shards=4,
        progress=False).shard_files

    params = data_cfg.coco_panoptic_data(
        ','.join(files), is_training=True,
        global_batch_size=_BATCH_SIZE.value)
    params.shuffle_buffer_size = 16
    params.parser.output_size = output_size
    params.parser.augmentation.type = _AUGMENTATION.value
    params.parser.dtype = _DTYPE.value
    datasets = input_pipelines.stage_datasets(files, params, _BATCH_SIZE.value)
    datasets['training pipeline'] = input_pipeline.build_input(params)
    rates = {name: [] for name in datasets}
    cpu = {name: [] for name in datasets}
    for _ in range(_ROUNDS.value):
      for name, dataset in datasets.items():
        rate, cpu_ms = input_pipelines.rate(
            dataset, _BATCH_SIZE.value, _IMAGES_PER_ROUND.value,
            _WARMUP_BATCHES.value)
        rates[name].append(rate)
        cpu[name].append(cpu_ms)

  baseline = statistics.median(rates['bare JPEG decode'])
  cpu_baseline = statistics.median(cpu['bare JPEG decode'])
  print(f'CPU cores visible: {os.cpu_count()}; batch {_BATCH_SIZE.value}; '
        f'canvas {output_size[0]}x{output_size[1]} {_DTYPE.value}; '
        f'augmentation {_AUGMENTATION.value}; {_ROUNDS.value} rounds of '
        f'{_IMAGES_PER_ROUND.value} images per pipeline')
  print('| pipeline | images/s (median) | per round | vs bare decode '
        '| CPU ms/image (median) | vs bare decode, by CPU time |')
  print('|---|---|---|---|---|---|')
  for name, values in rates.items():
    median = statistics.median(values)
    cpu_ms = statistics.median(cpu[name])
    print(f'| {name} | {median:.1f} | '
          f'{", ".join(f"{r:.1f}" for r in values)} | '
          f'{median / baseline:.2f} | {cpu_ms:.2f} | '
          f'{cpu_baseline / cpu_ms:.2f} |')
  return 0


if __name__ == '__main__':
  cli.run(main, required=['sample_dir'],
          user_errors=(loading.ConversionError, tf.errors.OpError))

