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

r"""Padded pixels of a training recipe: one static canvas vs a set of canvases.

A recipe pads every augmented training image onto its static canvas
(`parser.output_size`). This tool measures how much of that canvas is padding
and how much less a set of canvases of other shapes would pad (issue 17),
where each image goes to the smallest canvas of the set that holds it and a
batch holds images of one canvas:

  1. draws --num_images original image sizes: from --image_sizes (an assumed
     distribution, see its help) or, with --annotation_file, the sizes in a
     COCO JSON's `images` list, in file order (repeated if the file has fewer
     images);
  2. augments each with the experiment's training parser (the pipeline's own
     `parse_fn`, so its augmentation type and parameters, e.g. detr_panoptic
     for the COCO recipe) on a blank uint8 image of that size, draw i with
     the stateless seed (--seed, i), and takes the augmented (content) size;
  3. assigns each content size to the canvas of the smallest area that holds
     it in each --canvases set (equal areas: the one listed first), as the
     training pipeline does with `parser.canvases` (`dataloaders.canvases`),
     and to --baseline_canvas alone;
  4. reports, per set: the share of the images on each canvas; the padded
     fraction per image, 1 - content area / canvas area, averaged; the
     padded fraction per batch of --batch images, 1 - sum(content areas) /
     (B * canvas area), averaged over the batches, where each canvas's images
     are batched in draw order and each canvas's last incomplete batch is
     dropped (as a training pipeline's `drop_remainder`); and the canvas
     pixels per image (what the backbone processes), also as a ratio to the
     baseline.

With one canvas shape per batch, the padded fraction per batch is the mean of
its images' padded fractions, so it differs from the per-image figure only by
the dropped images.

All sizes are HEIGHTxWIDTH, as `parser.output_size`: a landscape COCO image
640 wide and 480 high is 480x640, and 832x1344 is a landscape canvas.

Examples:
  python tools/canvas_padding.py --experiment=maskformer_coco_panoptic_r50 \
      --canvases=832x1344,1344x832 --batch=1,8
  python tools/canvas_padding.py --annotation_file=panoptic_train2017.json \
      --canvases=832x1344,1344x832 \
      --canvases=800x1088,1088x800,800x1344,1344x800
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
import json
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from absl import flags
import numpy as np
import tensorflow as tf
import tqdm

import experiment_flags
from projects.maskformer.dataloaders import canvases as canvas_set
from projects.maskformer.dataloaders import decoders
from projects.maskformer.dataloaders import input_pipeline
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.dataloaders import segmentation_parser

Size = Tuple[int, int]

# Assumed, not measured: COCO's images are at most 640 px on the long side,
# mostly 640 wide and 480 or 427 high, some 480 wide and 640 high.
DEFAULT_IMAGE_SIZES = '480x640:0.5,427x640:0.3,640x480:0.2'
# Images augmented per tf.data batch (and per progress-bar step).
_CHUNK = 64

_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags(
    default_experiment='maskformer_coco_panoptic_r50')
_IMAGE_SIZES = flags.DEFINE_string(
    'image_sizes', DEFAULT_IMAGE_SIZES,
    'Distribution of the original image sizes, HEIGHTxWIDTH:WEIGHT,...; '
    'weights are normalized. The default is an assumed distribution, not '
    'measured COCO statistics: landscape 480x640 (50%) and 427x640 (30%), '
    'portrait 640x480 (20%). Ignored with --annotation_file.')
_ANNOTATION_FILE = flags.DEFINE_string(
    'annotation_file', None,
    'COCO JSON (panoptic or instances): use the height and width of its '
    '`images`, in file order, repeated up to --num_images, instead of '
    '--image_sizes.')
_NUM_IMAGES = flags.DEFINE_integer(
    'num_images', 2000, 'Training images drawn and augmented.', lower_bound=1)
_SEED = flags.DEFINE_integer(
    'seed', 0, 'Seed of the size draws; draw i is augmented with the '
    'stateless seed (seed, i).')
_CANVASES = flags.DEFINE_multi_string(
    'canvases', ['832x1344,1344x832'],
    'A set of canvases HEIGHTxWIDTH,...; each image goes to the smallest one '
    'that holds it (equal areas: the first listed). Repeat the flag to '
    'compare several sets.')
_BASELINE_CANVAS = flags.DEFINE_string(
    'baseline_canvas', None,
    'The single canvas to compare with, HEIGHTxWIDTH; default: the '
    'experiment\'s training parser.output_size.')
_BATCH = flags.DEFINE_list(
    'batch', ['1', '2', '8'],
    'Per-replica batch sizes for the padded fraction per batch.')
_OUTPUT_JSON = flags.DEFINE_string(
    'output_json', None, 'Also write the results (and every draw\'s '
    'original and augmented size) to this JSON file.')
_PROGRESS = flags.DEFINE_boolean(
    'progress', True, 'Draw a progress bar of the augmentation on stderr.')


def parse_size(text: str, what: str) -> Size:
  """`HEIGHTxWIDTH` as (height, width) of positive ints.

  Args:
    text: the size, e.g. '832x1344'.
    what: how an error names the flag, e.g. '--canvases'.

  Raises:
    cli.UserError: not two positive integers joined by 'x'.
  """
  parts = text.strip().lower().split('x')
  if (len(parts) != 2 or not all(p.isdigit() for p in parts)
      or not all(int(p) > 0 for p in parts)):
    raise cli.UserError(f'bad {what} size {text!r}: expected HEIGHTxWIDTH '
                        'with positive integers, e.g. 832x1344')
  return int(parts[0]), int(parts[1])


def parse_canvases(text: str) -> List[Size]:
  """A --canvases value, `HEIGHTxWIDTH,...`, as a list of sizes."""
  canvases = [parse_size(t, '--canvases') for t in text.split(',')
              if t.strip()]
  if not canvases:
    raise cli.UserError('empty --canvases set')
  if len(set(canvases)) != len(canvases):
    raise cli.UserError(f'--canvases {text} lists a canvas twice')
  return canvases


def parse_distribution(text: str) -> Tuple[List[Size], np.ndarray]:
  """--image_sizes as (sizes, probabilities)."""
  sizes, weights = [], []
  for item in text.split(','):
    size, colon, weight = item.partition(':')
    try:
      value = float(weight)
    except ValueError:
      value = -1.0
    if not colon or not value > 0 or not np.isfinite(value):
      raise cli.UserError(f'bad --image_sizes item {item!r}: expected '
                          'HEIGHTxWIDTH:WEIGHT with a positive weight')
    sizes.append(parse_size(size, '--image_sizes'))
    weights.append(value)
  return sizes, np.array(weights) / np.sum(weights)


def parse_batches(values: Sequence[str]) -> List[int]:
  """--batch as positive ints."""
  if not values:
    raise cli.UserError('--batch needs at least one batch size')
  if not all(v.strip().isdigit() and int(v) > 0 for v in values):
    raise cli.UserError(f'bad --batch {",".join(values)}: expected positive '
                        'integers, e.g. 1,8')
  return [int(v) for v in values]


def annotation_sizes(path: str) -> List[Size]:
  """The (height, width) of every image of a COCO JSON, in file order.

  Raises:
    cli.UserError: missing, not JSON, or no `images` with integer height
      and width.
  """
  if not tf.io.gfile.exists(path):
    raise cli.UserError(f'--annotation_file {path} does not exist')
  with tf.io.gfile.GFile(path, 'r') as f:
    try:
      images = json.load(f).get('images')
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
      raise cli.UserError(f'--annotation_file {path} is not a COCO JSON '
                          f'object: {e}') from e
  if not images:
    raise cli.UserError(f'--annotation_file {path} has no images')
  try:
    sizes = [(int(image['height']), int(image['width'])) for image in images]
  except (KeyError, TypeError, ValueError) as e:
    raise cli.UserError(f'--annotation_file {path}: an image has no integer '
                        f'height and width ({e!r})') from e
  if min(min(s) for s in sizes) < 1:
    raise cli.UserError(f'--annotation_file {path}: an image has an empty '
                        'size')
  return sizes


def draw_sizes(num_images: int, seed: int) -> np.ndarray:
  """The original (height, width) of every draw, int32 [num_images, 2].

  Raises:
    cli.UserError: a bad --image_sizes or --annotation_file.
  """
  if _ANNOTATION_FILE.value:
    sizes = annotation_sizes(_ANNOTATION_FILE.value)
    return np.array([sizes[i % len(sizes)] for i in range(num_images)],
                    np.int32)
  sizes, probabilities = parse_distribution(_IMAGE_SIZES.value)
  choices = np.random.default_rng(seed).choice(len(sizes), num_images,
                                               p=probabilities)
  return np.array(sizes, np.int32)[choices]


def augmented_sizes(parser: segmentation_parser.Parser,
                    original_sizes: np.ndarray, seed: int,
                    show_progress: bool) -> np.ndarray:
  """The content size of every draw after the parser's training augmentation.

  Args:
    parser: the experiment's training parser.
    original_sizes: int32 [N, 2] (height, width) of the original images.
    seed: draw i is augmented with the stateless seed (seed, i).
    show_progress: whether to draw a progress bar on stderr.

  Returns:
    An int32 [N, 2] array: the augmented (height, width), the size the
    parser pads onto its canvas (its `image_info` row 1).
  """
  parse = parser.parse_fn(is_training=True)

  def content_size(index, size):
    # A blank image with one segment: the sizes depend on the seed alone.
    decoded = {
        decoders.IMAGE: tf.zeros([size[0], size[1], 3], tf.uint8),
        maskformer_input.SEGMENT_MAP: tf.zeros(size, tf.int32),
        maskformer_input.SEGMENT_CLASSES: tf.zeros([1], tf.int32),
        maskformer_input.SEGMENT_IS_CROWD: tf.zeros([1], tf.bool),
        maskformer_input.IMAGE_ID: index,
        segmentation_parser.AUGMENTATION_SEED: tf.stack(
            [tf.constant(seed, tf.int64), index]),
    }
    _, labels = parse(decoded)
    return tf.cast(labels[maskformer_input.IMAGE_INFO][1], tf.int32)

  dataset = tf.data.Dataset.from_tensor_slices(
      (tf.range(len(original_sizes), dtype=tf.int64), original_sizes)).map(
          content_size, num_parallel_calls=tf.data.AUTOTUNE,
          deterministic=True).batch(_CHUNK)
  sizes = []
  with tqdm.tqdm(total=len(original_sizes), desc='augmenting', unit='image',
                 disable=not show_progress) as progress:
    for chunk in dataset:
      sizes.append(chunk.numpy())
      progress.update(len(sizes[-1]))
  return np.concatenate(sizes)


def batch_padded_fractions(content_areas: np.ndarray, assignment: np.ndarray,
                           canvas_areas: np.ndarray, batch: int) -> np.ndarray:
  """The padded fraction of every full batch of one canvas, in draw order.

  Args:
    content_areas: float [N], each draw's content area.
    assignment: int [N], each draw's canvas index.
    canvas_areas: float [K], the canvases' areas.
    batch: images per batch.

  Returns:
    A float array, 1 - sum(content areas) / (batch * canvas area) for each
    batch; each canvas's last incomplete batch is dropped.
  """
  fractions = []
  for k, canvas_area in enumerate(canvas_areas):
    areas = content_areas[assignment == k]
    full = len(areas) // batch * batch
    per_batch = areas[:full].reshape(-1, batch).sum(axis=1)
    fractions.append(1.0 - per_batch / (batch * canvas_area))
  return np.concatenate(fractions)


def size_text(canvases: Sequence[Size]) -> str:
  """A set of canvases as text, e.g. '{832x1344, 1344x832}'."""
  return '{' + ', '.join(f'{h}x{w}' for h, w in canvases) + '}'


def padding_report(content_sizes: np.ndarray, canvases: Sequence[Size],
                   batches: Sequence[int]) -> Dict[str, Any]:
  """How much one set of canvases pads the content sizes.

  Args:
    content_sizes: int [N, 2] (height, width) of the augmented images.
    canvases: the set of canvases (height, width).
    batches: per-replica batch sizes.

  Returns:
    A dict: 'canvases'; 'images_per_canvas' (share of the images on each,
    keyed 'HxW'); 'padded_fraction_per_image' (mean); 'padded_fraction_per_
    batch' ({B: {'mean': mean or None if no full batch, 'batches': count}});
    'canvas_pixels_per_image' (mean canvas area).

  Raises:
    cli.UserError: some content size fits no canvas of the set.
  """
  assignment = canvas_set.assign(content_sizes, canvases).numpy()
  if np.any(assignment < 0):
    unfit = content_sizes[assignment < 0]
    largest = tuple(unfit[np.argmax(unfit.prod(axis=1))])
    raise cli.UserError(
        f'{len(unfit)} of {len(content_sizes)} augmented images fit no canvas '
        f'of {size_text(canvases)} (the largest: {largest[0]}x{largest[1]}); '
        'add a canvas that holds them')
  content_areas = content_sizes.prod(axis=1).astype(np.float64)
  canvas_areas = np.array([h * w for h, w in canvases], np.float64)
  image_canvas_areas = canvas_areas[assignment]
  per_batch = {}
  for batch in batches:
    fractions = batch_padded_fractions(content_areas, assignment,
                                       canvas_areas, batch)
    per_batch[str(batch)] = {
        'mean': float(fractions.mean()) if len(fractions) else None,
        'batches': len(fractions)}
  return {
      'canvases': [list(c) for c in canvases],
      'images_per_canvas': {
          f'{h}x{w}': float(np.mean(assignment == k))
          for k, (h, w) in enumerate(canvases)},
      'padded_fraction_per_image': float(
          np.mean(1.0 - content_areas / image_canvas_areas)),
      'padded_fraction_per_batch': per_batch,
      'canvas_pixels_per_image': float(image_canvas_areas.mean()),
  }


def table(results: Dict[str, Any]) -> str:
  """The reports as a markdown table, the baseline first."""
  batches = list(results['baseline']['padded_fraction_per_batch'])
  baseline_pixels = results['baseline']['canvas_pixels_per_image']
  lines = [
      '| canvases (HxW) | images per canvas | padded, per image (mean) | ' +
      ' | '.join(f'padded, per batch of {b} (mean)' for b in batches) +
      ' | canvas pixels per image | vs baseline |',
      '|---|---|---|' + '---|' * len(batches) + '---|---|',
  ]
  for name, report in ([('baseline', results['baseline'])] +
                       [('', r) for r in results['sets']]):
    shares = ', '.join(f'{canvas} {share:.1%}' for canvas, share
                       in report['images_per_canvas'].items())
    per_batch = ' | '.join(
        '-' if v['mean'] is None else f'{v["mean"]:.3f} ({v["batches"]})'
        for v in report['padded_fraction_per_batch'].values())
    label = (f'{name}: ' if name else '') + size_text(report['canvases'])
    pixels = report['canvas_pixels_per_image']
    lines.append(f'| {label} | {shares} | '
                 f'{report["padded_fraction_per_image"]:.3f} | {per_batch} | '
                 f'{pixels:,.0f} | {pixels / baseline_pixels:.3f} |')
  return '\n'.join(lines)


def summary(results: Dict[str, Any]) -> str:
  """One paragraph: where the sizes came from and what they became."""
  content = np.array(results['augmented_sizes'])
  heights, widths = content[:, 0], content[:, 1]
  return (
      f'{results["experiment"]}: {results["num_images"]} training images, '
      f'sizes from {results["size_source"]}, augmentation '
      f'{results["augmentation"]}, seed {results["seed"]}. Augmented: '
      f'{np.mean(widths > heights):.1%} landscape, '
      f'{np.mean(widths < heights):.1%} portrait, '
      f'{np.mean(widths == heights):.1%} square; height '
      f'{heights.min()}-{heights.max()}, width {widths.min()}-{widths.max()}; '
      f'mean content {results["content_pixels_per_image"]:,.0f} pixels per '
      'image. In parentheses: the number of full batches.')


def measure(original: np.ndarray, canvas_sets: Sequence[Sequence[Size]],
            baseline: Optional[Size], batches: Sequence[int]
            ) -> Dict[str, Any]:
  """Augments the draws, reports every canvas set and the baseline.

  Args:
    original: int32 [N, 2], the original (height, width) of the draws.
    canvas_sets: the --canvases sets.
    baseline: the baseline canvas; None: the experiment's.
    batches: per-replica batch sizes.

  Returns:
    The results (see `padding_report`), with the draws' sizes.

  Raises:
    cli.UserError: a bad experiment, or a canvas that holds too little.
  """
  try:
    params = experiment_flags.load_experiment(_EXPERIMENT_FLAGS)
    parser = input_pipeline.build_parser(params.task.train_data)
  except ValueError as e:
    raise cli.UserError(str(e)) from e
  parser_config = params.task.train_data.parser
  if baseline is None:
    if not parser_config.output_size or None in parser_config.output_size:
      raise cli.UserError('the experiment has no static training canvas; '
                          'give --baseline_canvas')
    baseline = tuple(parser_config.output_size)
  content = augmented_sizes(parser, original, _SEED.value, _PROGRESS.value)
  return {
      'experiment': _EXPERIMENT_FLAGS.experiment.value,
      'augmentation': parser_config.augmentation.type,
      'size_source': (f'--annotation_file {_ANNOTATION_FILE.value}'
                      if _ANNOTATION_FILE.value else
                      f'--image_sizes {_IMAGE_SIZES.value} (assumed)'),
      'num_images': len(original),
      'seed': _SEED.value,
      'content_pixels_per_image': float(content.prod(axis=1).mean()),
      'baseline': padding_report(content, [baseline], batches),
      'sets': [padding_report(content, c, batches) for c in canvas_sets],
      'original_sizes': original.tolist(),
      'augmented_sizes': content.tolist(),
  }


def main(argv):
  if len(argv) > 1:
    raise cli.UserError(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.check_writable(_OUTPUT_JSON.value, '--output_json')
  canvas_sets = [parse_canvases(text) for text in _CANVASES.value]
  baseline = (parse_size(_BASELINE_CANVAS.value, '--baseline_canvas')
              if _BASELINE_CANVAS.value else None)
  batches = parse_batches(_BATCH.value)
  original = draw_sizes(_NUM_IMAGES.value, _SEED.value)
  results = measure(original, canvas_sets, baseline, batches)
  print(summary(results))
  print(table(results))
  cli.write_json(_OUTPUT_JSON.value, results)


if __name__ == '__main__':
  cli.run(main, user_errors=(tf.errors.OpError,))
