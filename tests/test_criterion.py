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

"""The criterion and the matching against the PyTorch reference fixtures."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.losses import criterion as criterion_lib
from projects.maskformer.losses import matching_cost
from projects.maskformer.ops import interpolation
from projects.maskformer.reference import loss_checks

# Tolerances of docs/semantics.md, section 11.
COST_TOL = 1e-4  # x max(1, |C|)
MATCH_TOL = 1e-5  # x (1 + sum |matched costs|)
LOSS_TOL_REFERENCE_MATCHING = 1e-5  # relative
LOSS_TOL_OWN_MATCHING = 1e-4  # relative
MODEL_FIXTURES = ('r50w16_enc', 'r50w16_fpn')

# Compiled once per input shape and shared by the tests (XLA compiles of the
# whole criterion take seconds on a 2-core CI machine).
_CRITERION = criterion_lib.MaskFormerCriterion(losses_cfg.Losses())
_match = tf.function(_CRITERION.match, jit_compile=True)
_criterion_with_matching = tf.function(_CRITERION.__call__, jit_compile=True)
_cost = tf.function(matching_cost.matching_cost, jit_compile=True)


def _pad_targets(masks, classes, padded_hw, num_slots):
  """Per-image masks/classes zero-padded to the padded size and T slots."""
  batch = len(masks)
  padded = np.zeros((batch, num_slots) + tuple(padded_hw), bool)
  padded_classes = np.zeros((batch, num_slots), np.int32)
  valid = np.zeros((batch, num_slots), bool)
  for b, (image_masks, image_classes) in enumerate(zip(masks, classes)):
    count, height, width = image_masks.shape
    padded[b, :count, :height, :width] = image_masks
    padded_classes[b, :count] = image_classes
    valid[b, :count] = True
  return {'masks': padded, 'classes': padded_classes, 'valid': valid}


def _matching_from_pairs(pairs, num_slots):
  """int32 [B, T] query-for-target from per-image (src, tgt) index arrays."""
  matching = np.full((len(pairs), num_slots), -1, np.int32)
  for b, (src, tgt) in enumerate(pairs):
    matching[b, tgt] = src
  return matching


def _relative_error(value, reference):
  return abs(float(value) - reference) / abs(reference)


def _total(cost, targets_valid, query_for_target):
  """Sum of the matched costs (float64) and of their magnitudes."""
  targets = np.nonzero(targets_valid)[0]
  matched = cost[query_for_target[targets], targets].astype(np.float64)
  return matched.sum(), np.abs(matched).sum()


def _assert_equally_optimal(cost, valid, ours, reference):
  """Ours is scipy-optimal on our cost and the reference matching is too."""
  optimum, _ = _total(cost, valid, loss_checks.scipy_matching(cost, valid))
  ours_total, ours_scale = _total(cost, valid, ours)
  reference_total, reference_scale = _total(cost, valid, reference)
  assert abs(ours_total - optimum) <= MATCH_TOL * (1 + ours_scale)
  assert abs(reference_total - optimum) <= MATCH_TOL * (1 + reference_scale)


# ----------------------------------------------------------------------------
# Standalone fixture: 6 images with 0, 1, 3, 17, 50, 100 targets, 3 layers.


@pytest.fixture(scope='module')
def standalone(reference_dir):
  base = reference_dir / 'standalone' / 'matcher_criterion'
  data = dict(np.load(f'{base}.npz'))
  with open(f'{base}.json', encoding='utf-8') as f:
    info = json.load(f)
  batch = len(info['target_counts'])
  targets = _pad_targets([data[f'tgt_masks_{b}'] for b in range(batch)],
                         [data[f'tgt_classes_{b}'] for b in range(batch)],
                         info['target_hw'], info['num_queries'])
  outputs = {
      'pred_logits': data['pred_logits'],
      'pred_masks': data['pred_masks'],
      'aux_outputs': [{'pred_logits': data[f'aux{i}_pred_logits'],
                       'pred_masks': data[f'aux{i}_pred_masks']}
                      for i in range(2)],
  }
  reference_matching = _matching_from_pairs(
      [(data[f'match_{b}_src'], data[f'match_{b}_tgt']) for b in range(batch)],
      info['num_queries'])
  return data, info, outputs, targets, reference_matching


def _layer_costs(outputs, targets):
  """Our matching cost of every layer (final first) as float32 [L, B, Q, T]."""
  return np.stack([
      _cost(logits, masks, targets['classes'], targets['masks']).numpy()
      for logits, masks in _CRITERION.layers(outputs)
  ])


def test_standalone_cost_matrices(standalone):
  data, info, outputs, targets, _ = standalone
  cost = _layer_costs(outputs, targets)[0]
  for b, count in enumerate(info['target_counts']):
    reference = data[f'cost_{b}']
    ours = cost[b][:, :count]
    assert np.all(np.abs(ours - reference) <=
                  COST_TOL * np.maximum(1.0, np.abs(reference))), b


def test_standalone_matching_is_optimal(standalone):
  _, info, outputs, targets, reference_matching = standalone
  ours = _match(outputs, targets).numpy()
  costs = _layer_costs(outputs, targets)
  valid = targets['valid']
  for b, optimum in enumerate(info['optimal_assignment_cost']):
    total, scale = _total(costs[0, b], valid[b], ours[0, b])
    assert abs(total - optimum) <= MATCH_TOL * (1 + scale), b
    _assert_equally_optimal(costs[0, b], valid[b], ours[0, b],
                            reference_matching[b])
    for layer in (1, 2):
      _assert_equally_optimal(costs[layer, b], valid[b], ours[layer, b],
                              loss_checks.scipy_matching(costs[layer, b], valid[b]))


@pytest.mark.parametrize('own_matching', [False, True])
def test_standalone_losses(standalone, own_matching):
  """All 9 terms; aux layers' reference matchings are scipy's on our cost."""
  _, info, outputs, targets, reference_matching = standalone
  if own_matching:
    matching, tol = _match(outputs, targets), LOSS_TOL_OWN_MATCHING
  else:
    costs = _layer_costs(outputs, targets)
    matching = np.stack([reference_matching] + [
        np.stack([loss_checks.scipy_matching(costs[layer, b], targets['valid'][b])
                  for b in range(costs.shape[1])])
        for layer in (1, 2)
    ])
    tol = LOSS_TOL_REFERENCE_MATCHING
  total, terms = _criterion_with_matching(outputs, targets, matching)
  assert set(terms) == set(info['losses_unweighted'])
  for name, reference in info['losses_unweighted'].items():
    assert _relative_error(terms[name], reference) <= tol, name
  assert _relative_error(total, info['loss_total']) <= tol


# ----------------------------------------------------------------------------
# Model fixtures: final layer and aux layer 4 have masks; aux 0..3 only logits.


def _load_model_fixture(reference_dir, name):
  data = np.load(reference_dir / name / 'reference.npz')
  with open(reference_dir / name / 'manifest.json', encoding='utf-8') as f:
    manifest = json.load(f)
  batch = data['pred_logits'].shape[0]
  masks = [data[f'gt_masks_{b}'] for b in range(batch)]
  num_slots = max(len(m) for m in masks)
  targets = _pad_targets(masks, [data[f'gt_classes_{b}'] for b in range(batch)],
                         data['padded_normalized_images'].shape[-2:], num_slots)
  layer_keys = ['final'] + [f'aux{i}' for i in range(5)]
  matchings = np.stack([
      _matching_from_pairs([(data[f'match_{key}_img{b}_src'],
                             data[f'match_{key}_img{b}_tgt'])
                            for b in range(batch)], num_slots)
      for key in layer_keys
  ])
  return data, manifest, targets, matchings


@pytest.mark.parametrize('name', MODEL_FIXTURES)
def test_model_fixture_matching_and_losses(reference_dir, name):
  """Matchings of the final and aux-4 layers, all six loss_ce terms, and the
  mask/dice terms of the final and aux-4 layers.

  The fixtures store masks only for the final and aux-4 layers: zeros stand
  in for the masks of aux layers 0..3, whose matchings and mask/dice terms are
  therefore not compared (they need the model's outputs; with them, the same
  call checks all 18 terms).
  """
  data, manifest, targets, reference = _load_model_fixture(reference_dir, name)
  expected = manifest['losses_unweighted']
  zero_masks = np.zeros_like(data['pred_masks'])
  outputs = {
      'pred_logits': data['pred_logits'],
      'pred_masks': data['pred_masks'],
      'aux_outputs': [{'pred_logits': data[f'aux{i}_pred_logits'],
                       'pred_masks': (data['aux4_pred_masks'] if i == 4 else
                                      zero_masks)} for i in range(5)],
  }
  ours = _match(outputs, targets).numpy()
  costs = _layer_costs(outputs, targets)
  for layer in (0, 5):  # final, aux 4
    for b in range(costs.shape[1]):
      _assert_equally_optimal(costs[layer, b], targets['valid'][b],
                              ours[layer, b], reference[layer, b])

  _, with_reference = _criterion_with_matching(outputs, targets, reference)
  _, with_own = _criterion_with_matching(outputs, targets, ours)
  assert len(with_reference) == 18
  checked = ['loss_ce' + s for s in ['', '_0', '_1', '_2', '_3', '_4']]
  checked += ['loss_mask', 'loss_dice', 'loss_mask_4', 'loss_dice_4']
  for term in checked:
    assert _relative_error(with_reference[term], expected[term]) <= (
        LOSS_TOL_REFERENCE_MATCHING), term
  for term in ['loss_ce', 'loss_mask', 'loss_dice', 'loss_ce_4', 'loss_mask_4',
               'loss_dice_4']:
    assert _relative_error(with_own[term], expected[term]) <= (
        LOSS_TOL_OWN_MATCHING), term


# ----------------------------------------------------------------------------
# Bilinear upsampling of the matched predictions.


def test_resize_bilinear_hand_computed():
  """PyTorch F.interpolate(bilinear, align_corners=False) known values."""
  row = interpolation.resize_bilinear(np.array([[[0.0, 1.0]]]), (1, 4))
  np.testing.assert_allclose(row.numpy()[0, 0], [0.0, 0.25, 0.75, 1.0])
  grid = interpolation.resize_bilinear(
      np.arange(4, dtype=np.float32).reshape(1, 2, 2), (4, 4)).numpy()[0]
  np.testing.assert_allclose(grid, [[0.0, 0.25, 0.75, 1.0],
                                    [0.5, 0.75, 1.25, 1.5],
                                    [1.5, 1.75, 2.25, 2.5],
                                    [2.0, 2.25, 2.75, 3.0]])


@pytest.mark.parametrize('in_hw,out_hw', [((8, 12), (32, 48)),
                                          ((7, 9), (30, 37)),
                                          ((5, 5), (5, 5))])
def test_resize_bilinear_matches_pytorch_formula(in_hw, out_hw):
  """Per-pixel float64 transcription of PyTorch's upsample_bilinear2d."""
  images = np.random.default_rng(0).normal(size=(2, 3) + in_hw)

  def taps(in_size, out_size):
    scale = in_size / out_size
    source = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    lower = np.minimum(np.floor(source).astype(int), in_size - 1)
    upper = lower + (lower < in_size - 1)
    weight = source - lower
    return lower, upper, weight

  h0, h1, hw = taps(in_hw[0], out_hw[0])
  w0, w1, ww = taps(in_hw[1], out_hw[1])
  expected = np.empty(images.shape[:2] + out_hw)
  for i in range(out_hw[0]):
    for j in range(out_hw[1]):
      top = images[..., h0[i], w0[j]] * (1 - ww[j]) + images[..., h0[i],
                                                             w1[j]] * ww[j]
      bottom = images[..., h1[i], w0[j]] * (1 - ww[j]) + images[..., h1[i],
                                                                w1[j]] * ww[j]
      expected[..., i, j] = top * (1 - hw[i]) + bottom * hw[i]
  ours = interpolation.resize_bilinear(images.astype(np.float32), out_hw)
  np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5, atol=1e-5)
  # TF's half-pixel bilinear agrees for upsampling (the brief's check).
  if out_hw[0] >= in_hw[0] and out_hw[1] >= in_hw[1]:
    tf_resized = tf.image.resize(np.moveaxis(images, 1, -1), out_hw,
                                 method='bilinear', antialias=False)
    np.testing.assert_allclose(np.moveaxis(tf_resized.numpy(), -1, 1),
                               expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------
# Compilation, gradients, precision, configuration.


def _synthetic(seed=0, batch=2, queries=8, classes=4, slots=5, aux_layers=2):
  rng = np.random.default_rng(seed)

  def layer():
    shape = (batch, queries)
    return {'pred_logits': rng.normal(size=shape + (classes + 1,)).astype(
        np.float32),
            'pred_masks': rng.normal(size=shape + (6, 8)).astype(np.float32)}

  outputs = layer()
  outputs['aux_outputs'] = [layer() for _ in range(aux_layers)]
  valid = np.zeros((batch, slots), bool)
  valid[0, [0, 2, 3]] = True  # a non-prefix subset
  targets = {'masks': rng.random((batch, slots, 24, 32)) > 0.5,
             'classes': rng.integers(0, classes, size=(batch, slots)).astype(
                 np.int32),
             'valid': valid}
  return outputs, targets


def test_compiles_with_xla_and_gives_gradients_only_through_predictions():
  """A tiny class/mask head trained through the criterion under XLA."""
  _, targets = _synthetic()
  rng = np.random.default_rng(5)
  batch, queries, channels, num_layers = 2, 8, 6, 3
  layer_features = tf.constant(
      rng.normal(size=(num_layers, batch, queries, channels)), tf.float32)
  pixel_features = tf.constant(rng.normal(size=(batch, 6, 8, channels)),
                               tf.float32)
  class_head = tf_keras.layers.Dense(5)
  mask_head = tf_keras.layers.Dense(channels)
  criterion = criterion_lib.MaskFormerCriterion(losses_cfg.Losses())

  def model(features):
    return {'pred_logits': class_head(features),
            'pred_masks': tf.einsum('bqc,bhwc->bqhw', mask_head(features),
                                    pixel_features)}

  model(layer_features[0])  # builds the heads' variables
  variables = class_head.trainable_variables + mask_head.trainable_variables

  @tf.function(jit_compile=True)
  def loss_and_gradients(matching):
    with tf.GradientTape() as tape:
      outputs = model(layer_features[-1])
      outputs['aux_outputs'] = [model(layer_features[i])
                                for i in range(num_layers - 1)]
      if matching is None:
        matching = criterion.match(outputs, targets)
      total, _ = criterion(outputs, targets, matching)
    return total, matching, tape.gradient(total, variables)

  total, matching, gradients = loss_and_gradients(None)
  assert matching.dtype == tf.int32
  assert len(gradients) == 4
  for gradient in gradients:
    assert gradient is not None
    assert np.all(np.isfinite(gradient.numpy()))
    assert np.any(gradient.numpy() != 0)
  # With the same matching given as a constant the gradients are identical:
  # no gradient path runs through the matcher.
  same_total, _, constant_gradients = loss_and_gradients(matching)
  assert float(total) == float(same_total)
  for ours, constant in zip(gradients, constant_gradients):
    np.testing.assert_array_equal(ours.numpy(), constant.numpy())


def test_separately_compiled_criterion_gives_the_plain_values_and_gradients():
  """`jit_compile=True` (the CPU default's criterion) against the plain one.

  Its per-replica sums are a compiled forward program and a compiled
  gradient that recomputes them (`compiled_with_recomputing_gradient`); the
  step around them is not compiled, as in `xla_compile='criterion'`. Values
  and gradients are the same computation in another program: equal within
  float32 rounding of the sums (relative 1e-6 of each gradient's peak).
  """
  outputs, targets = _synthetic(seed=4)
  outputs = tf.nest.map_structure(tf.constant, outputs)
  plain = criterion_lib.MaskFormerCriterion(losses_cfg.Losses())
  compiled = criterion_lib.MaskFormerCriterion(losses_cfg.Losses(),
                                               jit_compile=True)
  matching = plain.match(outputs, targets)

  @tf.function
  def value_and_gradients(criterion):
    with tf.GradientTape() as tape:
      tape.watch(outputs)
      total, terms = criterion(outputs, targets, matching)
    return total, terms, tape.gradient(total, outputs)

  total, terms, gradients = value_and_gradients(plain)
  compiled_total, compiled_terms, compiled_gradients = value_and_gradients(
      compiled)
  assert _relative_error(compiled_total, float(total)) <= 1e-6
  for name in terms:
    assert _relative_error(compiled_terms[name], float(terms[name])) <= 1e-6
  for ours, expected in zip(tf.nest.flatten(compiled_gradients),
                            tf.nest.flatten(gradients)):
    expected = expected.numpy()
    assert np.any(expected != 0)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0,
                               atol=1e-6 * np.abs(expected).max())


def test_repeated_calls_identical():
  outputs, targets = _synthetic(seed=1)
  matching = _match(outputs, targets)
  np.testing.assert_array_equal(matching.numpy(),
                                _match(outputs, targets).numpy())
  first_total, first = _criterion_with_matching(outputs, targets, matching)
  second_total, second = _criterion_with_matching(outputs, targets, matching)
  assert float(first_total) == float(second_total)
  for name in first:
    assert float(first[name]) == float(second[name])


def test_bfloat16_predictions_give_float32_losses():
  outputs, targets = _synthetic(seed=2)
  criterion = criterion_lib.MaskFormerCriterion(losses_cfg.Losses())
  as_bf16 = tf.nest.map_structure(lambda x: tf.cast(x, tf.bfloat16), outputs)
  rounded = tf.nest.map_structure(lambda x: tf.cast(x, tf.float32), as_bf16)
  total, terms = criterion(as_bf16, targets)
  expected_total, expected = criterion(rounded, targets)
  assert total.dtype == tf.float32
  for name in terms:
    assert terms[name].dtype == tf.float32
    assert float(terms[name]) == float(expected[name])
  assert float(total) == float(expected_total)


def test_weights_without_auxiliary_outputs():
  outputs, targets = _synthetic(seed=3, aux_layers=0)
  params = losses_cfg.Losses(class_weight=2.0, mask_weight=3.0,
                             dice_weight=5.0)
  total, terms = criterion_lib.MaskFormerCriterion(params)(outputs, targets)
  assert sorted(terms) == ['loss_ce', 'loss_dice', 'loss_mask']
  np.testing.assert_allclose(
      float(total), 2.0 * float(terms['loss_ce']) +
      3.0 * float(terms['loss_mask']) + 5.0 * float(terms['loss_dice']),
      rtol=1e-6)


def test_no_targets_clamps_num_masks():
  """An all-padding batch: mask terms 0, CE = no-object weighted mean."""
  outputs, targets = _synthetic(seed=4, aux_layers=0)
  targets['valid'][:] = False
  _, terms = criterion_lib.MaskFormerCriterion(losses_cfg.Losses())(
      outputs, targets)
  assert float(terms['loss_mask']) == 0.0 and float(terms['loss_dice']) == 0.0
  logits = outputs['pred_logits'].astype(np.float64)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(float(terms['loss_ce']),
                             -log_probs[..., -1].mean(), rtol=1e-6)
