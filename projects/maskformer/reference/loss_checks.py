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

"""Matching and loss checks: every decoder layer against a fixture.

The rule (`docs/semantics.md`, section 11): random weights leave
near-ties, so matchings are not compared index by index. For every layer and
image, with C our matching cost:

  * our matching is optimal for C: its total equals scipy's optimum of C
    within `1e-5 * (1 + sum |matched costs|)`;
  * the reference matching is equally optimal under C (same bound);
  * how many matched indices equal the reference's is reported as a note.

The loss terms (`loss_ce`, `loss_mask`, `loss_dice` for the final layer and
`_i` for auxiliary layer i) and the weighted total are compared with the
reference's within a relative 1e-5 when computed with the reference
matchings and 1e-4 with our own. A layer without a stored reference matching
(e.g. the auxiliary layers of the standalone fixture) uses scipy's optimum of
C as its reference matching, and a note says so.

`float64_loss_checks` runs the criterion on the float64 model run with the
stored matchings and compares every term and the total with the exact
(float64) values of `float32_error.json` within `2e-7 * max(1, |exact|)`.
"""
import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
from scipy import optimize
import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.losses import criterion as criterion_lib
from projects.maskformer.losses import matching_cost
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import model_checks

MATCHING_TOLERANCE = 1e-5  # x (1 + sum |matched costs|)
LOSS_TOLERANCE_REFERENCE_MATCHING = 1e-5  # relative
LOSS_TOLERANCE_OWN_MATCHING = 1e-4  # relative


def scipy_matching(cost: np.ndarray, valid: np.ndarray) -> np.ndarray:
  """scipy's optimal matching of `cost[:, valid]`.

  Args:
    cost: A float [Q, T] array.
    valid: A bool [T] array.

  Returns:
    An int32 [T] array: the query of each valid target, -1 for the others.
  """
  targets = np.nonzero(valid)[0]
  queries, columns = optimize.linear_sum_assignment(
      cost[:, targets].astype(np.float64))
  matching = np.full(len(valid), -1, np.int32)
  matching[targets[columns]] = queries
  return matching


def matched_cost(cost: np.ndarray, valid: np.ndarray,
                 matching: np.ndarray) -> Tuple[float, float]:
  """The total and the total magnitude of a matching's costs (float64).

  Args:
    cost: A float [Q, T] array.
    valid: A bool [T] array.
    matching: An int [T] array, the query of each valid target.

  Returns:
    (sum of the matched costs, sum of their absolute values).
  """
  targets = np.nonzero(valid)[0]
  matched = cost[matching[targets], targets].astype(np.float64)
  return float(matched.sum()), float(np.abs(matched).sum())


def optimality_check(name: str, cost: np.ndarray, valid: np.ndarray,
                     matching: np.ndarray, optimum: float) -> checks_lib.Check:
  """A matching's total within `1e-5 * (1 + sum|matched|)` of `optimum`."""
  targets = np.nonzero(valid)[0]
  queries = matching[targets]
  if (np.any(queries < 0) or np.any(queries >= cost.shape[0]) or
      len(set(queries.tolist())) != len(queries)):
    return checks_lib.Check(name, float('inf'), 0.0, False,
                            'not a one-to-one matching of the valid targets')
  total, scale = matched_cost(cost, valid, matching)
  tolerance = MATCHING_TOLERANCE * (1.0 + scale)
  error = abs(total - optimum)
  return checks_lib.Check(name, error, tolerance, error <= tolerance,
                          f'total {total!r} vs optimum {optimum!r}')


def layer_costs(params: losses_cfg.Losses,
                layers: Sequence[Tuple[Any, Any]],
                targets: Mapping[str, np.ndarray]) -> np.ndarray:
  """Our matching cost of every layer.

  Args:
    params: the criterion's settings (cost weights, focal alpha/gamma).
    layers: (pred_logits [B, Q, K+1], pred_masks [B, Q, h, w]) per layer.
    targets: 'masks' [B, T, H, W] and 'classes' [B, T].

  Returns:
    A float32 [L, B, Q, T] array.
  """
  return np.stack([
      matching_cost.matching_cost(
          logits, masks, targets['classes'], targets['masks'],
          class_weight=params.cost_class_weight,
          mask_weight=params.cost_mask_weight,
          dice_weight=params.cost_dice_weight,
          focal_alpha=params.focal_alpha,
          focal_gamma=params.focal_gamma).numpy()
      for logits, masks in layers
  ])


def matching_checks(costs: np.ndarray, valid: np.ndarray, ours: np.ndarray,
                    stored: Sequence[Optional[np.ndarray]]
                    ) -> Tuple[List[checks_lib.Result], np.ndarray]:
  """Optimality of our and the reference matchings under our costs.

  Args:
    costs: A float [L, B, Q, T] array, our cost of each layer (final first).
    valid: A bool [B, T] array.
    ours: An int [L, B, T] array, our matchings.
    stored: per layer, the reference's int [B, T] matching or None.

  Returns:
    (checks and notes named 'matching.<layer>.img<b>.*', the reference
    matchings as an int32 [L, B, T] array: the stored ones, scipy's optimum of
    our cost for layers without one).
  """
  results: List[checks_lib.Result] = []
  references = []
  for layer, reference in enumerate(stored):
    name = f'matching.{fixture_formats.layer_key(layer)}'
    optima = [scipy_matching(costs[layer, b], valid[b])
              for b in range(valid.shape[0])]
    if reference is None:
      results.append(checks_lib.Note(
          f'{name}.reference', 'none stored: the losses with reference '
          "matchings use scipy's optimum of our cost"))
      reference = np.stack(optima)
    for b, optimum_matching in enumerate(optima):
      cost, image_valid = costs[layer, b], valid[b]
      optimum, _ = matched_cost(cost, image_valid, optimum_matching)
      results.append(optimality_check(f'{name}.img{b}.ours_optimal', cost,
                                      image_valid, ours[layer, b], optimum))
      if stored[layer] is not None:
        results.append(optimality_check(
            f'{name}.img{b}.reference_optimal', cost, image_valid,
            reference[b], optimum))
        targets = np.nonzero(image_valid)[0]
        same = int(np.sum(ours[layer, b][targets] == reference[b][targets]))
        results.append(checks_lib.Note(f'{name}.img{b}.identical_indices',
                                       f'{same}/{len(targets)}'))
    references.append(reference)
  return results, np.stack(references).astype(np.int32)


def loss_checks(prefix: str, terms: Mapping[str, Any], total: Any,
                expected_terms: Mapping[str, float],
                expected_total: Optional[float],
                relative: float) -> List[checks_lib.Check]:
  """Each expected loss term (and the total) within `relative` of ours.

  Args:
    prefix: prepended to the check names, e.g. 'loss.reference_matching.'.
    terms: our unweighted terms (scalars).
    total: our weighted total.
    expected_terms: the reference's unweighted terms.
    expected_total: the reference's weighted total, or None.
    relative: the relative tolerance.

  Returns:
    One check per expected term, then 'total'; a term we do not compute
    fails.
  """
  results = []
  for name, expected in expected_terms.items():
    if name in terms:
      results.append(checks_lib.compare_relative(
          prefix + name, terms[name], expected, relative))
    else:
      results.append(checks_lib.Check(
          prefix + name, float('inf'), relative * abs(expected), False,
          f'not computed (ours: {sorted(terms)})'))
  if expected_total is not None:
    results.append(checks_lib.compare_relative(prefix + 'total', total,
                                               expected_total, relative))
  return results


class CriterionChecks(NamedTuple):
  """What `criterion_checks` measured.

  Attributes:
    results: the checks and notes.
    matchings: our matchings, an int32 [L, B, T] array (final layer first).
    costs: our matching costs, a float32 [L, B, Q, T] array.
  """
  results: List[checks_lib.Result]
  matchings: np.ndarray
  costs: np.ndarray


def criterion_checks(params: losses_cfg.Losses,
                     outputs: Mapping[str, Any],
                     targets: Mapping[str, np.ndarray],
                     stored: Sequence[Optional[np.ndarray]],
                     expected_terms: Optional[Mapping[str, float]],
                     expected_total: Optional[float]
                     ) -> Tuple[List[checks_lib.Result], np.ndarray]:
  """Matching checks of every layer, then the losses with both matchings.

  Args:
    params: the criterion's settings.
    outputs: predictions in the model's output format (`pred_logits`,
      `pred_masks`, `aux_outputs`).
    targets: 'masks' bool [B, T, H, W], 'classes' int32 [B, T], 'valid' bool
      [B, T].
    stored: per layer (final first), the reference matching or None; its
      length must be the number of layers of `outputs`.
    expected_terms: the reference's unweighted terms, or None (no loss
      checks).
    expected_total: the reference's weighted total, or None.

  Returns:
    A `CriterionChecks`.

  Raises:
    ValueError: `stored` does not have one entry per layer.
  """
  criterion = criterion_lib.MaskFormerCriterion(params)
  outputs = {key: outputs[key] for key in criterion_lib.PREDICTION_KEYS if key in outputs}
  layers = criterion.layers(outputs)
  if len(layers) != len(stored):
    raise ValueError(f'{len(stored)} stored matchings for {len(layers)} layers')
  ours = tf.function(criterion.match)(outputs, targets).numpy()
  costs = layer_costs(params, layers, targets)
  results, references = matching_checks(costs, targets['valid'], ours, stored)
  if expected_terms is not None:
    for label, matching, relative in (
        ('reference_matching', references, LOSS_TOLERANCE_REFERENCE_MATCHING),
        ('own_matching', ours, LOSS_TOLERANCE_OWN_MATCHING)):
      total, terms = criterion(outputs, targets, matching)
      results.extend(loss_checks(
          f'loss.{label}.', {k: float(v) for k, v in terms.items()},
          float(total), expected_terms, expected_total, relative))
  return CriterionChecks(results, ours, costs)


def model_targets(fixture: fixture_lib.ModelFixture
                  ) -> Optional[Dict[str, np.ndarray]]:
  """The loss targets of a model fixture's images, None without ground truth.

  Targets are the `gt_masks_i` / `gt_classes_i` of each image, padded to the
  padded image size and to as many slots as the largest image has.
  """
  arrays = fixture.arrays
  masks = fixture_formats.per_image(arrays, 'gt_masks')
  classes = fixture_formats.per_image(arrays, 'gt_classes')
  num_images = arrays['padded_normalized_images'].shape[0]
  if not masks:
    return None
  if len(masks) != num_images or len(classes) != num_images:
    raise fixture_lib.FixtureError(
        f'{fixture.path / fixture_lib.REFERENCE}: {len(masks)} gt_masks_i and '
        f'{len(classes)} gt_classes_i arrays for {num_images} images')
  return fixture_formats.padded_targets(
      masks, classes, arrays['padded_normalized_images'].shape[2:],
      max(1, max(len(c) for c in classes)))


def matching_and_loss_checks(run: model_checks.ModelRun
                             ) -> List[checks_lib.Result]:
  """The model suite: matchings and losses of our outputs on the fixture.

  Args:
    run: the model run.

  Returns:
    Checks named 'matching.*' and 'loss.{reference,own}_matching.*', and
    notes; a `Skipped` if the fixture has no ground truth.

  Raises:
    FixtureError: ground truth without the manifest's `losses_unweighted`
      and `loss_total`.
  """
  targets = model_targets(run.fixture)
  if targets is None:
    return [checks_lib.Skipped(
        'matching, loss', f'{fixture_lib.REFERENCE} has no ground truth '
        '(gt_masks_i, gt_classes_i)')]
  manifest = run.fixture.manifest
  fixture_lib.require(manifest, ['losses_unweighted', 'loss_total'],
                      run.fixture.path / fixture_lib.MANIFEST)
  params = fixture_formats.losses_config(manifest)
  num_layers = len(criterion_lib.MaskFormerCriterion(params).layers(
      run.outputs))
  num_images, num_slots = targets['valid'].shape
  stored = [fixture_formats.stored_matching(
      run.fixture.arrays, f'match_{fixture_formats.layer_key(layer)}_img{{b}}',
      num_images, num_slots) for layer in range(num_layers)]
  return criterion_checks(params, run.outputs, targets, stored,
                          manifest.get('losses_unweighted'),
                          manifest.get('loss_total')).results


def float64_loss_checks(run: model_checks.ModelRun) -> List[checks_lib.Check]:
  """The float64 run's loss terms with the stored matchings, against exact.

  Args:
    run: the float64 model run of a fixture with exact answers.

  Returns:
    Checks named 'float64.loss.<term>' and 'float64.loss.total'; a `Skipped`
    if the fixture has no ground truth.

  Raises:
    FixtureError: a layer's stored matching or an exact loss value is
      missing.
  """
  fixture = run.fixture
  targets = model_targets(fixture)
  if targets is None:
    return [checks_lib.Skipped(
        'float64.loss', f'{fixture_lib.REFERENCE} has no ground truth '
        '(gt_masks_i, gt_classes_i)')]
  exact = fixture.float32_error or {}
  source = fixture.path / fixture_lib.FLOAT32_ERROR
  fixture_lib.require(exact, ['losses_stored_matchings', 'loss_total'], source)
  params = fixture_formats.losses_config(fixture.manifest)
  criterion = criterion_lib.MaskFormerCriterion(params)
  num_layers = len(criterion.layers(run.outputs))
  num_images, num_slots = targets['valid'].shape
  matchings = []
  for layer in range(num_layers):
    key = fixture_formats.layer_key(layer)
    matching = fixture_formats.stored_matching(
        fixture.arrays, f'match_{key}_img{{b}}', num_images, num_slots)
    if matching is None:
      raise fixture_lib.FixtureError(
          f'{fixture.path / fixture_lib.REFERENCE}: no stored matching of '
          f'layer {key} (match_{key}_img<b>_src/_tgt)')
    matchings.append(matching)
  outputs = {key: run.outputs[key] for key in criterion_lib.PREDICTION_KEYS
             if key in run.outputs}
  total, terms = criterion(outputs, targets, np.stack(matchings))
  expected = dict(exact['losses_stored_matchings'])
  expected['total'] = exact['loss_total']
  ours = dict(terms, total=total)
  results = []
  for name, values in expected.items():
    fixture_lib.require(values, ['f64'], source)
    if name not in ours:
      results.append(checks_lib.Check(
          f'float64.loss.{name}', float('inf'), 0.0, False,
          f'not computed (ours: {sorted(terms)})'))
      continue
    check = checks_lib.compare_scaled(
        f'float64.loss.{name}', float(ours[name]), values['f64'],
        checks_lib.FLOAT64_RELATIVE_TOLERANCE)
    pytorch = values.get('f32_manifest')
    results.append(dataclasses.replace(
        check, pytorch_err=None if pytorch is None else
        abs(float(pytorch) - float(values['f64']))))
  return results
