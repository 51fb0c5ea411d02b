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

"""Mask2Former's matcher and criterion against a fixture's recorded run.

Both Mask2Former fixture folders store, for each prediction head (`final`,
`aux0`, ...; the criterion's order) and image b, the points the original
drew: `matcher_points_{head}_img{b}` [P, 2] (shared by the image's
predictions and targets), `loss_points_{head}` [N, P, 2] (one row per
matched pair, image by image, queries ascending), and its cost matrix
`cost_{head}_img{b}` [Q, T] and matching `match_{head}_img{b}_{src|tgt}`.
With those points injected (`mask2former_criterion.with_point_sampling`),
parity as the fixtures' README defines it:

  * costs within `max(10 * float32_error, 1e-6 * max(1, max|ref|))`;
  * our matching optimal for our costs, the reference matching equally
    optimal under them (`loss_checks.matching_checks`), and our optimum
    equal to the stored `optimal_assignment_cost` (total within
    `1e-5 * (1 + sum |matched costs|)`); identical indices as notes;
  * every loss term and the total within a relative 1e-5 with the reference
    matchings, 1e-4 with our own. The recorded loss points are rows of the
    reference's matched pairs in query order; where our matching differs
    (a tie), the same rows are used for our pairs.
"""
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence

import numpy as np
import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.losses import mask2former_criterion as m2f_criterion
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import loss_checks


def recorded_points(arrays: Mapping[str, np.ndarray], heads: Sequence[str],
                    num_images: int, num_slots: int) -> Dict[str, np.ndarray]:
  """The recorded points in `with_point_sampling`'s layout.

  Args:
    arrays: the fixture arrays.
    heads: the head names, final first.
    num_images: B.
    num_slots: T.

  Returns:
    {'matcher_points': float32 [L, B, P, 2], 'loss_points': float32
    [L, B, T, P, 2]} (rows of an image's pairs in the reference's order).

  Raises:
    FixtureError: a head's points are missing or do not fit its matchings.
  """
  matcher = np.stack([
      np.stack([arrays[f'matcher_points_{head}_img{b}']
                for b in range(num_images)]) for head in heads])
  loss = np.zeros(matcher.shape[:2] + (num_slots,) + matcher.shape[2:],
                  np.float32)
  for layer, head in enumerate(heads):
    rows = arrays[f'loss_points_{head}']
    counts = [len(arrays[f'match_{head}_img{b}_src'])
              for b in range(num_images)]
    if sum(counts) != len(rows) or rows.shape[1:] != matcher.shape[2:]:
      raise fixture_lib.FixtureError(
          f'loss_points_{head} {rows.shape} does not fit {sum(counts)} matched '
          f'pairs of {matcher.shape[2]} points')
    first = np.cumsum([0] + counts)
    for b, count in enumerate(counts):
      loss[layer, b, :count] = rows[first[b]:first[b] + count]
  return {m2f_criterion.MATCHER_POINTS: matcher,
          m2f_criterion.LOSS_POINTS: loss}


def criterion_checks(params: losses_cfg.PointSampledLosses,
                     outputs: Mapping[str, Any],
                     targets: Mapping[str, np.ndarray],
                     arrays: Mapping[str, np.ndarray],
                     heads: Sequence[str],
                     cost_bound: Callable[[str, np.ndarray], float],
                     optimal_costs: Mapping[str, float],
                     expected_terms: Mapping[str, float],
                     expected_total: Optional[float]
                     ) -> List[checks_lib.Result]:
  """Costs, matchings and losses of every head and image (module docstring).

  Args:
    params: the criterion's settings.
    outputs: predictions in the model's output format (`pred_logits`,
      `pred_masks`, `aux_outputs`).
    targets: 'masks' bool [B, T, H, W] (zero-padded to the padded input
      size), 'classes' int32 [B, T], 'valid' bool [B, T].
    arrays: the fixture arrays with the recorded points, costs and
      matchings.
    heads: the fixture's head names; must be `final, aux0, aux1, ...`.
    cost_bound: (key `cost_{head}_img{b}`, reference costs) -> tolerance.
    optimal_costs: the reference's optimum per `{head}_img{b}`.
    expected_terms: the reference's unweighted loss terms.
    expected_total: the reference's weighted total, or None.

  Returns:
    Checks named 'cost.<head>.img<b>', 'matching.<head>.img<b>.*' and
    'loss.{reference,own}_matching.*', and notes.

  Raises:
    FixtureError: heads not in the criterion's order, or missing entries.
  """
  num_images, num_slots = targets['valid'].shape
  criterion = m2f_criterion.Mask2FormerCriterion(params)
  outputs = {key: outputs[key] for key in ('pred_logits', 'pred_masks',
                                           'aux_outputs')}
  layers = criterion.layers(outputs)
  expected_heads = [fixture_formats.layer_key(i) for i in range(len(layers))]
  if list(heads) != expected_heads:
    raise fixture_lib.FixtureError(
        f'prediction heads {list(heads)}; the model has {expected_heads}')
  stored = [fixture_formats.stored_matching(arrays, f'match_{head}_img{{b}}',
                                            num_images, num_slots)
            for head in heads]
  fixture_lib.require(arrays, [
      f'{kind}_{head}_img{b}' for kind in ('matcher_points', 'cost')
      for head in heads for b in range(num_images)] + [
          f'loss_points_{head}' for head in heads], 'the fixture arrays')
  if any(matching is None for matching in stored):
    raise fixture_lib.FixtureError('a head lacks its stored matchings')
  recorded = m2f_criterion.with_point_sampling(
      targets, **recorded_points(arrays, heads, num_images, num_slots))
  costs = tf.function(m2f_criterion.PointSampledMatcher(params).costs)(
      layers, recorded).numpy()
  ours = tf.function(criterion.match)(outputs, recorded).numpy()
  results: List[checks_lib.Result] = []
  for layer, head in enumerate(heads):
    for b in range(num_images):
      key = f'cost_{head}_img{b}'
      reference = arrays[key]
      results.append(checks_lib.compare(
          f'cost.{head}.img{b}', costs[layer, b][:, :reference.shape[1]],
          reference, cost_bound(key, reference)))
      results.append(loss_checks.optimality_check(
          f'matching.{head}.img{b}.optimal_assignment_cost', costs[layer, b],
          targets['valid'][b], ours[layer, b],
          float(optimal_costs[f'{head}_img{b}'])))
  matching_results, references = loss_checks.matching_checks(
      costs, targets['valid'], ours, stored)
  results.extend(matching_results)
  losses = {}  # Identical matchings give identical losses: computed once.
  for label, matching, relative in (
      ('reference_matching', references,
       loss_checks.LOSS_TOLERANCE_REFERENCE_MATCHING),
      ('own_matching', ours, loss_checks.LOSS_TOLERANCE_OWN_MATCHING)):
    key = np.asarray(matching, np.int32).tobytes()
    if key not in losses:
      losses[key] = criterion(outputs, recorded, matching)
    total, terms = losses[key]
    results.extend(loss_checks.loss_checks(
        f'loss.{label}.', {k: float(v) for k, v in terms.items()},
        float(total), expected_terms, expected_total, relative))
  return results
