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

"""Training parity against a training-run fixture.

The fixture (README "training/") is a short PyTorch training run. Training is
chaotic, so parity is checked in three exact parts and one loose one:

  1. `step0_checks`: step 0 with the reference matchings
     (`matchings_step0.npz` passed to the criterion): every loss term and the
     total within a relative 1e-5 of `history[0]`, and every gradient tensor
     within `1e-4 * ||reference||` (L2 of the difference against L2 of the
     reference gradient). The reference gradients are brought to the TF
     variables' layouts with the checkpoint converter's mapping
     (`model_mapping`: transposes and q/k/v splits only move elements, so the
     norms are those of the PyTorch tensors).
  2. `replay_checks`: `gradients.npz` fed step by step to `MaskFormerAdamW`
     (built from the json's lr, betas, eps, weight decay, backbone multiplier
     and clip norm) from `weights_initial.pkl` reproduces `weights_final.pkl`
     within `1e-6 * max(1, |w|)`.
  3. `free_running_checks`: the real training step, `MaskFormerSegmentationTask
     .train_step` (our own matchings and gradients), on the batch in the input
     pipeline's format, from `weights_initial.pkl`: every step's total loss
     within a relative 5e-2 of `history[k].total`, and the loss falls from the
     first to the last step exactly when the reference's does.

Every part builds the json's architecture (`fixture.model_config`) through
the task's `build_model` and loads `weights_initial.pkl` strictly.
"""
import dataclasses
from typing import Dict
from typing import List
from typing import Sequence
from typing import Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from projects.maskformer import optimization as mf_optimization
from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.configs import maskformer as exp_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.dataloaders import targets as targets_lib
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import loss_parity
from projects.maskformer.tasks import maskformer_segmentation

STEP0_LOSS_TOLERANCE = 1e-5  # relative
GRADIENT_TOLERANCE = 1e-4  # x ||reference gradient||
REPLAY_TOLERANCE = 1e-6  # x max(1, |w|)
TRAJECTORY_TOLERANCE = 5e-2  # relative


def task_config(fixture: fixture_lib.TrainingFixture
                ) -> exp_cfg.MaskFormerTask:
  """The task config of the run: its architecture and loss weights."""
  return exp_cfg.MaskFormerTask(
      model=fixture_lib.model_config(fixture.config),
      losses=fixture_lib.losses_config(fixture.trajectory))


def optimization_config(fixture: fixture_lib.TrainingFixture
                        ) -> mf_optimization.OptimizationConfig:
  """`MaskFormerAdamW` with the json's hyperparameters, constant lr.

  The weight-decay exclusions and the backbone variables are the model's
  defaults (norm parameters and the query embedding; `backbone/`), which
  select what the recipe selects (tests/test_optimization.py).
  """
  spec = fixture.trajectory['optimizer']
  return mf_optimization.OptimizationConfig({
      'optimizer': {
          'type': 'maskformer_adamw',
          'maskformer_adamw': {
              'beta_1': float(spec['betas'][0]),
              'beta_2': float(spec['betas'][1]),
              'epsilon': float(spec['eps']),
              'weight_decay_rate': float(spec['weight_decay']),
              'backbone_lr_multiplier': float(spec['backbone_lr_multiplier']),
              'global_clipnorm': spec['full_model_grad_clip_norm'],
          },
      },
      'learning_rate': {'type': 'constant',
                        'constant': {'learning_rate': float(spec['lr'])}},
  })


def build_task_and_model(fixture: fixture_lib.TrainingFixture
                         ) -> Tuple[maskformer_segmentation
                                    .MaskFormerSegmentationTask,
                                    tf_keras.Model]:
  """The task of the run and its model holding `weights_initial.pkl`.

  Raises:
    converter.CheckpointMismatchError: the weights do not fit the json's
      architecture.
  """
  task = maskformer_segmentation.MaskFormerSegmentationTask(
      task_config(fixture))
  model = task.build_model()
  converter.convert_model(model, fixture.weights_initial_path)
  return task, model


def training_batch(fixture: fixture_lib.TrainingFixture
                   ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """The fixed batch in the input pipeline's format (the parser contract).

  Images are normalized and zero-padded to the batch maximum (rounded up to
  `size_divisibility`); `segment_map` holds each pixel's ground-truth slot
  (-1 elsewhere), built from the disjoint `gt_masks_i`; no segment is crowd.

  Returns:
    (images, labels): a float32 [B, H, W, 3] array and a dict of
    `pixel_mask` (bool [B, H, W]), `segment_map` (int32 [B, H, W]),
    `segment_classes` (int32 [B, T]), `segment_is_crowd` and `segment_valid`
    (bool [B, T]), `image_info` (float32 [B, 4, 2]) and `image_id` (int32
    [B]), T being the largest number of segments of an image.

  Raises:
    FixtureError: missing arrays, or masks that overlap or do not fit.
  """
  batch = fixture.batch
  images = fixture_lib.per_image(batch, 'image')
  masks = fixture_lib.per_image(batch, 'gt_masks')
  classes = fixture_lib.per_image(batch, 'gt_classes')
  source = fixture.path / 'batch.npz'
  if not images or len(masks) != len(images) or len(classes) != len(images):
    raise fixture_lib.FixtureError(
        f'{source}: expected image_i, gt_masks_i and gt_classes_i for every '
        f'image; got {len(images)}, {len(masks)}, {len(classes)}')
  padded = fixture_lib.normalized_padded_images(
      images, int(fixture.config.get('size_divisibility', 0)))
  num_images, height, width = padded.shape[:3]
  num_slots = max(1, max(len(c) for c in classes))
  labels = {
      maskformer_input.PIXEL_MASK: np.zeros((num_images, height, width), bool),
      maskformer_input.SEGMENT_MAP: np.full((num_images, height, width), -1,
                                            np.int32),
      maskformer_input.SEGMENT_CLASSES: np.zeros((num_images, num_slots),
                                                 np.int32),
      maskformer_input.SEGMENT_IS_CROWD: np.zeros((num_images, num_slots),
                                                  bool),
      maskformer_input.SEGMENT_VALID: np.zeros((num_images, num_slots), bool),
      maskformer_input.IMAGE_INFO: np.zeros((num_images, 4, 2), np.float32),
      maskformer_input.IMAGE_ID: np.arange(num_images, dtype=np.int32),
  }
  for b, (image, image_masks) in enumerate(zip(images, masks)):
    image_height, image_width = image.shape[:2]
    if (image_masks.shape[1:] != (image_height, image_width) or
        len(image_masks) != len(classes[b])):
      raise fixture_lib.FixtureError(
          f'{source}: gt_masks_{b} {list(image_masks.shape)} does not fit '
          f'image_{b} {list(image.shape)} and {len(classes[b])} classes')
    if np.any(image_masks.sum(axis=0) > 1):
      raise fixture_lib.FixtureError(
          f'{source}: gt_masks_{b} overlap; panoptic segments are disjoint')
    segment_map = labels[maskformer_input.SEGMENT_MAP][b]
    for slot, mask in enumerate(image_masks):
      segment_map[:image_height, :image_width][mask] = slot
    labels[maskformer_input.PIXEL_MASK][b, :image_height, :image_width] = True
    labels[maskformer_input.SEGMENT_CLASSES][b, :len(classes[b])] = classes[b]
    labels[maskformer_input.SEGMENT_VALID][b, :len(classes[b])] = True
    labels[maskformer_input.IMAGE_INFO][b] = [
        [image_height, image_width], [image_height, image_width], [1.0, 1.0],
        [0.0, 0.0]]
  return padded, labels


def _step0_matchings(fixture: fixture_lib.TrainingFixture, num_layers: int,
                     num_images: int, num_slots: int) -> np.ndarray:
  """`matchings_step0.npz` as an int32 [L, B, T] array, final layer first."""
  matchings = []
  for layer in range(num_layers):
    key = fixture_lib.layer_key(layer)
    matching = fixture_lib.stored_matching(
        fixture.matchings_step0, f'match_{key}_img{{b}}', num_images,
        num_slots)
    if matching is None:
      raise fixture_lib.FixtureError(
          f'{fixture.path / "matchings_step0.npz"}: no matching of layer '
          f'{key} (match_{key}_img<b>_src/_tgt) for {num_images} images')
    matchings.append(matching)
  return np.stack(matchings)


def _canonical(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """PyTorch names (current, legacy or `transformers`) -> canonical names."""
  return {name: tensor.value for name, tensor in
          name_mapping.to_canonical(state).tensors.items()}


def gradient_checks(model: tf_keras.Model, gradients: Sequence[tf.Tensor],
                    reference: Dict[str, np.ndarray],
                    prefix: str) -> List[checks_lib.Check]:
  """Each reference gradient tensor against ours (L2, relative 1e-4).

  Args:
    model: the model; `gradients` are aligned with its trainable variables.
    gradients: our gradients (None for a variable without one).
    reference: {PyTorch parameter name: gradient}, PyTorch layouts.
    prefix: the check names' prefix.

  Returns:
    `<prefix>names` (trainable parameters whose presence differs between
    ours and the reference), then one check per reference tensor.
  """
  targets = model_mapping.maskformer_targets(model)
  ours = {v.ref(): g for v, g in zip(model.trainable_variables, gradients)
          if g is not None}
  reference = _canonical(reference)
  trainable = {v.ref() for v in model.trainable_variables}
  expected = {name for name, target in targets.items()
              if all(v.ref() in trainable for v in target.variables)}
  differing = sorted(expected ^ set(reference))
  names_check = checks_lib.compare_count(prefix + 'names', len(differing),
                                         len(set(reference) | expected))
  if differing:
    names_check = dataclasses.replace(
        names_check, detail=f'trainable parameters on one side only: '
        f'{differing[:5]}')
  results = [names_check]
  for name, value in reference.items():
    target = targets.get(name)
    if target is None or tuple(value.shape) != target.torch_shape or not all(
        v.ref() in ours for v in target.variables):
      results.append(checks_lib.Check(
          prefix + name, float('inf'), 0.0, False,
          'no such trainable parameter with a gradient in the model'))
      continue
    ours_flat = np.concatenate([
        np.asarray(tf.convert_to_tensor(ours[v.ref()])).ravel()
        for v in target.variables])
    reference_flat = np.concatenate(
        [part.ravel() for part in target.to_tf(value)])
    results.append(checks_lib.compare_l2(prefix + name, ours_flat,
                                         reference_flat, GRADIENT_TOLERANCE))
  return results


def step0_checks(fixture: fixture_lib.TrainingFixture
                 ) -> List[checks_lib.Check]:
  """Part 1: step-0 loss and gradients with the reference matchings.

  Args:
    fixture: the training fixture.

  Returns:
    Checks named 'training.step0.loss.*' and 'training.step0.gradient.*'.
  """
  task, model = build_task_and_model(fixture)
  images, labels = training_batch(fixture)
  targets = targets_lib.expand_targets(
      {k: tf.constant(v) for k, v in labels.items()})
  config = task.task_config
  num_layers = (config.model.transformer_predictor.num_decoder_layers
                if config.model.transformer_predictor.deep_supervision else 1)
  num_images, num_slots = labels[maskformer_input.SEGMENT_VALID].shape
  matchings = _step0_matchings(fixture, num_layers, num_images, num_slots)

  @tf.function
  def loss_and_gradients(images):
    with tf.GradientTape() as tape:
      outputs = model(images, training=True)
      total, terms = task.criterion(outputs, targets, matchings)
    return total, terms, tape.gradient(total, model.trainable_variables)

  total, terms, gradients = loss_and_gradients(tf.constant(images))
  history = fixture.trajectory['history'][0]
  results = loss_parity.loss_checks(
      'training.step0.loss.', {k: float(v) for k, v in terms.items()},
      float(total), {k: v for k, v in history.items() if k.startswith('loss_')},
      history['total'], STEP0_LOSS_TOLERANCE)
  return results + gradient_checks(model, gradients,
                                   fixture.gradients()[0],
                                   'training.step0.gradient.')


def replay_checks(fixture: fixture_lib.TrainingFixture
                  ) -> List[checks_lib.Result]:
  """Part 2: the reference gradients replayed through our optimizer.

  Args:
    fixture: the training fixture.

  Returns:
    'training.replay.weights' (the largest |w - w_final| / max(1, |w_final|)
    over every variable, against 1e-6), 'training.replay.names' (parameters
    present on one side only) and a note naming the worst tensor.
  """
  task, model = build_task_and_model(fixture)
  optimizer = task.create_optimizer(optimization_config(fixture))
  targets = model_mapping.maskformer_targets(model)
  trainable = {v.ref() for v in model.trainable_variables}
  for step, gradients in enumerate(fixture.gradients()):
    pairs = []
    for name, value in _canonical(gradients).items():
      target = targets.get(name)
      if target is None or tuple(value.shape) != target.torch_shape:
        raise fixture_lib.FixtureError(
            f'{fixture.path / "gradients.npz"}: step{step}/{name} matches no '
            'parameter of the json\'s architecture')
      for variable, array in zip(target.variables, target.to_tf(value)):
        if variable.ref() in trainable:
          pairs.append((tf.constant(array, variable.dtype), variable))
    optimizer.apply_gradients(pairs)
  final = _canonical(converter.read_state_dict(fixture.weights_final_path))
  worst, worst_name = 0.0, ''
  for name, target in targets.items():
    if name not in final:
      continue
    for variable, array in zip(target.variables,
                               target.to_tf(final[name])):
      error = np.max(np.abs(variable.numpy().astype(np.float64) - array) /
                     np.maximum(1.0, np.abs(array.astype(np.float64))))
      if error >= worst:
        worst, worst_name = float(error), name
  differing = sorted(set(targets) ^ set(final))
  return [
      checks_lib.compare_count('training.replay.names', len(differing),
                               len(set(targets) | set(final))),
      checks_lib.Check('training.replay.weights', worst, REPLAY_TOLERANCE,
                       worst <= REPLAY_TOLERANCE, f'worst: {worst_name}'),
      checks_lib.Note('training.replay.worst_tensor',
                      f'{worst_name} ({worst:.3g}) after {fixture.steps} '
                      'steps'),
  ]


def free_running_checks(fixture: fixture_lib.TrainingFixture
                        ) -> List[checks_lib.Result]:
  """Part 3: the task's own train step, every step's loss vs the history.

  Args:
    fixture: the training fixture.

  Returns:
    'training.free_running.step<k>.total' per step, then
    'training.free_running.loss_falls' (the loss falls from the first to the
    last step exactly when the reference's does), and notes with both
    relative changes.
  """
  task, model = build_task_and_model(fixture)
  optimizer = task.create_optimizer(optimization_config(fixture))
  images, labels = training_batch(fixture)
  inputs = (tf.constant(images), {k: tf.constant(v) for k, v in labels.items()})

  @tf.function
  def train_step(inputs):
    return task.train_step(inputs, model, optimizer)

  history = [entry['total'] for entry in fixture.trajectory['history']]
  losses = [float(train_step(inputs)[task.loss]) for _ in history]
  results: List[checks_lib.Result] = [
      checks_lib.compare_relative(f'training.free_running.step{k}.total',
                                  ours, reference, TRAJECTORY_TOLERANCE)
      for k, (ours, reference) in enumerate(zip(losses, history))]
  ours_change = (losses[-1] - losses[0]) / abs(losses[0])
  reference_change = (history[-1] - history[0]) / abs(history[0])
  agree = (ours_change < 0) == (reference_change < 0)
  results.append(checks_lib.Check(
      'training.free_running.loss_falls', 0.0 if agree else 1.0, 0.0, agree,
      f'first to last: ours {ours_change:+.3%}, reference '
      f'{reference_change:+.3%}'))
  results.append(checks_lib.Note(
      'training.free_running.relative_change',
      f'ours {ours_change:+.4%}, reference {reference_change:+.4%} over '
      f'{len(history)} steps'))
  return results


def training_checks(fixture: fixture_lib.TrainingFixture
                    ) -> List[checks_lib.Result]:
  """Parts 1, 2 and 3, in that order."""
  return (step0_checks(fixture) + replay_checks(fixture) +
          free_running_checks(fixture))
