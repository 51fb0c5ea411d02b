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

"""A set of training canvases (`Parser.canvases`): routing and schedule.

A single square canvas pads most of every image (the COCO recipe: a typical
augmented landscape image of 800 x 1067 on 1344 x 1344). With a set of
canvases, e.g. landscape 832 x 1344 and portrait 1344 x 832, as detectron2
groups images by aspect ratio:

  * each augmented image goes to the canvas of the smallest area that holds
    it (`assign`; equal areas: the first listed). The parser augments and
    pads onto `output_size`, the smallest canvas that holds the whole set,
    and the image is then cropped to its canvas (`crop`): what it computes
    is the same, only the padding shrinks;
  * the input pipeline of canvas k keeps the images assigned to k and
    batches them (`input_pipeline.build_input(..., canvas_index=k)`); each
    canvas has its own pipeline, which reads and augments every image and
    keeps its share (the augmentation of an image depends on its seed only,
    so the pipelines agree on where each image goes);
  * the canvas of global step s is drawn from the canvases' weights with a
    generator seeded by (`canvas_schedule_seed`, s) (`canvas_at_step`): the
    same on every host and replica, after a restart too, so that
    `TPUStrategy` and multi-worker steps stay SPMD. Model Garden's trainer
    then runs each run of consecutive steps on one canvas
    (`schedule_runs`) in the train loop compiled for that canvas
    (`canvas_trainer`).
"""
from typing import Dict
from typing import List
from typing import Sequence
from typing import Tuple

import numpy as np
import tensorflow as tf

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.dataloaders import maskformer_input

Size = Tuple[int, int]


def sizes(parser: data_cfg.Parser) -> List[Size]:
  """The (height, width) of each canvas of `parser.canvases`."""
  return [(int(c.height), int(c.width)) for c in parser.canvases]


def weights(parser: data_cfg.Parser) -> np.ndarray:
  """The canvases' normalized weights, float64 [K]."""
  values = np.array([float(c.weight) for c in parser.canvases], np.float64)
  return values / values.sum()


def check(parser: data_cfg.Parser) -> None:
  """Checks a canvas set (nothing to check when it is empty).

  Raises:
    ValueError: a non-positive size or weight, a canvas listed twice,
      or `output_size` other than the smallest canvas holding every canvas
      of the set.
  """
  if not parser.canvases:
    return
  canvas_sizes = sizes(parser)
  for canvas in parser.canvases:
    if canvas.height < 1 or canvas.width < 1 or not canvas.weight > 0:
      raise ValueError(
          f'parser.canvases: each canvas needs a positive height, width and '
          f'weight, got {canvas.as_dict()}')
  if len(set(canvas_sizes)) != len(canvas_sizes):
    raise ValueError(f'parser.canvases lists a canvas twice: {canvas_sizes}')
  union = [max(s[0] for s in canvas_sizes), max(s[1] for s in canvas_sizes)]
  if list(parser.output_size) != union:
    raise ValueError(
        f'parser.canvases {canvas_sizes}: the images are augmented and '
        f'padded onto output_size, which must be the smallest canvas that '
        f'holds every canvas of the set, {union}; got '
        f'{list(parser.output_size)}')


def assign(image_sizes: tf.Tensor, canvas_sizes: Sequence[Size]) -> tf.Tensor:
  """The canvas of each image: the smallest area that holds it.

  Args:
    image_sizes: An int [..., 2] tensor of (height, width).
    canvas_sizes: The (height, width) of the canvases.

  Returns:
    An int32 [...] tensor: each image's index into `canvas_sizes` (equal
    areas: the first listed), -1 where no canvas holds it.
  """
  image_sizes = tf.convert_to_tensor(image_sizes)
  assignment = tf.fill(tf.shape(image_sizes)[:-1], -1)
  by_area = sorted(range(len(canvas_sizes)),
                   key=lambda k: canvas_sizes[k][0] * canvas_sizes[k][1])
  for k in by_area:
    fits = tf.reduce_all(
        image_sizes <= tf.constant(canvas_sizes[k], image_sizes.dtype),
        axis=-1)
    assignment = tf.where((assignment < 0) & fits, k, assignment)
  return assignment


def content_size(labels: Dict[str, tf.Tensor]) -> tf.Tensor:
  """The augmented image's int32 (height, width) on the canvas."""
  return tf.cast(tf.round(labels[maskformer_input.IMAGE_INFO][1]), tf.int32)


def keeps(labels: Dict[str, tf.Tensor], canvas_sizes: Sequence[Size],
          canvas_index: int) -> tf.Tensor:
  """Whether a parsed example goes to canvas `canvas_index`.

  Raises (when run):
    tf.errors.InvalidArgumentError: the image fits no canvas of the set.
  """
  size = content_size(labels)
  assignment = assign(size, canvas_sizes)
  check_fits = tf.debugging.Assert(assignment >= 0, [
      f'an augmented training image fits none of parser.canvases '
      f'{list(canvas_sizes)}; add a canvas that holds it (e.g. output_size). '
      f'Its image id and size:', labels[maskformer_input.IMAGE_ID], size])
  with tf.control_dependencies([check_fits]):
    return tf.equal(assignment, canvas_index)


def crop(image: tf.Tensor, labels: Dict[str, tf.Tensor], canvas: Size
         ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
  """A parsed training example cut from `output_size` to its canvas.

  The image is at the top-left, inside `canvas` (`assign`), so only
  padding is cut: the image and the per-pixel labels ('pixel_mask',
  'segment_map') become [canvas h, canvas w, ...].
  """
  height, width = canvas
  labels = dict(labels)
  for key in (maskformer_input.PIXEL_MASK, maskformer_input.SEGMENT_MAP):
    labels[key] = labels[key][:height, :width]
  return image[:height, :width], labels


def canvas_at_step(step: int, seed: int, canvas_weights: np.ndarray) -> int:
  """The canvas index of global step `step` (the same on every host)."""
  generator = np.random.Generator(np.random.PCG64(
      np.random.SeedSequence([int(seed), int(step)])))
  return int(generator.choice(len(canvas_weights), p=canvas_weights))


def schedule_runs(start: int, num_steps: int, seed: int,
                  canvas_weights: np.ndarray) -> List[Tuple[int, int]]:
  """Steps [start, start + num_steps) as runs of consecutive steps.

  Returns:
    [(canvas index, number of steps), ...] in step order, each run as long
    as the schedule stays on its canvas.
  """
  runs = []
  for step in range(start, start + num_steps):
    canvas = canvas_at_step(step, seed, canvas_weights)
    if runs and runs[-1][0] == canvas:
      runs[-1] = (canvas, runs[-1][1] + 1)
    else:
      runs.append((canvas, 1))
  return runs
