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

"""Training checks against a training-run fixture.

The fixture (`docs/semantics.md`, sections 10 and 11) is a short PyTorch
training run. Training is chaotic, so it is checked in three exact parts and
one loose one:

  1. `step0_checks`: step 0 with the reference matchings
     (`matchings_step0.npz` passed to the criterion): every loss term and the
     total within a relative 1e-5 of `history[0]`, and every gradient tensor
     against the exact (float64) step-0 gradient, where the folder has it,
     within a relative L2 of `max(1e-4, 5 * e)`, `e` the largest PyTorch
     float32 error (`float32_error.json`) among the tensors of the same part
     (backbone, pixel decoder, transformer predictor); a tensor whose exact
     gradient is zero is judged by the absolute floor
     `1e-6 * ||all exact gradients||` alone and left out of `e`. The
     comparison with the float32 reference gradients becomes a note. Without
     exact gradients, each tensor is compared with the float32 reference
     within `1e-4 * ||reference||`. The reference gradients are brought to
     the TF variables' layouts with the checkpoint converter's mapping
     (`model_mapping`: transposes and q/k/v splits only move elements, so the
     norms are those of the PyTorch tensors).
     In float64 (`step0_checks(fixture, 'float64')`, the float64 identity):
     the loss terms within `2e-7 * max(1, |exact|)` of the exact values and
     every gradient tensor within a relative L2 of 1e-6 of the exact one,
     with the floor `1e-9 * ||all exact gradients||` for a zero gradient.
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
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.configs import maskformer as exp_cfg
from projects.maskformer.configs import optimization as optimization_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.ops import precision
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import loss_checks
from projects.maskformer.reference import model_checks
from projects.maskformer.tasks import maskformer_segmentation

STEP0_LOSS_TOLERANCE = 1e-5  # relative
GRADIENT_TOLERANCE = 1e-4  # x ||reference gradient||
FLOAT64_GRADIENT_TOLERANCE = 1e-6  # x ||exact gradient||
# Absolute floors for a tensor whose exact gradient is zero, x ||all exact||.
FLOAT32_ZERO_GRADIENT_FLOOR = 1e-6
FLOAT64_ZERO_GRADIENT_FLOOR = 1e-9
# The parts whose PyTorch float32 errors set one shared bound
# (docs/semantics.md, section 11).
GRADIENT_PARTS = (('backbone', 'backbone.'),
                  ('pixel decoder', 'sem_seg_head.pixel_decoder.'),
                  ('transformer predictor', 'sem_seg_head.predictor.'))
REPLAY_TOLERANCE = 1e-6  # x max(1, |w|)
TRAJECTORY_TOLERANCE = 5e-2  # relative


def task_config(fixture: fixture_lib.TrainingFixture
                ) -> exp_cfg.MaskFormerTask:
  """The task config of the run: its architecture and loss weights."""
  return exp_cfg.MaskFormerTask(
      model=fixture_formats.model_config(fixture.config),
      losses=fixture_formats.losses_config(fixture.trajectory))


def optimization_config(fixture: fixture_lib.TrainingFixture
                        ) -> optimization_cfg.OptimizationConfig:
  """`MaskFormerAdamW` with the json's hyperparameters, constant lr.

  The weight-decay exclusions and the backbone variables are the model's
  defaults (norm parameters and the query embedding; `backbone/`), which
  select what the recipe selects (tests/test_optimization.py).
  """
  spec = fixture.trajectory['optimizer']
  return optimization_cfg.OptimizationConfig({
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


def build_task_and_model(fixture: fixture_lib.TrainingFixture,
                         dtype: str = 'float32'
                         ) -> Tuple[maskformer_segmentation
                                    .MaskFormerSegmentationTask,
                                    tf_keras.Model]:
  """The task of the run and its model holding `weights_initial.pkl`.

  Args:
    fixture: the training fixture.
    dtype: the Keras policy of the model: 'float32' or 'float64'.

  Raises:
    converter.CheckpointMismatchError: the weights do not fit the json's
      architecture.
  """
  task = maskformer_segmentation.MaskFormerSegmentationTask(
      task_config(fixture))
  with precision.keras_policy(dtype):
    model = task.build_model()
  converter.convert_model(model, fixture.weights_initial_path)
  return task, model


def training_batch(fixture: fixture_lib.TrainingFixture,
                   dtype: Any = np.float32
                   ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """The fixed batch in the input pipeline's format (the parser contract).

  Images are normalized (in `dtype`) and zero-padded to the batch maximum
  (rounded up to `size_divisibility`); `segment_map` holds each pixel's
  ground-truth slot (-1 elsewhere), built from the disjoint `gt_masks_i`; no
  segment is crowd.

  Returns:
    (images, labels): a [B, H, W, 3] array of `dtype` and a dict of
    `pixel_mask` (bool [B, H, W]), `segment_map` (int32 [B, H, W]),
    `segment_classes` (int32 [B, T]), `segment_is_crowd` and `segment_valid`
    (bool [B, T]), `image_info` (float32 [B, 4, 2]) and `image_id` (int32
    [B]), T being the largest number of segments of an image.

  Raises:
    FixtureError: missing arrays, or masks that overlap or do not fit.
  """
  batch = fixture.batch
  images = fixture_formats.per_image(batch, 'image')
  masks = fixture_formats.per_image(batch, 'gt_masks')
  classes = fixture_formats.per_image(batch, 'gt_classes')
  source = fixture.path / 'batch.npz'
  if not images or len(masks) != len(images) or len(classes) != len(images):
    raise fixture_lib.FixtureError(
        f'{source}: expected image_i, gt_masks_i and gt_classes_i for every '
        f'image; got {len(images)}, {len(masks)}, {len(classes)}')
  padded = fixture_formats.normalized_padded_images(
      images, int(fixture.config.get('size_divisibility', 0)), dtype)
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
    key = fixture_formats.layer_key(layer)
    matching = fixture_formats.stored_matching(
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


def gradient_part(name: str) -> str:
  """The part of a PyTorch parameter name (`GRADIENT_PARTS`)."""
  for part, prefix in GRADIENT_PARTS:
    if name.startswith(prefix):
      return part
  return 'other'


@dataclasses.dataclass(frozen=True)
class GradientBound:
  """What one gradient tensor is compared with.

  Attributes:
    expected: the gradient it must match (PyTorch layout).
    tolerance: the largest L2 norm of the difference.
    pytorch_err: the PyTorch float32 gradient's L2 distance from the exact
      one, where known.
    detail: how the tolerance was set.
  """
  expected: np.ndarray
  tolerance: float
  pytorch_err: Optional[float] = None
  detail: str = ''


def reference_gradient_bounds(reference: Dict[str, np.ndarray]
                              ) -> Dict[str, GradientBound]:
  """Float32 against the float32 reference: `1e-4 * ||reference||`."""
  return {name: GradientBound(
      value, GRADIENT_TOLERANCE * float(np.linalg.norm(value.ravel())),
      detail=f'{GRADIENT_TOLERANCE:g} x ||reference||')
          for name, value in reference.items()}


def exact_gradient_bounds(fixture: fixture_lib.TrainingFixture,
                          dtype: str) -> Dict[str, GradientBound]:
  """Bounds against the exact step-0 gradients (module docstring, part 1).

  Args:
    fixture: a training fixture with exact gradients.
    dtype: 'float32' (PyTorch-relative bounds) or 'float64' (identity).

  Returns:
    {canonical parameter name: bound}.

  Raises:
    FixtureError: float32_error.json lacks a tensor's error.
  """
  stored = fixture.exact_gradients()
  exact = _canonical(stored)
  source = fixture.path / fixture_lib.FLOAT32_ERROR
  raw = fixture.float32_error['gradients_rel_l2']
  for name in stored:
    if f'step0/{name}' not in raw:
      raise fixture_lib.FixtureError(f'{source} "gradients_rel_l2" lacks '
                                     f'step0/{name}')
  canonical_errors = _canonical({
      name: np.asarray(raw[f'step0/{name}'], np.float64).reshape(1)
      for name in stored})
  errors = {name: float(value[0]) for name, value in canonical_errors.items()}
  norms = {name: float(np.linalg.norm(value.ravel().astype(np.float64)))
           for name, value in exact.items()}
  total = float(np.sqrt(sum(n * n for n in norms.values())))
  zero = {name for name, norm in norms.items()
          if norm <= FLOAT64_ZERO_GRADIENT_FLOOR * total}
  largest = {}
  for name, error in errors.items():
    if name not in zero:
      part = gradient_part(name)
      largest[part] = max(largest.get(part, 0.0), error)
  bounds = {}
  for name, value in exact.items():
    pytorch = errors[name] * norms[name]
    if dtype == model_checks.FLOAT64:
      relative, floor = FLOAT64_GRADIENT_TOLERANCE, FLOAT64_ZERO_GRADIENT_FLOOR
    else:
      relative = max(GRADIENT_TOLERANCE, model_checks.PYTORCH_ERROR_FACTOR *
                     largest[gradient_part(name)])
      floor = FLOAT32_ZERO_GRADIENT_FLOOR
    if name in zero:
      bounds[name] = GradientBound(
          value, floor * total, pytorch,
          f'exact gradient zero: {floor:g} x ||all exact|| = '
          f'{floor * total:.3g}')
    else:
      bounds[name] = GradientBound(
          value, relative * norms[name], pytorch,
          f'{relative:.3g} x ||exact|| ({gradient_part(name)})')
  return bounds


def gradient_checks(model: tf_keras.Model, gradients: Sequence[tf.Tensor],
                    bounds: Dict[str, GradientBound],
                    prefix: str) -> List[checks_lib.Check]:
  """Each expected gradient tensor against ours (L2 of the difference).

  Args:
    model: the model; `gradients` are aligned with its trainable variables.
    gradients: our gradients (None for a variable without one).
    bounds: {canonical PyTorch parameter name: what to match, how closely}.
    prefix: the check names' prefix.

  Returns:
    `<prefix>names` (trainable parameters whose presence differs between
    ours and the expected), then one check per expected tensor.
  """
  targets = model_mapping.maskformer_targets(model)
  ours = {v.ref(): g for v, g in zip(model.trainable_variables, gradients)
          if g is not None}
  trainable = {v.ref() for v in model.trainable_variables}
  expected = {name for name, target in targets.items()
              if all(v.ref() in trainable for v in target.variables)}
  differing = sorted(expected ^ set(bounds))
  names_check = checks_lib.compare_count(prefix + 'names', len(differing),
                                         len(set(bounds) | expected))
  if differing:
    names_check = dataclasses.replace(
        names_check, detail=f'trainable parameters on one side only: '
        f'{differing[:5]}')
  results = [names_check]
  for name, bound in bounds.items():
    target = targets.get(name)
    if target is None or tuple(bound.expected.shape) != target.torch_shape or (
        not all(v.ref() in ours for v in target.variables)):
      results.append(checks_lib.Check(
          prefix + name, float('inf'), 0.0, False,
          'no such trainable parameter with a gradient in the model'))
      continue
    ours_flat = np.concatenate([
        np.asarray(tf.convert_to_tensor(ours[v.ref()]), np.float64).ravel()
        for v in target.variables])
    expected_flat = np.concatenate(
        [part.ravel() for part in target.to_tf(bound.expected)]).astype(
            np.float64)
    error = float(np.linalg.norm(ours_flat - expected_flat))
    if np.isnan(error):
      error = float('inf')
    results.append(checks_lib.Check(
        prefix + name, error, bound.tolerance, error <= bound.tolerance,
        bound.detail, pytorch_err=bound.pytorch_err))
  return results


def _reference_gradient_notes(model, gradients, reference, prefix
                              ) -> List[checks_lib.Note]:
  """The float32 gradients against the float32 reference, as notes."""
  checks = gradient_checks(model, gradients,
                           reference_gradient_bounds(reference), prefix)
  return [checks_lib.Note(
      c.name, f'{c.max_abs_err / c.tolerance:.2f} tolerance units from the '
      f'float32 reference ({c.detail})') for c in checks[1:]]


def step0_checks(fixture: fixture_lib.TrainingFixture,
                 dtype: str = 'float32') -> List[checks_lib.Result]:
  """Part 1: step-0 loss and gradients with the reference matchings.

  Args:
    fixture: the training fixture.
    dtype: 'float32', or 'float64' (the float64 identity; needs the exact
      gradients).

  Returns:
    Checks named 'training.step0.loss.*' and 'training.step0.gradient.*'
    (float64: 'training.float64.step0.*'), and notes.

  Raises:
    FixtureError: float64 without exact answers.
  """
  float64 = dtype == model_checks.FLOAT64
  if float64 and fixture.float32_error is None:
    raise fixture_lib.FixtureError(
        f'{fixture.path} has no {fixture_lib.GRADIENTS_EXACT}')
  task, model = build_task_and_model(fixture, dtype)
  images, labels = training_batch(fixture,
                                  np.float64 if float64 else np.float32)
  targets = maskformer_input.loss_targets(
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
  terms = {k: float(v) for k, v in terms.items()}
  if float64:
    prefix = 'training.float64.step0.'
    exact = fixture.float32_error.get('losses_step0')
    if not isinstance(exact, dict) or 'total' not in exact:
      raise fixture_lib.FixtureError(
          f'{fixture.path / fixture_lib.FLOAT32_ERROR} lacks "losses_step0" '
          'with the exact terms and "total"')
    ours = dict(terms, total=float(total))
    results = []
    for name, values in exact.items():
      check = checks_lib.compare_scaled(
          prefix + 'loss.' + name, ours.get(name, float('nan')),
          values['f64'], checks_lib.FLOAT64_RELATIVE_TOLERANCE)
      results.append(dataclasses.replace(check, pytorch_err=abs(
          values['f32_trajectory'] - values['f64'])))
    return results + gradient_checks(
        model, gradients, exact_gradient_bounds(fixture, dtype),
        prefix + 'gradient.')
  history = fixture.trajectory['history'][0]
  results = loss_checks.loss_checks(
      'training.step0.loss.', terms, float(total),
      {k: v for k, v in history.items() if k.startswith('loss_')},
      history['total'], STEP0_LOSS_TOLERANCE)
  prefix = 'training.step0.gradient.'
  reference = _canonical(fixture.gradients()[0])
  if fixture.float32_error is None:
    return results + gradient_checks(
        model, gradients, reference_gradient_bounds(reference), prefix)
  return (results + gradient_checks(
      model, gradients, exact_gradient_bounds(fixture, dtype), prefix) +
          _reference_gradient_notes(model, gradients, reference,
                                    prefix + 'vs_float32_reference.'))


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


def training_checks(fixture: fixture_lib.TrainingFixture,
                    precisions: Sequence[str] = ('float32', 'float64')
                    ) -> List[checks_lib.Result]:
  """Parts 1, 2 and 3 in float32, then part 1 in float64 (exact answers).

  Args:
    fixture: the training fixture.
    precisions: which to run, of 'float32' and 'float64'; float64 applies
      only where the folder has the exact gradients.

  Returns:
    The checks and notes.
  """
  results = []
  if 'float32' in precisions:
    results += (step0_checks(fixture) + replay_checks(fixture) +
                free_running_checks(fixture))
  if model_checks.FLOAT64 in precisions and fixture.float32_error is not None:
    results += step0_checks(fixture, model_checks.FLOAT64)
  return results
