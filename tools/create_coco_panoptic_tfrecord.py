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

r"""Converts a COCO panoptic split to sharded TFRecords for MaskFormer.

  python tools/create_coco_panoptic_tfrecord.py \
    --image_dir=coco/val2017 \
    --annotation_file=coco/annotations/panoptic_val2017.json \
    --panoptic_dir=coco/annotations/panoptic_val2017 \
    --output_prefix=tfrecords/coco_panoptic_val --num_shards=8

Writes `<prefix>-NNNNN-of-MMMMM.tfrecord` and the category map
`categories_<prefix name>.json` beside them (read the shards with
`input_path=<prefix>-*-of-*`). Every image is checked first; bad input stops
the conversion with an error naming the file (or is skipped and counted with
--skip_invalid), and nothing is left under the final names after a failure.
Exits with status 1 and a one-line error on bad input
or flags.
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

from absl import app
from absl import flags
import tensorflow as tf

from projects.maskformer.conversion import loading
from projects.maskformer.conversion import tfrecords

_IMAGE_DIR = flags.DEFINE_string(
    'image_dir', None, 'Folder of the images named in the JSON `images`.')
_ANNOTATION_FILE = flags.DEFINE_string(
    'annotation_file', None,
    'COCO panoptic JSON (`panoptic_*.json`) with images, annotations and '
    'categories.')
_PANOPTIC_DIR = flags.DEFINE_string(
    'panoptic_dir', None,
    'Folder of the panoptic PNGs named in the JSON `annotations`.')
_CATEGORIES_FILE = flags.DEFINE_string(
    'categories_file', None,
    'Optional JSON category list (e.g. panoptic_coco_categories.json) used '
    'instead of the categories of the annotation file. Contiguous class = index in '
    'the id-sorted list.')
_OUTPUT_PREFIX = flags.DEFINE_string(
    'output_prefix', None, 'Path prefix of the output shards.')
_NUM_SHARDS = flags.DEFINE_integer(
    'num_shards', 8, 'Number of output shards; the i-th image written (by id) '
    'goes to shard i mod num_shards. Fewer images give as many shards as '
    'images; shards of an earlier run into the same prefix are replaced.',
    lower_bound=1)
_NUM_WORKERS = flags.DEFINE_integer(
    'num_workers', os.cpu_count() or 1,
    'Worker processes that read and check the images (0 or 1: none).',
    lower_bound=0)
_SKIP_INVALID = flags.DEFINE_boolean(
    'skip_invalid', False,
    'Skip bad images (listed and counted in the summary) instead of failing.')
_PROGRESS = flags.DEFINE_boolean('progress', True, 'Show a progress bar.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.check_writable(_OUTPUT_PREFIX.value, '--output_prefix')
  return tfrecords.run_conversion_tool(
      lambda: tfrecords.convert_coco_panoptic(
          annotation_file=_ANNOTATION_FILE.value,
          image_dir=_IMAGE_DIR.value,
          panoptic_dir=_PANOPTIC_DIR.value,
          output_prefix=_OUTPUT_PREFIX.value,
          num_shards=_NUM_SHARDS.value,
          num_workers=_NUM_WORKERS.value,
          categories_file=_CATEGORIES_FILE.value,
          skip_invalid=_SKIP_INVALID.value,
          progress=_PROGRESS.value),
      _OUTPUT_PREFIX.value)


if __name__ == '__main__':
  cli.run(main, required=['image_dir', 'annotation_file', 'panoptic_dir', 'output_prefix'],
          user_errors=(loading.ConversionError, tf.errors.OpError))
