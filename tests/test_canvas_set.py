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

"""Training on a set of canvases: routing, cropping, schedule, trainer."""
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer import canvas_trainer
from projects.maskformer import train as train_driver
from projects.maskformer.dataloaders import canvases
from projects.maskformer.dataloaders import input_pipeline
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.tasks import maskformer_segmentation
from tests import synthetic_data

# Landscape and portrait canvases of equal area, and the square that holds
# both (the parser's output_size).
LANDSCAPE, PORTRAIT = (40, 64), (64, 40)
CANVAS_SET = [{'height': 40, 'width': 64, 'weight': 0.5},
              {'height': 64, 'width': 40, 'weight': 0.5}]
# detr_panoptic on the 64 x 64 synthetic images: squares of 32 or 40 without
# the crop, rectangles of either orientation (long edge at most 60) with it,
# so every image fits one canvas of the set.
AUGMENTATION = {'type': 'detr_panoptic', 'detr_panoptic': {
    'flip_prob': 0.5, 'crop_prob': 0.5, 'crop_short_edges': [32],
    'crop_size_range': [16, 32], 'short_edges': [32, 40], 'max_size': 60}}


@pytest.fixture(scope='module')
def records(tmp_path_factory):
  return synthetic_data.build_records(tmp_path_factory.mktemp('synthetic'),
                                      num_train=6, num_val=2)


def _experiment(records, canvas_set=None, batch=1):
  params = synthetic_data.tiny_experiment(records, train_batch=batch)
  params.task.model.input_size = [None, None, 3]
  params.task.train_data.parser.override(
      {'augmentation': AUGMENTATION,
       'canvases': CANVAS_SET if canvas_set is None else canvas_set},
      is_strict=True)
  return params


def test_assignment_by_hand():
  sizes = [[30, 60], [60, 30], [40, 40], [64, 10], [40, 64], [65, 1]]
  np.testing.assert_array_equal(
      canvases.assign(sizes, [LANDSCAPE, PORTRAIT]), [0, 1, 0, 1, 0, -1])
  # The smaller canvas wins; equal areas go to the first listed.
  np.testing.assert_array_equal(
      canvases.assign(sizes, [(64, 64), LANDSCAPE]), [1, 0, 1, 0, 1, -1])


def test_bad_canvas_sets_fail_clearly(records):
  def error(canvas_set, **data):
    params = _experiment(records, canvas_set)
    params.task.train_data.override(data, is_strict=True)
    with pytest.raises(ValueError) as info:
      input_pipeline.build_input(params.task.train_data, canvas_index=0)
    return str(info.value)

  assert 'must be the smallest canvas that holds' in error(
      [{'height': 40, 'width': 40, 'weight': 1.0}])
  assert 'lists a canvas twice' in error(CANVAS_SET + CANVAS_SET[:1])
  assert 'positive height, width and weight' in error(
      [dict(CANVAS_SET[0], weight=0.0), CANVAS_SET[1]])
  assert 'train_data.seed' in error(CANVAS_SET, seed=None)
  assert 'must be a multiple of it' in error(
      CANVAS_SET, parser={'padding_exact': True, 'size_divisibility': 16})
  params = _experiment(records)
  with pytest.raises(ValueError, match='its own input pipeline'):
    input_pipeline.build_input(params.task.train_data)
  with pytest.raises(ValueError, match='canvas_index 2 is not one of'):
    input_pipeline.build_input(params.task.train_data, canvas_index=2)
  validation = params.task.validation_data.replace(
      parser={'canvases': CANVAS_SET})
  with pytest.raises(ValueError, match='for training data'):
    input_pipeline.build_input(validation, canvas_index=0)


def _examples(dataset, count):
  return [tf.nest.map_structure(lambda t: t[0].numpy(), batch)
          for batch in dataset.take(count)]


def test_each_canvas_pipeline_keeps_its_images_cut_to_its_canvas(records):
  """Against the single-canvas pipeline with the same seed: canvas k yields,
  in order, exactly the examples assigned to k, cut to k's shape."""
  single = _examples(input_pipeline.build_input(
      _experiment(records, canvas_set=[]).task.train_data), 24)
  params = _experiment(records)
  expected = {0: [], 1: []}
  for image, labels in single:
    size = canvases.content_size(labels).numpy()
    expected[int(canvases.assign(size, [LANDSCAPE, PORTRAIT]))].append(
        (image, labels))
  assert expected[0] and expected[1], 'the augmentation gave one orientation'
  for k, canvas in enumerate((LANDSCAPE, PORTRAIT)):
    got = _examples(input_pipeline.build_input(
        params.task.train_data, canvas_index=k), len(expected[k]))
    for (image, labels), (want_image, want_labels) in zip(got, expected[k]):
      assert image.shape[:2] == canvas
      np.testing.assert_array_equal(
          image, want_image[:canvas[0], :canvas[1]])
      # Only padding was cut.
      assert not want_labels[maskformer_input.PIXEL_MASK][canvas[0]:].any()
      assert not want_labels[maskformer_input.PIXEL_MASK][
          :, canvas[1]:].any()
      for key, value in want_labels.items():
        if key in (maskformer_input.PIXEL_MASK, maskformer_input.SEGMENT_MAP):
          value = value[:canvas[0], :canvas[1]]
        np.testing.assert_array_equal(labels[key], value, err_msg=key)


def test_schedule_is_a_function_of_the_step_with_the_weights_share():
  weights = np.array([0.75, 0.25])
  steps = [canvases.canvas_at_step(s, 3, weights) for s in range(4000)]
  assert steps == [canvases.canvas_at_step(s, 3, weights)
                   for s in range(4000)]
  assert abs(np.mean(np.equal(steps, 0)) - 0.75) < 0.03
  runs = canvases.schedule_runs(100, 50, 3, weights)
  assert sum(length for _, length in runs) == 50
  assert [k for k, length in runs for _ in range(length)] == steps[100:150]
  assert all(a[0] != b[0] for a, b in zip(runs, runs[1:]))
  assert steps != [canvases.canvas_at_step(s, 4, weights)
                   for s in range(4000)]


def test_trainer_runs_the_scheduled_canvases_one_program_each(records):
  params = _experiment(records)
  params.trainer.train_tf_while_loop = True
  strategy = tf.distribute.get_strategy()
  task = maskformer_segmentation.MaskFormerSegmentationTask(params.task)
  fixed_size = params.replace(task={'model': {'input_size': [64, 64, 3]}})
  with pytest.raises(ValueError, match='a model of any input size'):
    canvas_trainer.CanvasSetTrainer(fixed_size, task, None, None)
  trainer = train_driver.build_trainer(params, task, 'train', '', strategy)
  assert isinstance(trainer, canvas_trainer.CanvasSetTrainer)
  shapes = []
  train_step = task.train_step

  def recording_step(inputs, **kwargs):
    shapes.append(tuple(inputs[0].shape[1:3]))  # At tracing time.
    return train_step(inputs, **kwargs)

  task.train_step = recording_step
  num_steps = 6
  runs = canvases.schedule_runs(0, num_steps, 0, np.array([0.5, 0.5]))
  assert len({k for k, _ in runs}) == 2
  logs = trainer.train(tf.constant(num_steps))
  assert int(trainer.global_step.numpy()) == num_steps
  assert np.isfinite(float(logs['training_loss']))
  first_use = list(dict.fromkeys(k for k, _ in runs))
  assert shapes == [(LANDSCAPE, PORTRAIT)[k] for k in first_use]
  logs = trainer.train(tf.constant(2))
  assert int(trainer.global_step.numpy()) == num_steps + 2
  assert len(shapes) == 2  # No new program.
