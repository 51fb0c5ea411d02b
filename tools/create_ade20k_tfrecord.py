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

r"""Converts an ADE20K-150 split (images + label PNGs) to sharded TFRecords.

  python tools/create_ade20k_tfrecord.py \
    --image_dir=ADEChallengeData2016/images/validation \
    --label_dir=ADEChallengeData2016/annotations/validation \
    --output_prefix=tfrecords/ade20k_val --num_shards=4

Labels are 8-bit grayscale PNGs named like the images (`<stem>.png`), 0 =
ignore and 1..num_classes the classes. Writes `<prefix>-NNNNN-of-MMMMM.tfrecord`
and the category map `categories_<prefix name>.json` beside them. Every pair is
checked first; bad input stops the conversion with an error naming the file
(or is skipped and counted with --skip_invalid), and nothing is left under the
final names after a failure. Exits with status 1 and a one-line error on bad
input or flags.
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
    'image_dir', None, 'Folder of the images (.jpg, .jpeg or .png).')
_LABEL_DIR = flags.DEFINE_string(
    'label_dir', None, 'Folder of the label PNGs, `<image stem>.png`.')
_OUTPUT_PREFIX = flags.DEFINE_string(
    'output_prefix', None, 'Path prefix of the output shards.')
_NUM_CLASSES = flags.DEFINE_integer(
    'num_classes', 150, 'Number of classes; label values above it are an '
    'error.', lower_bound=1, upper_bound=255)
_NUM_SHARDS = flags.DEFINE_integer(
    'num_shards', 4, 'Number of output shards; the i-th image written (by '
    'file name) goes to shard i mod num_shards. Fewer images give as many '
    'shards as images; shards of an earlier run into the same prefix are '
    'replaced.', lower_bound=1)
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
      lambda: tfrecords.convert_ade20k(
          image_dir=_IMAGE_DIR.value,
          label_dir=_LABEL_DIR.value,
          output_prefix=_OUTPUT_PREFIX.value,
          num_shards=_NUM_SHARDS.value,
          num_workers=_NUM_WORKERS.value,
          num_classes=_NUM_CLASSES.value,
          skip_invalid=_SKIP_INVALID.value,
          progress=_PROGRESS.value),
      _OUTPUT_PREFIX.value)


if __name__ == '__main__':
  cli.run(main, required=['image_dir', 'label_dir', 'output_prefix'],
          user_errors=(loading.ConversionError, tf.errors.OpError))
