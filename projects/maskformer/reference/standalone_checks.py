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

"""Checks of the matcher, criterion and post-processing on standalone cases.

`matcher_criterion.{npz,json}` (random predictions and targets): per image,
our final-layer matching cost against `cost_<b>` within
`1e-4 * max(1, |C|)` element-wise, our matched cost against
`optimal_assignment_cost`, then the matching and loss checks of
`loss_checks` (every layer; the auxiliary layers have no stored matching).

`postprocess.{npz,json}` (random logits at the output size): per case, the
panoptic map and segment list identical to the reference's and, where
stored, the semantic scores within 1e-5.
"""
from typing import List

import numpy as np
import tensorflow as tf

from projects.maskformer.losses import criterion as criterion_lib
from projects.maskformer.modeling import inference
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import inference_checks
from projects.maskformer.reference import loss_checks

COST_TOLERANCE = 1e-4  # x max(1, |C|), element-wise


def stored_predictions(arrays) -> dict:
  """The stored final and auxiliary predictions in the model's format."""
  aux_outputs = []
  while f'aux{len(aux_outputs)}_pred_logits' in arrays:
    j = len(aux_outputs)
    aux_outputs.append({'pred_logits': arrays[f'aux{j}_pred_logits'],
                        'pred_masks': arrays[f'aux{j}_pred_masks']})
  return {'pred_logits': arrays['pred_logits'],
          'pred_masks': arrays['pred_masks'], 'aux_outputs': aux_outputs}


def matcher_criterion_checks(part: fixture_lib.StandalonePart
                             ) -> List[checks_lib.Result]:
  """Cost, matching and loss checks of `matcher_criterion.{npz,json}`.

  Args:
    part: the loaded files.

  Returns:
    Checks named 'cost.img<b>', 'matching.*' (with
    'matching.final.img<b>.optimal_assignment_cost') and 'loss.*', and notes.
  """
  meta, arrays = part.meta, part.arrays
  outputs = stored_predictions(arrays)
  masks = fixture_formats.per_image(arrays, 'tgt_masks')
  classes = fixture_formats.per_image(arrays, 'tgt_classes')
  padded_size = meta.get('target_hw') or [
      max(m.shape[i] for m in masks) for i in (1, 2)]
  targets = fixture_formats.padded_targets(
      masks, classes, padded_size, max(1, max(len(c) for c in classes)))
  num_images, num_slots = targets['valid'].shape
  params = fixture_formats.losses_config(meta)
  num_layers = len(criterion_lib.MaskFormerCriterion(params).layers(outputs))
  stored = [fixture_formats.stored_matching(
      arrays, 'match_{b}', num_images, num_slots)] + [None] * (num_layers - 1)
  measured = loss_checks.criterion_checks(
      params, outputs, targets, stored, meta.get('losses_unweighted'),
      meta.get('loss_total'))
  results: List[checks_lib.Result] = []
  for b in range(num_images):
    count = len(classes[b])
    if f'cost_{b}' in arrays:
      results.append(checks_lib.compare_elementwise_relative(
          f'cost.img{b}', measured.costs[0, b][:, :count], arrays[f'cost_{b}'],
          COST_TOLERANCE))
    else:
      results.append(checks_lib.Skipped(
          f'cost.img{b}', f'{fixture_lib.MATCHER_CRITERION}.npz has no '
          f'cost_{b}'))
  optima = meta.get('optimal_assignment_cost', [])
  if len(optima) < num_images:
    results.append(checks_lib.Skipped(
        'matching.final.optimal_assignment_cost',
        f'{fixture_lib.MATCHER_CRITERION}.json gives "optimal_assignment_cost"'
        f' for {len(optima)} of {num_images} images'))
  if meta.get('losses_unweighted') is None:
    results.append(checks_lib.Skipped(
        'loss', f'{fixture_lib.MATCHER_CRITERION}.json has no '
        '"losses_unweighted"'))
  for b, optimum in enumerate(optima[:num_images]):
    results.append(loss_checks.optimality_check(
        f'matching.final.img{b}.optimal_assignment_cost', measured.costs[0, b],
        targets['valid'][b], measured.matchings[0, b], float(optimum)))
  return results + measured.results


def postprocess_checks(part: fixture_lib.StandalonePart
                       ) -> List[checks_lib.Result]:
  """Panoptic and semantic inference checks of `postprocess.{npz,json}`.

  Args:
    part: the loaded files.

  Returns:
    Checks named 'postprocess.case<c>.{panoptic_segments,panoptic_map,
    semantic_scores}'.
  """
  meta, arrays = part.meta, part.arrays
  things = [int(c) for c in meta['thing_classes']]
  results = []
  for c, case in enumerate(meta['cases']):
    logits = arrays[f'logits_{c}'][np.newaxis]
    masks = arrays[f'masks_{c}'][np.newaxis]
    panoptic = inference.panoptic_inference(
        logits, masks, tf.ones((1,) + masks.shape[2:], tf.bool), things,
        case['object_mask_threshold'], case['overlap_threshold'])
    panoptic = {k: v.numpy() for k, v in panoptic.items()}
    name = f'postprocess.case{c}.'
    results.append(inference_checks.compare_segments(
        name + 'panoptic_segments', inference_checks.segments_info(panoptic, 0),
        case['segments_info']))
    reference_map = arrays[f'panoptic_{c}']
    results.append(inference_checks.compare_maps(
        name + 'panoptic_map', panoptic['panoptic'][0], reference_map,
        np.ones(reference_map.shape, bool)))
    if f'semantic_{c}' in arrays:
      semantic = inference.semantic_inference(logits, masks)
      results.append(checks_lib.compare(
          name + 'semantic_scores',
          semantic[0].numpy().transpose(2, 0, 1), arrays[f'semantic_{c}'],
          inference_checks.SEMANTIC_TOLERANCE))
    else:
      results.append(checks_lib.Skipped(
          name + 'semantic_scores', f'{fixture_lib.POSTPROCESS}.npz has no '
          f'semantic_{c}'))
  return results


def standalone_checks(fixture: fixture_lib.StandaloneFixture
                      ) -> List[checks_lib.Result]:
  """Every check of the parts a standalone folder holds."""
  results: List[checks_lib.Result] = []
  for part, present, checks in (
      (fixture_lib.MATCHER_CRITERION, fixture.matcher_criterion,
       matcher_criterion_checks),
      (fixture_lib.POSTPROCESS, fixture.postprocess, postprocess_checks)):
    if present is not None:
      results.extend(checks(present))
    else:
      results.append(checks_lib.Skipped(
          part, f'{fixture.path} has no {part}.npz / {part}.json'))
  return results
