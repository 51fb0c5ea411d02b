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

"""Mask2Former's matcher and criterion against the PyTorch reference.

`m2f_standalone/matcher_criterion.npz`: 5 images with 0, 1, 5, 20 and 50
targets, 50 queries, 133 classes, a final and 2 auxiliary heads, and the
points the original drew (`matcher_points_*` per head and image,
`loss_points_*` per head and matched pair). Parity as the fixture's README
defines it: costs within `max(10 * float32_error, 1e-6 * max(1, |ref|))`;
our matchings optimal for our costs and the reference matchings equally
optimal under them; the 9 terms within a relative 1e-5 with the recorded
points and the reference matchings, 1e-4 with our own matchings.

The recorded loss points belong to the reference's matched pairs, so they
only apply to our matchings where these agree: the own-matching test first
asserts that all 15 do (the original's own float64 run gives the same ones
too), then compares the losses; a differing matching would have to be
compared with freshly drawn points instead, statistically.

The terms and gradients of 2 replicas against 1 (recorded points and
reference matchings, or drawn points and our own matchings) run under
MirroredStrategy with 2 logical CPUs in a fresh interpreter (this module as
a script), as in `test_criterion_distributed.py`.
"""
import json
import os
import pathlib
import subprocess
import sys

import conftest
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.losses import mask2former_criterion as m2f
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import loss_checks

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = ('fixtures', 'mask2former_reference', 'm2f_standalone')
MATCH_TOL = 1e-5  # x (1 + sum |matched costs|)
LOSS_TOL_REFERENCE_MATCHING = 1e-5  # relative
LOSS_TOL_OWN_MATCHING = 1e-4  # relative
# Float64 with the recorded points: PyTorch's float64 result up to float64
# rounding (relative).
FLOAT64_TOL = 1e-12
WEIGHTS = {'loss_ce': 2.0, 'loss_mask': 5.0, 'loss_dice': 5.0}
NUM_REPLICAS = 2
REL_TOL_REPLICAS = 1e-5


def load_fixture(folder):
  """Outputs, targets (segment-map form), points and matchings, as numpy."""
  data = dict(np.load(folder / 'matcher_criterion.npz'))
  info = json.loads((folder / 'manifest.json').read_text())['matcher_criterion']
  counts, heads = info['target_counts'], info['prediction_heads']
  batch, slots = len(counts), info['num_queries']
  num_points = info['train_num_points']
  segment_map = np.full((batch,) + tuple(info['target_hw']), slots, np.int32)
  classes = np.zeros((batch, slots), np.int32)
  valid = np.zeros((batch, slots), bool)
  matching = np.full((len(heads), batch, slots), -1, np.int32)
  loss_points = np.zeros((len(heads), batch, slots, num_points, 2), np.float32)
  for b, count in enumerate(counts):
    for t, mask in enumerate(data[f'tgt_masks_{b}']):
      segment_map[b][mask] = t
    classes[b, :count] = data[f'tgt_classes_{b}']
    valid[b, :count] = True
    for layer, head in enumerate(heads):
      matching[layer, b, data[f'match_{head}_img{b}_tgt']] = (
          data[f'match_{head}_img{b}_src'])
  for layer, head in enumerate(heads):
    firsts = np.cumsum([0] + counts)
    for b, count in enumerate(counts):
      loss_points[layer, b, :count] = (
          data[f'loss_points_{head}'][firsts[b]:firsts[b] + count])
  outputs = {
      'pred_logits': data['pred_logits'], 'pred_masks': data['pred_masks'],
      'aux_outputs': [{'pred_logits': data[f'aux{j}_pred_logits'],
                       'pred_masks': data[f'aux{j}_pred_masks']}
                      for j in range(len(heads) - 1)]}
  targets = {maskformer_input.SEGMENT_MAP: segment_map, 'classes': classes,
             'valid': valid}
  matcher_points = np.stack([
      np.stack([data[f'matcher_points_{head}_img{b}'] for b in range(batch)])
      for head in heads])
  return dict(data=data, info=info, outputs=outputs, targets=targets,
              matching=matching, matcher_points=matcher_points,
              loss_points=loss_points)


@pytest.fixture(scope='module')
def fixture(m2f_reference_dir):
  return load_fixture(m2f_reference_dir / 'm2f_standalone')


def _params(info):
  return losses_cfg.PointSampledLosses(
      train_num_points=info['train_num_points'],
      oversample_ratio=info['oversample_ratio'],
      importance_sample_ratio=info['importance_sample_ratio'],
      no_object_weight=info['eos_coef'])


def _recorded(fixture):
  return m2f.with_point_sampling(fixture['targets'],
                                 matcher_points=fixture['matcher_points'],
                                 loss_points=fixture['loss_points'])


def _layer_costs(fixture, targets):
  """Our [L, B, Q, T] costs at the recorded matcher points (float32)."""
  criterion = m2f.Mask2FormerCriterion(_params(fixture['info']))
  matcher = m2f.PointSampledMatcher(_params(fixture['info']))
  return tf.function(matcher.costs)(criterion.layers(fixture['outputs']),
                                    targets).numpy()


def _relative_error(value, reference):
  return abs(float(value) - reference) / abs(reference)


def test_cost_matrices(fixture):
  """Every head and image, with both target forms (identical costs)."""
  info, data = fixture['info'], fixture['data']
  costs = _layer_costs(fixture, _recorded(fixture))
  masks = maskformer_input.all_masks(fixture['targets'])
  from_masks = _layer_costs(fixture, m2f.with_point_sampling(
      {'masks': masks, 'classes': fixture['targets']['classes'],
       'valid': fixture['targets']['valid']},
      matcher_points=fixture['matcher_points']))
  for layer, head in enumerate(info['prediction_heads']):
    for b, count in enumerate(info['target_counts']):
      reference = data[f'cost_{head}_img{b}']
      ours = costs[layer, b, :, :count]
      assert ours.shape == reference.shape
      np.testing.assert_array_equal(ours, from_masks[layer, b, :, :count])
      if count:
        bound = checks_lib.pytorch_error_bound(
            info['float32_error'][f'cost/{head}_img{b}'],
            np.abs(reference).max())
        assert np.abs(ours - reference).max() <= bound, (head, b)


def _total(cost, valid, query_for_target):
  targets = np.nonzero(valid)[0]
  matched = cost[query_for_target[targets], targets].astype(np.float64)
  return matched.sum(), np.abs(matched).sum()


def _compiled_step(criterion):
  """Matching, terms and gradients of the whole criterion, under XLA."""

  @tf.function(jit_compile=True)
  def step(outputs, targets):
    with tf.GradientTape() as tape:
      tape.watch(tf.nest.flatten(outputs))
      matching = criterion.match(outputs, targets)
      total, terms = criterion(outputs, targets, matching)
    return matching, total, terms, tape.gradient(total,
                                                 tf.nest.flatten(outputs))

  return step


def test_compiled_criterion_own_matchings(fixture):
  """One XLA step: optimal matchings, the 9 terms, finite gradients."""
  info = fixture['info']
  step = _compiled_step(m2f.Mask2FormerCriterion(_params(info)))
  matching, total, terms, gradients = step(
      tf.nest.map_structure(tf.constant, fixture['outputs']),
      _recorded(fixture))
  matching = matching.numpy()
  costs = _layer_costs(fixture, _recorded(fixture))
  valid = fixture['targets']['valid']
  for layer, head in enumerate(info['prediction_heads']):
    for b in range(len(info['target_counts'])):
      cost = costs[layer, b]
      optimum, scale = _total(cost, valid[b],
                              loss_checks.scipy_matching(cost, valid[b]))
      reference_optimum = info['optimal_assignment_cost'][f'{head}_img{b}']
      assert abs(optimum - reference_optimum) <= MATCH_TOL * (1 + scale)
      for candidate in (matching[layer, b], fixture['matching'][layer, b]):
        total_cost, scale = _total(cost, valid[b], candidate)
        assert abs(total_cost - optimum) <= MATCH_TOL * (1 + scale), head
  # The recorded loss points belong to the reference's pairs.
  np.testing.assert_array_equal(matching, fixture['matching'])
  assert set(terms) == set(info['losses_unweighted'])
  for name, reference in info['losses_unweighted'].items():
    assert _relative_error(terms[name], reference) <= LOSS_TOL_OWN_MATCHING
  assert _relative_error(total, info['loss_total']) <= LOSS_TOL_OWN_MATCHING
  for gradient in gradients:
    assert np.all(np.isfinite(gradient.numpy()))
    assert np.any(gradient.numpy() != 0)


@pytest.mark.parametrize('dtype', [tf.float32, tf.float64])
def test_losses_with_reference_matchings(fixture, dtype):
  """Recorded points and reference matchings.

  float32: within a relative 1e-5. float64: PyTorch's own float64 result,
  i.e. the stored float32 value off by exactly its `float32_error`, up to
  float64 rounding. PyTorch's float64 run widens the float32 buffer of the
  class weights (`empty_weight`), so its "no object" weight is 0.1 rounded
  to float32: the float64 run here takes that weight too.
  """
  info = fixture['info']
  params = _params(info)
  if dtype == tf.float64:
    params.no_object_weight = float(np.float32(info['eos_coef']))
  outputs = tf.nest.map_structure(lambda x: tf.constant(x, dtype),
                                  fixture['outputs'])
  total, terms = m2f.Mask2FormerCriterion(params)(
      outputs, _recorded(fixture), fixture['matching'])
  assert total.dtype == dtype
  assert set(terms) == set(info['losses_unweighted'])
  for name, reference in info['losses_unweighted'].items():
    error = abs(float(terms[name]) - reference)
    if dtype == tf.float32:
      assert error <= LOSS_TOL_REFERENCE_MATCHING * abs(reference), name
    else:
      assert abs(error - info['float32_error'][f'loss/{name}']) <= (
          FLOAT64_TOL * abs(reference)), name
  assert _relative_error(total, info['loss_total']) <= (
      LOSS_TOL_REFERENCE_MATCHING)
  weighted = [WEIGHTS[name.rsplit('_', 1)[0] if name[-1].isdigit() else name]
              * float(value) for name, value in terms.items()]
  np.testing.assert_allclose(float(total), sum(weighted), rtol=1e-6)


def test_drawn_points_reproducible_per_step(fixture):
  """Seeded draws instead of recorded points.

  The matcher's (eagerly): the same seed gives the same costs, the next step
  others. The losses' (final head, reference matchings) through the
  criterion's own compilation, whose gradient is a second XLA program that
  recomputes the sums and must therefore draw the same points: the same
  values and gradients as one XLA program of the loss and its gradient.
  """
  info = fixture['info']
  params = _params(info)
  matcher = m2f.PointSampledMatcher(params)
  outputs = tf.nest.map_structure(tf.constant, fixture['outputs'])
  seeded = [m2f.with_point_sampling(fixture['targets'],
                                    seed=tf.constant([0, step_number]))
            for step_number in (1, 1, 2)]
  layers = m2f.Mask2FormerCriterion(params).layers(outputs)
  costs = [matcher.costs(layers, targets).numpy() for targets in seeded]
  np.testing.assert_array_equal(costs[0], costs[1])
  assert not np.any(costs[0][:, 4] == costs[2][:, 4])  # 50 targets

  final = {k: v for k, v in outputs.items() if k != 'aux_outputs'}
  matching = fixture['matching'][:1]

  def loss_and_gradient(criterion, targets):
    with tf.GradientTape() as tape:
      tape.watch(final['pred_masks'])
      total, terms = criterion(final, targets, matching)
    return total, terms, tape.gradient(total, final['pred_masks'])

  compiled = m2f.Mask2FormerCriterion(params, jit_compile=True)
  runs = [loss_and_gradient(compiled, targets) for targets in seeded]
  assert float(runs[0][0]) == float(runs[1][0]) != float(runs[2][0])
  np.testing.assert_array_equal(runs[0][2].numpy(), runs[1][2].numpy())
  one_program = tf.function(
      lambda targets: loss_and_gradient(m2f.Mask2FormerCriterion(params),
                                        targets), jit_compile=True)
  total, _, gradient = one_program(seeded[0])
  np.testing.assert_allclose(float(runs[0][0]), float(total), rtol=1e-6)
  np.testing.assert_allclose(runs[0][2].numpy(), gradient.numpy(), rtol=0,
                             atol=1e-6 * np.abs(gradient.numpy()).max())
  # Other points than the reference's: the same losses up to the noise.
  for _, terms, _ in runs:
    for name in ('loss_mask', 'loss_dice'):
      assert _relative_error(terms[name],
                             info['losses_unweighted'][name]) <= 0.02
  with pytest.raises(ValueError, match='point_seed'):
    compiled(fixture['outputs'], fixture['targets'])


def test_batch_without_targets_and_bfloat16_predictions():
  """No target: mask terms 0; bfloat16 predictions: float32 terms."""
  rng = np.random.default_rng(0)
  outputs = {'pred_logits': rng.normal(size=(2, 6, 4)),
             'pred_masks': rng.normal(size=(2, 6, 4, 5))}
  targets = m2f.with_point_sampling(
      {maskformer_input.SEGMENT_MAP: np.zeros((2, 16, 20), np.int32),
       'classes': np.zeros((2, 3), np.int32), 'valid': np.zeros((2, 3), bool)},
      seed=tf.constant([1, 2]))
  criterion = m2f.Mask2FormerCriterion(losses_cfg.PointSampledLosses(
      train_num_points=20))
  narrow = tf.nest.map_structure(lambda x: tf.constant(x, tf.bfloat16),
                                 outputs)
  total, terms = criterion(narrow, targets)
  assert total.dtype == tf.float32
  assert float(terms['loss_mask']) == float(terms['loss_dice']) == 0.0
  assert float(total) == 2.0 * float(terms['loss_ce']) > 0.0


def test_two_replicas_equal_one(shared_dir):
  """With the recorded points and reference matchings, and with drawn points
  and our own matchings (the draws are keyed by global image index)."""
  del shared_dir  # Skips the test without the fixtures.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3',
             PYTHONPATH=os.pathsep.join(
                 [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(
                     os.pathsep)))
  result = subprocess.run([sys.executable, __file__], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600,
                          check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  reports = json.loads(result.stdout.strip().splitlines()[-1])
  assert sorted(reports) == ['drawn', 'recorded']
  for report in reports.values():
    assert report['num_replicas'] == NUM_REPLICAS
    assert len(set(report['replica_totals'])) == NUM_REPLICAS
    assert len(report['single_terms']) == 9
    for name, single in report['single_terms'].items():
      summed = report['summed_terms'][name]
      assert abs(summed - single) <= REL_TOL_REPLICAS * abs(single), name
    assert abs(report['summed_total'] - report['single_total']) <= (
        REL_TOL_REPLICAS * abs(report['single_total']))
    assert report['max_gradient_difference'] <= (
        REL_TOL_REPLICAS * report['max_gradient'])
  # Other points, hence other (nonzero) mask terms than the recorded ones.
  assert (reports['drawn']['single_terms']['loss_mask'] !=
          reports['recorded']['single_terms']['loss_mask'])


def _replicas_and_single(outputs, targets, matching, criterion):
  """Terms and gradients of the 4 images on 1 replica and 2 per replica.

  Args:
    outputs: The criterion's predictions of the 4 images.
    targets: Their targets (recorded points: [L, B, ...], split on axis 1).
    matching: The [L, B, Q] matchings to use, or None for our own.
    criterion: A `Mask2FormerCriterion`.

  Returns:
    A JSON-able report.
  """
  def step(outputs, targets, matching=None):
    with tf.GradientTape() as tape:
      tape.watch(tf.nest.flatten(outputs))
      total, terms = criterion(outputs, targets, matching)
    return total, terms, tape.gradient(total, tf.nest.flatten(outputs))

  inputs = (outputs, targets) if matching is None else (outputs, targets,
                                                        matching)
  single_total, single_terms, single_gradients = tf.function(step)(*inputs)
  strategy = tf.distribute.MirroredStrategy(
      [f'/cpu:{i}' for i in range(NUM_REPLICAS)])
  per_replica = 2
  by_layer = (m2f.MATCHER_POINTS, m2f.LOSS_POINTS)

  def shard(context):
    part = slice(context.replica_id_in_sync_group * per_replica,
                 (context.replica_id_in_sync_group + 1) * per_replica)
    local = (tf.nest.map_structure(lambda x: x[part], outputs),
             {k: v if k == m2f.POINT_SEED else
                 (v[:, part] if k in by_layer else v[part])
              for k, v in targets.items()})
    return local if matching is None else local + (matching[:, part],)

  distributed = strategy.experimental_distribute_values_from_function(shard)
  total, terms, gradients = tf.function(
      lambda inputs: strategy.run(step, args=inputs))(distributed)
  return {
      'num_replicas': strategy.num_replicas_in_sync,
      'single_total': float(single_total),
      'single_terms': {k: float(v) for k, v in single_terms.items()},
      'summed_total': float(strategy.reduce('SUM', total, axis=None)),
      'summed_terms': {k: float(strategy.reduce('SUM', v, axis=None))
                       for k, v in terms.items()},
      'replica_totals': [float(t) for t in
                         strategy.experimental_local_results(total)],
      'max_gradient_difference': max(
          float(np.abs(np.concatenate(
              [g.numpy() for g in strategy.experimental_local_results(dist)])
                       - single.numpy()).max())
          for dist, single in zip(gradients, single_gradients)),
      'max_gradient': max(float(np.abs(g.numpy()).max())
                          for g in single_gradients),
  }


def _compare_replicas_with_single():
  """Images 1..4 (1, 5, 20, 50 targets), 2 per replica, with the recorded
  points and the reference matchings, and with drawn points and our own
  matchings."""
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * NUM_REPLICAS)
  fixture = load_fixture(conftest.shared_dir_path().joinpath(*FIXTURE))
  images = slice(1, 5)
  outputs = tf.nest.map_structure(lambda x: tf.constant(x[images]),
                                  fixture['outputs'])
  targets = {k: tf.constant(v[images]) for k, v in fixture['targets'].items()}
  criterion = m2f.Mask2FormerCriterion(_params(fixture['info']))
  recorded = m2f.with_point_sampling(
      targets,
      matcher_points=tf.constant(fixture['matcher_points'][:, images]),
      loss_points=tf.constant(fixture['loss_points'][:, images]))
  drawn = m2f.with_point_sampling(targets,
                                  seed=tf.constant([11, 3], tf.int64))
  return {
      'recorded': _replicas_and_single(
          outputs, recorded, tf.constant(fixture['matching'][:, images]),
          criterion),
      'drawn': _replicas_and_single(outputs, drawn, None, criterion),
  }


if __name__ == '__main__':
  print(json.dumps(_compare_replicas_with_single()))
