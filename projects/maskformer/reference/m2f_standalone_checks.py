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

"""Checks of a Mask2Former standalone fixture (random inputs, per part).

As the fixtures' README ("What parity should mean") defines parity, with
`bound = max(10 * float32_error, 1e-6 * max(1, max|reference|))` from the
manifest's per-case `float32_error`:

  * `msdeformattn`: the deformable-attention core on each case within the
    bound (and our level start indices equal to the stored ones), and the
    whole `MSDeformAttn` module with the stored weights;
  * `points`: `point_sample` on each case within the bound; the uncertainty
    point sampling given the stored draws: the uniform rest identical, the
    importance-sampled points identical and in the same order where the
    original's own float64 run picks the same points
    (`identical_in_float64`), elsewhere compared as sets, a point in only
    one of them allowed at a near-tie only (its float64 uncertainty within
    `NEAR_TIE` of the top-k cut);
  * `matcher_criterion`: costs, matchings and the 9 loss terms with the
    recorded points (`m2f_criterion_checks`);
  * `postprocess`: per case, the panoptic segments and map identical, the
    semantic scores (cases that store them) within 10 * float32_error, the
    instance set, scores and masks (`m2f_inference_checks`).
"""
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import Tuple

import numpy as np
import tensorflow as tf

from projects.maskformer.losses import point_sampling
from projects.maskformer.modeling.mask2former import deformable_attention as layer_lib
from projects.maskformer.ops import deformable_attention
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import m2f_criterion_checks
from projects.maskformer.reference import m2f_inference_checks
from projects.maskformer.reference import standalone_checks

# A near-tie at the top-k cut: |uncertainty - cut| at most this times
# max(1, max|logits|) (about ten float32 roundings of a sampled logit).
NEAR_TIE = 1e-6 * checks_lib.PYTORCH_ERROR_MULTIPLE
_PROJECTIONS = ('sampling_offsets', 'attention_weights', 'value_proj',
                'output_proj')


def _bounded(name: str, ours, reference: np.ndarray,
             float32_error: float) -> checks_lib.Check:
  peak = float(np.max(np.abs(reference))) if reference.size else 0.0
  return checks_lib.compare(name, ours, reference,
                            checks_lib.pytorch_error_bound(float32_error, peak))


def msdeformattn_checks(part: fixture_lib.StandalonePart
                        ) -> List[checks_lib.Result]:
  """The core cases and the module (module docstring)."""
  meta, arrays = part.meta, part.arrays
  results = []
  for case in meta['cases']:
    prefix = f'msda{case["case"]}_'
    shapes = [(int(h), int(w)) for h, w in arrays[prefix + 'spatial_shapes']]
    starts = np.asarray(deformable_attention.level_start_index(shapes))
    stored = arrays[prefix + 'level_start_index']
    name = f'msdeformattn.case{case["case"]}'
    results.append(checks_lib.compare_count(
        name + '.level_start_index',
        int(np.sum(starts != stored)) if starts.shape == stored.shape
        else stored.size, stored.size))
    ours = deformable_attention.multi_scale_deformable_attention(
        tf.constant(arrays[prefix + 'value']), shapes,
        tf.constant(arrays[prefix + 'sampling_locations']),
        tf.constant(arrays[prefix + 'attention_weights']))
    results.append(_bounded(name, ours, arrays[prefix + 'output'],
                            case['float32_error']))
  layer, shapes, inputs = msdeformattn_module(arrays, meta['module'])
  results.append(_bounded('msdeformattn.module', layer(*inputs, shapes),
                          arrays['module_output'],
                          meta['module']['float32_error']))
  return results


def msdeformattn_module(
    arrays: Mapping[str, np.ndarray], spec: Mapping
) -> Tuple[layer_lib.MSDeformAttn, List[Tuple[int, int]], List[tf.Tensor]]:
  """The stored `MSDeformAttn` module, its level shapes and inputs.

  Args:
    arrays: msdeformattn.npz (`module_param/<projection>.{weight,bias}` in
      PyTorch's [out, in] layout, `module_{query, reference_points,
      input_flatten, spatial_shapes}`).
    spec: the manifest's `msdeformattn.module` (n_heads, n_levels,
      n_points).

  Returns:
    (layer with the stored weights, [(H_l, W_l)], [query, reference points,
    input]): `layer(*inputs, shapes)` is the module's output.
  """
  layer = layer_lib.MSDeformAttn(spec['n_heads'], spec['n_levels'],
                                 spec['n_points'])
  shapes = [(int(h), int(w)) for h, w in arrays['module_spatial_shapes']]
  inputs = [tf.constant(arrays[f'module_{k}'])
            for k in ('query', 'reference_points', 'input_flatten')]
  layer(*inputs, shapes)
  for projection in _PROJECTIONS:
    dense = getattr(layer, projection)
    dense.kernel.assign(arrays[f'module_param/{projection}.weight'].T)
    dense.bias.assign(arrays[f'module_param/{projection}.bias'])
  return layer, shapes, inputs


def _uncertainty(logits: np.ndarray, points: np.ndarray) -> np.ndarray:
  """float64 `-|point_sample(logits, points)|`, [N, P]."""
  return -np.abs(point_sampling.point_sample(
      tf.constant(logits, tf.float64), tf.constant(points, tf.float64)
  ).numpy())


def _uncertain_case_checks(info: Mapping, arrays: Mapping[str, np.ndarray]
                           ) -> List[checks_lib.Result]:
  """One `get_uncertain_point_coords_with_randomness` case."""
  case = info['case']
  prefix, name = f'uncertain{case}_', f'points.uncertain{case}'
  logits = arrays[prefix + 'coarse_logits'][:, 0]
  candidates = arrays[prefix + 'draw_candidates']
  ours = point_sampling.uncertain_point_coords(
      tf.constant(logits), info['num_points'], info['oversample_ratio'],
      info['importance_sample_ratio'], tf.constant(candidates),
      tf.constant(arrays[prefix + 'draw_random'])).numpy()
  reference = arrays[prefix + 'point_coords']
  if ours.shape != reference.shape:
    return [checks_lib.Check(name, float('inf'), 0.0, False,
                             f'shape {ours.shape} != {reference.shape}')]
  cut = info['num_uncertain']
  rest_differs = np.any(ours[:, cut:] != reference[:, cut:], axis=-1)
  results = [checks_lib.compare_count(name + '.random', int(
      rest_differs.sum()), rest_differs.size)]
  if info['identical_in_float64']:
    differs = np.any(ours[:, :cut] != reference[:, :cut], axis=-1)
    return results + [checks_lib.compare_count(
        name + '.importance', int(differs.sum()), differs.size)]
  uncertainty = _uncertainty(logits, candidates)
  tie = NEAR_TIE * max(1.0, float(np.abs(logits).max(initial=0.0)))
  far, swapped = 0, 0
  for n in range(len(ours)):
    mine = {tuple(p) for p in ours[n, :cut]}
    theirs = {tuple(p) for p in reference[n, :cut]}
    cut_value = np.sort(uncertainty[n])[::-1][cut - 1]
    for point in mine ^ theirs:
      index = np.nonzero(np.all(candidates[n] == point, axis=-1))[0][0]
      far += int(abs(uncertainty[n, index] - cut_value) > tie)
      swapped += 1
  return results + [
      checks_lib.compare_count(name + '.importance_set', far, ours[:, :cut].size
                               // 2),
      checks_lib.Note(name + '.near_tie_swaps', f'{swapped // 2} points')]


def points_checks(part: fixture_lib.StandalonePart
                  ) -> List[checks_lib.Result]:
  """`point_sample` and the uncertainty point sampling (module docstring)."""
  meta, arrays = part.meta, part.arrays
  results = []
  for case in meta['point_sample']:
    prefix = f'point_sample{case["case"]}_'
    maps = np.transpose(arrays[prefix + 'input'], (0, 2, 3, 1))
    ours = point_sampling.point_sample(tf.constant(maps),
                                       tf.constant(arrays[prefix + 'coords']))
    results.append(_bounded(
        f'points.point_sample{case["case"]}',
        np.transpose(ours.numpy(), (0, 2, 1)), arrays[prefix + 'output'],
        case['float32_error']))
  for info in meta['uncertain']:
    results.extend(_uncertain_case_checks(info, arrays))
  return results


def matcher_criterion_checks(part: fixture_lib.StandalonePart
                             ) -> List[checks_lib.Result]:
  """Costs, matchings and losses with the recorded points."""
  meta, arrays = part.meta, part.arrays
  masks = fixture_formats.per_image(arrays, 'tgt_masks')
  classes = fixture_formats.per_image(arrays, 'tgt_classes')
  targets = fixture_formats.padded_targets(
      masks, classes, meta['target_hw'],
      max(1, max(len(c) for c in classes)))
  errors = meta['float32_error']

  def cost_bound(key, reference):
    peak = float(np.max(np.abs(reference))) if reference.size else 0.0
    return checks_lib.pytorch_error_bound(
        errors['cost/' + key[len('cost_'):]], peak)

  return m2f_criterion_checks.criterion_checks(
      fixture_formats.point_sampled_losses_config(meta),
      standalone_checks.stored_predictions(arrays), targets, arrays,
      meta['prediction_heads'], cost_bound, meta['optimal_assignment_cost'],
      meta['losses_unweighted'], meta.get('loss_total'))


def postprocess_checks(part: fixture_lib.StandalonePart
                       ) -> List[checks_lib.Result]:
  """Panoptic, semantic and instance inference of each case."""
  meta, arrays = part.meta, part.arrays
  size = tuple(int(s) for s in meta['mask_hw'])
  results: List[checks_lib.Result] = []
  for case in meta['cases']:
    c = case['case']
    name = f'postprocess.case{c}.'
    outputs = m2f_inference_checks.OutputSizeInference(
        arrays[f'logits_{c}'][np.newaxis], arrays[f'masks_{c}'][np.newaxis],
        np.ones((1,) + size, bool), meta['thing_classes'],
        case['object_mask_threshold'], case['overlap_threshold'],
        case['test_topk_per_image'], case['panoptic_on'])
    results += m2f_inference_checks.panoptic_checks(
        name, outputs, 0, size, case['segments_info'], arrays[f'panoptic_{c}'])
    if f'semantic_{c}' in arrays:
      results += m2f_inference_checks.semantic_checks(
          name, outputs.semantic[0], None, arrays[f'semantic_{c}'],
          case['float32_error']['semantic'])
    else:
      results.append(checks_lib.Skipped(
          name + 'semantic_scores', f'postprocess.npz has no semantic_{c}'))
    results += m2f_inference_checks.instance_checks(
        name, outputs, 0, size, arrays[f'inst_query_{c}'],
        arrays[f'inst_class_{c}'], arrays[f'inst_score_{c}'],
        arrays[f'inst_masks_{c}'])
  return results


PART_CHECKS: Dict[str, Callable[[fixture_lib.StandalonePart],
                                List[checks_lib.Result]]] = {
    'msdeformattn': msdeformattn_checks,
    'points': points_checks,
    fixture_lib.MATCHER_CRITERION: matcher_criterion_checks,
    fixture_lib.POSTPROCESS: postprocess_checks,
}


def all_checks(fixture: fixture_lib.Mask2FormerStandaloneFixture
                         ) -> List[checks_lib.Result]:
  """Every check of the parts the folder holds; a `Skipped` per absent part."""
  results: List[checks_lib.Result] = []
  for part, checks in PART_CHECKS.items():
    if part in fixture.parts:
      results.extend(checks(fixture.parts[part]))
    else:
      results.append(checks_lib.Skipped(
          part, f'{fixture.path} has no {part}.npz / manifest section'))
  return results
