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

"""Inference checks: panoptic and semantic results against a fixture.

On a model fixture, our model's own `pred_logits` / `pred_masks` go through
`MaskFormerPostProcessor` as in evaluation (stride-4 mask logits upsampled to
the padded size, cropped to each image, resized to its original size, on a
canvas of the largest original size), with the manifest's thresholds. Per
image (`docs/semantics.md`, section 11):

  * the panoptic segment list (id, isthing, category_id) is identical to
    `manifest.panoptic_segments_info`;
  * the panoptic map is identical wherever `panoptic_margin` > 1e-4 (random
    weights leave near-ties elsewhere; everywhere if no margin is stored);
  * the semantic argmax is identical wherever `sem_margin` > 1e-4 (idem);
  * the semantic scores at the sampled pixels are within 1e-5.

`float64_semantic_checks` compares the float64 run's semantic scores at the
sampled pixels with the exact answers within `2e-7 * max(1, max|exact|)`.

Thing classes: the manifest's `thing_classes` if given, else, for 133
classes, the COCO panoptic things (`coco_panoptic_categories`).
"""
import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Sequence

import numpy as np

from projects.maskformer.modeling import postprocessing
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import coco_panoptic_categories
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import model_checks

SEMANTIC_TOLERANCE = 1e-5
MARGIN = 1e-4


def segments_info(outputs: Mapping[str, np.ndarray],
                  image: int) -> List[Dict[str, Any]]:
  """One image's segments as the original's segments_info entries.

  Args:
    outputs: `panoptic_inference` outputs as numpy arrays.
    image: the batch index.

  Returns:
    [{'id', 'isthing', 'category_id'}] in segment order.
  """
  return [{'id': int(outputs['segment_id'][image, s]),
           'isthing': bool(outputs['segment_isthing'][image, s]),
           'category_id': int(outputs['segment_category'][image, s])}
          for s in range(int(outputs['num_segments'][image]))]


def compare_segments(name: str, ours: Sequence[Mapping[str, Any]],
                     reference: Sequence[Mapping[str, Any]]
                     ) -> checks_lib.Check:
  """Identical segment lists; the error counts the differing entries."""
  reference = [{'id': int(s['id']), 'isthing': bool(s['isthing']),
                'category_id': int(s['category_id'])} for s in reference]
  differing = sum(a != b for a, b in zip(ours, reference)) + abs(
      len(ours) - len(reference))
  check = checks_lib.compare_count(name, differing,
                                   max(len(ours), len(reference)))
  if differing:
    check = checks_lib.Check(check.name, check.max_abs_err, check.tolerance,
                             False, f'ours {list(ours)} vs reference '
                             f'{reference}')
  return check


def compare_maps(name: str, ours: np.ndarray, reference: np.ndarray,
                 where: np.ndarray) -> checks_lib.Check:
  """Identical integer maps on the pixels of `where` (same shapes)."""
  if ours.shape != reference.shape:
    return checks_lib.Check(name, float('inf'), 0.0, False,
                            f'shape {list(ours.shape)} != reference '
                            f'{list(reference.shape)}')
  return checks_lib.compare_count(
      name, int(np.sum((ours != reference) & where)), int(np.sum(where)))


def _decided(arrays: Mapping[str, np.ndarray], margin_key: str,
             size: Sequence[int]) -> np.ndarray:
  """Where the reference's top-1 beats its top-2 by more than MARGIN.

  Every pixel of `size` if the fixture stores no margin for this map.
  """
  if margin_key not in arrays:
    return np.ones(tuple(int(s) for s in size), bool)
  return arrays[margin_key].astype(np.float32) > MARGIN


def thing_classes(spec: Mapping[str, Any], num_classes: int,
                  source: str) -> List[int]:
  """The contiguous ids of the thing classes of a fixture.

  Args:
    spec: a manifest (or its config) that may list `thing_classes`.
    num_classes: K.
    source: the file named in errors.

  Returns:
    `spec['thing_classes']`, or the COCO panoptic things for K = 133.

  Raises:
    FixtureError: neither applies.
  """
  if 'thing_classes' in spec:
    return [int(c) for c in spec['thing_classes']]
  if num_classes == coco_panoptic_categories.NUM_CLASSES:
    return coco_panoptic_categories.thing_contiguous_ids()
  raise fixture_lib.FixtureError(
      f'{source}: panoptic references need the thing classes: add '
      f'"thing_classes" (contiguous ids) for these {num_classes} classes '
      f'(the COCO panoptic things are known only for '
      f'{coco_panoptic_categories.NUM_CLASSES} classes)')


# The optional inference references, each stored for every image or none.
_INFERENCE_GROUPS = {
    'panoptic': ('panoptic_seg',),
    'semantic_argmax': ('sem_argmax',),
    'semantic_scores': ('sem_sample_yx', 'sem_sample_scores'),
}


def _per_image_group(fixture: fixture_lib.ModelFixture, keys: Sequence[str],
                     num_images: int) -> bool:
  """Whether `<key>_<b>` is stored for every key and image (or for none).

  Raises:
    FixtureError: stored for some images or keys only.
  """
  names = [f'{key}_{b}' for key in keys for b in range(num_images)]
  present = [name in fixture.arrays for name in names]
  if any(present) and not all(present):
    raise fixture_lib.FixtureError(
        f'{fixture.path / fixture_lib.REFERENCE} lacks '
        f'{[n for n, p in zip(names, present) if not p]} (the group is '
        'stored for every image or none)')
  return all(present)


def inference_checks(run: model_checks.ModelRun) -> List[checks_lib.Result]:
  """The model suite: post-processing of our outputs against the reference.

  Args:
    run: the model run.

  Returns:
    Checks named 'inference.img<b>.{panoptic_segments,panoptic_map,
    semantic_argmax,semantic_scores}' for each stored reference group, and a
    `Skipped` for each absent group.

  Raises:
    FixtureError: inference references without thresholds, thing classes or
      the manifest's segments, or stored for some images only.
  """
  fixture = run.fixture
  arrays = fixture.arrays
  num_images = arrays['padded_normalized_images'].shape[0]
  groups = {name: _per_image_group(fixture, keys, num_images)
            for name, keys in _INFERENCE_GROUPS.items()}
  skipped = [checks_lib.Skipped(
      f'inference.{name}', f'{fixture_lib.REFERENCE} has no '
      f'{", ".join(k + "_i" for k in _INFERENCE_GROUPS[name])}')
             for name, present in groups.items() if not present]
  has_panoptic = groups['panoptic']
  has_semantic = groups['semantic_argmax'] or groups['semantic_scores']
  if not (has_panoptic or has_semantic):
    return skipped
  if has_panoptic:
    fixture_lib.require(fixture.manifest, ['panoptic_segments_info'],
                        fixture.path / fixture_lib.MANIFEST)
  config = fixture.config
  manifest_path = str(fixture.path / fixture_lib.MANIFEST)
  missing = [k for k in ('object_mask_threshold', 'overlap_threshold')
             if has_panoptic and k not in config]
  missing += [k for k in ('image_sizes', 'original_sizes') if k not in arrays]
  if missing:
    raise fixture_lib.FixtureError(
        f'{fixture.path}: the inference references need {missing} '
        f'(manifest config / {fixture_lib.REFERENCE})')
  outputs_kinds = (('semantic',) if has_semantic else ()) + (
      ('panoptic',) if has_panoptic else ())
  original_sizes = np.asarray(arrays['original_sizes'], np.int32)
  things_spec = (fixture.manifest if 'thing_classes' in fixture.manifest
                 else config)
  things = (thing_classes(things_spec, int(config['num_classes']),
                          manifest_path) if has_panoptic else [])
  post_processor = postprocessing.MaskFormerPostProcessor(
      things, tuple(int(s) for s in original_sizes.max(axis=0)),
      outputs=outputs_kinds,
      object_mask_threshold=float(config.get('object_mask_threshold', 0.0)),
      overlap_threshold=float(config.get('overlap_threshold', 0.8)))
  results = post_processor(
      {'pred_logits': run.outputs['pred_logits'],
       'pred_masks': run.outputs['pred_masks']},
      tuple(arrays['padded_normalized_images'].shape[2:]),
      np.asarray(arrays['image_sizes'], np.int32), original_sizes)
  results = {k: v.numpy() for k, v in results.items()}
  checks = []
  for b in range(num_images):
    height, width = original_sizes[b]
    name = f'inference.img{b}.'
    if has_panoptic:
      checks.append(compare_segments(
          name + 'panoptic_segments', segments_info(results, b),
          fixture.manifest['panoptic_segments_info'][b]))
      checks.append(compare_maps(
          name + 'panoptic_map', results['panoptic'][b, :height, :width],
          arrays[f'panoptic_seg_{b}'],
          _decided(arrays, f'panoptic_margin_{b}', (height, width))))
    if has_semantic:
      semantic = results['semantic'][b, :height, :width]
      if groups['semantic_argmax']:
        checks.append(compare_maps(
            name + 'semantic_argmax', semantic.argmax(-1),
            arrays[f'sem_argmax_{b}'],
            _decided(arrays, f'sem_margin_{b}', (height, width))))
      if groups['semantic_scores']:
        rows, cols = np.asarray(arrays[f'sem_sample_yx_{b}']).T
        checks.append(checks_lib.compare(
            name + 'semantic_scores', semantic[rows, cols],
            arrays[f'sem_sample_scores_{b}'], SEMANTIC_TOLERANCE))
  return checks + skipped


def float64_semantic_checks(run: model_checks.ModelRun
                            ) -> List[checks_lib.Result]:
  """The float64 run's semantic scores at the sampled pixels, against exact.

  The post-processing runs in float64 (`dtype='float64'`) on the float64
  outputs, on the same path as `inference_checks` (at the original size when
  the fixture has panoptic references, as `PANOPTIC_ON` forces it).

  Args:
    run: the float64 model run of a fixture with exact answers.

  Returns:
    Checks named 'float64.inference.img<b>.semantic_scores' within
    `2e-7 * max(1, max|exact|)`; a `Skipped` without exact semantic scores.
  """
  fixture = run.fixture
  arrays = fixture.arrays
  exact = fixture.exact or {}
  num_images = arrays['padded_normalized_images'].shape[0]
  names = [f'sem_sample_scores_{b}' for b in range(num_images)
           if f'sem_sample_scores_{b}' in exact]
  if not names:
    return [checks_lib.Skipped(
        'float64.inference', f'{fixture_lib.REFERENCE_EXACT} has no '
        'sem_sample_scores_i')]
  fixture_lib.require(arrays, ['image_sizes', 'original_sizes'] + [
      f'sem_sample_yx_{b}' for b in range(num_images)],
                      fixture.path / fixture_lib.REFERENCE)
  original_sizes = np.asarray(arrays['original_sizes'], np.int32)
  post_processor = postprocessing.MaskFormerPostProcessor(
      [], tuple(int(s) for s in original_sizes.max(axis=0)),
      outputs=('semantic',),
      semantic_postprocess_before_inference=(
          f'panoptic_seg_{num_images - 1}' in arrays),
      dtype='float64')
  semantic = post_processor(
      {'pred_logits': run.outputs['pred_logits'],
       'pred_masks': run.outputs['pred_masks']},
      tuple(arrays['padded_normalized_images'].shape[2:]),
      np.asarray(arrays['image_sizes'], np.int32),
      original_sizes)['semantic'].numpy()
  checks = []
  for b in range(num_images):
    name = f'sem_sample_scores_{b}'
    if name not in exact:
      continue
    rows, cols = np.asarray(arrays[f'sem_sample_yx_{b}']).T
    check = checks_lib.compare_scaled(
        f'float64.inference.img{b}.semantic_scores', semantic[b, rows, cols],
        exact[name], checks_lib.FLOAT64_RELATIVE_TOLERANCE)
    checks.append(dataclasses.replace(
        check, pytorch_err=model_checks.pytorch_error(fixture, name)))
  return checks
