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

r"""Writes a deterministic, learnable COCO-panoptic-format dataset.

Things are a few shape classes (several instances per image, drawn over each
other); stuff are a few textured background classes splitting the image into
regions. The output mirrors COCO's layout, so every COCO panoptic tool of this
project reads it unchanged:

  OUTPUT_DIR/
    {split}2017/{image_id:012d}.jpg
    annotations/panoptic_{split}2017.json
    annotations/panoptic_{split}2017/{image_id:012d}.png

Usage:
  python tools/make_synthetic_coco.py --output_dir=/tmp/synthetic_coco \
      --num_train=96 --num_val=24 --image_size=128
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

import json
import shutil
import tempfile
from typing import Any
from typing import Dict
from typing import List
from typing import Tuple

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Directory to write the dataset into; it is created and '
    'must not already contain a dataset unless --overwrite is given.')
_NUM_TRAIN = flags.DEFINE_integer('num_train', 96,
                                  'Number of training images (split "train").')
_NUM_VAL = flags.DEFINE_integer('num_val', 24,
                                'Number of validation images (split "val").')
_IMAGE_SIZE = flags.DEFINE_integer(
    'image_size', 128, 'Height and width of every image, in pixels (>= 64).')
_MAX_THINGS = flags.DEFINE_integer(
    'max_things', 4, 'Maximum number of thing instances per image (>= 1).')
_CROWD_PROBABILITY = flags.DEFINE_float(
    'crowd_probability', 0.05,
    'Probability that a thing segment is annotated iscrowd=1, in [0, 1].')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed; the same seed and flags '
                             'always produce the same bytes.')
_OVERWRITE = flags.DEFINE_bool('overwrite', False,
                               'Replace an existing dataset in --output_dir.')

# COCO-style sparse category ids: things first, then stuff.
CATEGORIES: Tuple[Dict[str, Any], ...] = (
    {'id': 1, 'name': 'disc', 'isthing': 1, 'color': [220, 40, 40]},
    {'id': 2, 'name': 'square', 'isthing': 1, 'color': [40, 90, 220]},
    {'id': 3, 'name': 'triangle', 'isthing': 1, 'color': [240, 200, 30]},
    {'id': 7, 'name': 'sky', 'isthing': 0, 'color': [120, 190, 240]},
    {'id': 8, 'name': 'grass', 'isthing': 0, 'color': [60, 150, 60]},
    {'id': 9, 'name': 'sand', 'isthing': 0, 'color': [200, 170, 120]},
)
_THINGS = [c for c in CATEGORIES if c['isthing']]
_STUFF = [c for c in CATEGORIES if not c['isthing']]


def _stuff_texture(category: Dict[str, Any], size: int,
                   rng: np.random.Generator) -> np.ndarray:
  """A [size, size, 3] float texture that identifies a stuff class."""
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  base = np.array(category['color'], np.float32)
  if category['name'] == 'sky':
    pattern = 20.0 * (yy / size)[..., None] * np.ones(3, np.float32)
  elif category['name'] == 'grass':
    pattern = 25.0 * np.sin(xx * 1.3 + yy * 0.2)[..., None] * np.array(
        [0.3, 1.0, 0.3], np.float32)
  else:
    pattern = 18.0 * ((np.floor(xx / 6) + np.floor(yy / 6)) % 2)[..., None]
  noise = rng.normal(0.0, 6.0, (size, size, 3)).astype(np.float32)
  return base + pattern + noise


def _thing_mask(category: Dict[str, Any], size: int,
                rng: np.random.Generator) -> np.ndarray:
  """A [size, size] bool mask of one randomly placed and sized shape."""
  radius = rng.uniform(0.08, 0.2) * size
  cy, cx = rng.uniform(radius, size - radius, 2)
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
  if category['name'] == 'disc':
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
  if category['name'] == 'square':
    return (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)
  # Upward triangle: apex at the top, base at the bottom of the box.
  top, bottom = cy - radius, cy + radius
  half_width = (yy - top) / (2 * radius) * radius
  return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)


def render_image(index: int, size: int, max_things: int,
                 crowd_probability: float, seed: int
                 ) -> Tuple[np.ndarray, np.ndarray, List[Dict[str, Any]]]:
  """Renders one image and its panoptic annotation.

  Args:
    index: image index; with `seed` it fully determines the output.
    size: image height and width.
    max_things: maximum number of thing instances.
    crowd_probability: probability of marking a thing segment as crowd.
    seed: dataset seed.

  Returns:
    (image uint8 [size, size, 3], panoptic id map int32 [size, size] with 0 =
    void, segments_info list in COCO panoptic format).
  """
  rng = np.random.default_rng([seed, index])
  image = np.zeros((size, size, 3), np.float32)
  labels = np.zeros((size, size), np.int32)  # index into `segments`, 0 = void
  segments: List[Tuple[Dict[str, Any], int]] = []

  # Stuff: two different classes split along a random, slightly tilted line.
  upper, lower = rng.choice(len(_STUFF), 2, replace=False)
  yy, xx = np.mgrid[0:size, 0:size]
  boundary = rng.uniform(0.3, 0.7) * size + rng.uniform(-0.2, 0.2) * (
      xx - size / 2)
  for region, stuff_index in ((yy < boundary, upper), (yy >= boundary, lower)):
    category = _STUFF[stuff_index]
    image[region] = _stuff_texture(category, size, rng)[region]
    segments.append((category, 0))
    labels[region] = len(segments)

  # Things: later instances are drawn over earlier ones.
  for _ in range(rng.integers(1, max_things + 1)):
    category = _THINGS[rng.integers(len(_THINGS))]
    mask = _thing_mask(category, size, rng)
    shade = rng.uniform(-25.0, 25.0)
    image[mask] = np.array(category['color'], np.float32) + shade
    crowd = int(rng.uniform() < crowd_probability)
    segments.append((category, crowd))
    labels[mask] = len(segments)

  image = np.clip(image + rng.normal(0.0, 4.0, image.shape), 0, 255)
  # Random, distinct COCO-style segment ids (RGB-encodable, nonzero).
  segment_ids = rng.choice(np.arange(1, 256 ** 3), len(segments),
                           replace=False)
  id_map = np.zeros((size, size), np.int32)
  segments_info = []
  for label, ((category, crowd), segment_id) in enumerate(
      zip(segments, segment_ids), start=1):
    mask = labels == label
    area = int(mask.sum())
    if area == 0:  # fully occluded
      continue
    rows, cols = np.nonzero(mask)
    id_map[mask] = segment_id
    segments_info.append({
        'id': int(segment_id),
        'category_id': category['id'],
        'iscrowd': crowd,
        'area': area,
        'bbox': [int(cols.min()), int(rows.min()),
                 int(cols.max() - cols.min() + 1),
                 int(rows.max() - rows.min() + 1)],
    })
  return image.astype(np.uint8), id_map, segments_info


def _id_map_to_rgb(id_map: np.ndarray) -> np.ndarray:
  """COCO panoptic PNG encoding: id = R + 256 G + 256^2 B."""
  return np.stack([id_map % 256, id_map // 256 % 256, id_map // 256 ** 2],
                  axis=-1).astype(np.uint8)


def write_split(output_dir: str, split: str, num_images: int, first_id: int,
                size: int, max_things: int, crowd_probability: float,
                seed: int) -> Dict[str, int]:
  """Writes one split; returns counts of images, segments and crowd segments."""
  image_dir = os.path.join(output_dir, f'{split}2017')
  png_dir = os.path.join(output_dir, 'annotations', f'panoptic_{split}2017')
  os.makedirs(image_dir)
  os.makedirs(png_dir)
  images, annotations = [], []
  counts = {'images': 0, 'segments': 0, 'crowd_segments': 0}
  for offset in range(num_images):
    image_id = first_id + offset
    image, id_map, segments_info = render_image(
        image_id, size, max_things, crowd_probability, seed)
    file_stem = f'{image_id:012d}'
    tf.io.write_file(os.path.join(image_dir, file_stem + '.jpg'),
                     tf.io.encode_jpeg(image, quality=95))
    tf.io.write_file(os.path.join(png_dir, file_stem + '.png'),
                     tf.io.encode_png(_id_map_to_rgb(id_map)))
    images.append({'id': image_id, 'file_name': file_stem + '.jpg',
                   'height': size, 'width': size})
    annotations.append({'image_id': image_id, 'file_name': file_stem + '.png',
                        'segments_info': segments_info})
    counts['images'] += 1
    counts['segments'] += len(segments_info)
    counts['crowd_segments'] += sum(s['iscrowd'] for s in segments_info)
  categories = [{k: c[k] for k in ('id', 'name', 'isthing', 'color')}
                | {'supercategory': 'shape' if c['isthing'] else 'texture'}
                for c in CATEGORIES]
  with open(os.path.join(output_dir, 'annotations',
                         f'panoptic_{split}2017.json'), 'w') as f:
    json.dump({'images': images, 'annotations': annotations,
               'categories': categories}, f)
  return counts


def _validate_flags():
  if _IMAGE_SIZE.value < 64:
    raise app.UsageError(f'--image_size must be >= 64, got {_IMAGE_SIZE.value}')
  if _MAX_THINGS.value < 1:
    raise app.UsageError(f'--max_things must be >= 1, got {_MAX_THINGS.value}')
  if not 0.0 <= _CROWD_PROBABILITY.value <= 1.0:
    raise app.UsageError('--crowd_probability must be in [0, 1], got '
                         f'{_CROWD_PROBABILITY.value}')
  if _NUM_TRAIN.value < 0 or _NUM_VAL.value < 0:
    raise app.UsageError('--num_train and --num_val must be >= 0')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  _validate_flags()
  output_dir = os.path.abspath(_OUTPUT_DIR.value)
  cli.check_writable(output_dir, '--output_dir')
  if os.path.exists(output_dir) and os.listdir(output_dir):
    if not _OVERWRITE.value:
      raise app.UsageError(f'{output_dir} is not empty; pass --overwrite to '
                           'replace it')
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  # Build in a sibling temporary directory and move it into place at the end,
  # so an interrupted run never leaves a half-written dataset behind.
  staging = tempfile.mkdtemp(prefix='.synthetic_coco_', dir=parent)
  try:
    summary = {}
    for split, num, first_id in (('train', _NUM_TRAIN.value, 1),
                                 ('val', _NUM_VAL.value, 1_000_001)):
      summary[split] = write_split(staging, split, num, first_id,
                                   _IMAGE_SIZE.value, _MAX_THINGS.value,
                                   _CROWD_PROBABILITY.value, _SEED.value)
    if os.path.exists(output_dir):
      shutil.rmtree(output_dir)
    os.rename(staging, output_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  for split, counts in summary.items():
    logging.info('%s: %d images, %d segments (%d crowd)', split,
                 counts['images'], counts['segments'], counts['crowd_segments'])
  print(f'wrote {output_dir}: ' + ', '.join(
      f"{split} {c['images']} images / {c['segments']} segments "
      f"({c['crowd_segments']} crowd)" for split, c in summary.items()))


if __name__ == '__main__':
  cli.run(main, required=['output_dir'], user_errors=(tf.errors.OpError,))
