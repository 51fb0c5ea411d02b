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

"""Mask2Former's inference against a fixture (`mask2former_semantics.md` 6).

`OutputSizeInference` runs the three inferences of `modeling/inference.py`
on mask logits already at the output size (the model's, resized as the
original does: to the padded input size, cropped and resized to the original
size; or the standalone cases', stored at that size). Parity as the
fixtures' README defines it, per image:

  * panoptic: Mask2Former's rule (`panoptic_inference(...,
    paint_confident_pixels_only=True)`: only pixels whose winning query's
    mask probability is >= 0.5 are painted); the segment list identical; the
    map identical where the reference's score margin and mask-probability
    margin both exceed 1e-4 (everywhere if it stores none);
  * semantic: the scores within `10 * float32_error`, the argmax identical
    where the reference's top-1/top-2 margin exceeds 1e-4;
  * instance: the set of (query, class) pairs identical, each pair's score
    within 1e-5 and its mask identical except where |mask logit| < 1e-4.

`instance_inference` does not return the query of an instance; it is
recomputed here from the same top-k of the class probabilities (and the
classes must agree with the ones it returned).
"""
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence

import numpy as np
import tensorflow as tf

from projects.maskformer.modeling import inference
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import inference_checks

INSTANCE_SCORE_TOLERANCE = 1e-5
# Pixels whose mask logit is closer to 0 are not compared.
MASK_LOGIT_MARGIN = 1e-4


class OutputSizeInference:
  """The panoptic, semantic and instance results of a batch, as numpy.

  Attributes:
    mask_logits: float [B, Q, H, W] mask logits at the output size.
    valid: bool [B, H, W], the output region of each image.
    semantic: float [B, H, W, K] scores.
    panoptic: the `panoptic_inference` outputs (None without thing classes).
    instances: the `instance_inference` outputs.
  """

  def __init__(self, pred_logits: Any, mask_logits: Any, valid: Any,
               thing_classes: Optional[Sequence[int]],
               object_mask_threshold: float, overlap_threshold: float,
               top_k: int, panoptic_on: bool = True):
    """Runs the inferences.

    Args:
      pred_logits: float [B, Q, K + 1] class logits.
      mask_logits: float [B, Q, H, W] mask logits at the output size.
      valid: bool [B, H, W].
      thing_classes: the contiguous thing class ids.
      object_mask_threshold: panoptic: minimum class score.
      overlap_threshold: panoptic: minimum area ratio.
      top_k: instance: (query, class) pairs per image.
      panoptic_on: instance: keep thing classes only (else every class).
    """
    pred_logits = tf.constant(pred_logits)
    mask_logits = tf.constant(mask_logits)
    valid = tf.constant(valid, tf.bool)
    self.mask_logits = mask_logits.numpy()
    self.valid = valid.numpy()
    self.semantic = inference.semantic_inference(pred_logits,
                                                 mask_logits).numpy()
    self.panoptic = _numpy(inference.panoptic_inference(
        pred_logits, mask_logits, valid, thing_classes, object_mask_threshold,
        overlap_threshold, paint_confident_pixels_only=True))
    self.instances = _numpy(inference.instance_inference(
        pred_logits, mask_logits, valid,
        thing_classes if panoptic_on else None, top_k))


def _numpy(outputs: Mapping[str, tf.Tensor]) -> Dict[str, np.ndarray]:
  return {key: value.numpy() for key, value in outputs.items()}


def panoptic_checks(name: str, results: OutputSizeInference, image: int,
                    size: Sequence[int], segments: Sequence[Mapping[str, Any]],
                    reference_map: np.ndarray,
                    decided: Optional[np.ndarray] = None
                    ) -> List[checks_lib.Check]:
  """'<name>panoptic_segments' and '<name>panoptic_map' of one image.

  Args:
    name: the check-name prefix, e.g. 'inference.img0.'.
    results: the batch's results.
    image: the batch index.
    size: the image's output (height, width).
    segments: the reference's segments_info.
    reference_map: the reference's int [h, w] segment ids.
    decided: bool [h, w], where the map is compared (None: everywhere).

  Returns:
    The two checks.
  """
  height, width = size
  ours = results.panoptic
  if decided is None:
    decided = np.ones(reference_map.shape, bool)
  return [
      inference_checks.compare_segments(
          name + 'panoptic_segments',
          inference_checks.segments_info(ours, image), segments),
      inference_checks.compare_maps(
          name + 'panoptic_map', ours['panoptic'][image, :height, :width],
          reference_map, decided)]


def semantic_checks(name: str, scores: np.ndarray, sample_yx: np.ndarray,
                    reference_scores: np.ndarray, float32_error: float,
                    reference_argmax: Optional[np.ndarray] = None,
                    margin: Optional[np.ndarray] = None
                    ) -> List[checks_lib.Check]:
  """'<name>semantic_scores' (and '<name>semantic_argmax') of one image.

  Args:
    name: the check-name prefix.
    scores: our float [h, w, K] scores.
    sample_yx: int [N, 2] pixels of the stored scores (None: all pixels,
      the reference then being [K, h, w]).
    reference_scores: the reference's [N, K] (or [K, h, w]) scores.
    float32_error: PyTorch's float32 error of these scores.
    reference_argmax: the reference's int [h, w] argmax, or None.
    margin: the reference's top-1 minus top-2 [h, w], or None.

  Returns:
    The checks.
  """
  if sample_yx is None:
    ours = scores.transpose(2, 0, 1)
  else:
    rows, cols = np.asarray(sample_yx).T
    ours = scores[rows, cols]
  checks = [checks_lib.compare(
      name + 'semantic_scores', ours, reference_scores,
      checks_lib.PYTORCH_ERROR_MULTIPLE * float32_error)]
  if reference_argmax is not None:
    checks.append(inference_checks.compare_maps(
        name + 'semantic_argmax', scores.argmax(-1), reference_argmax,
        margin.astype(np.float32) > inference_checks.MARGIN))
  return checks


def instance_checks(name: str, results: OutputSizeInference, image: int,
                    size: Sequence[int], reference_queries: np.ndarray,
                    reference_classes: np.ndarray,
                    reference_scores: np.ndarray,
                    reference_masks: np.ndarray) -> List[checks_lib.Result]:
  """The instance set, scores and masks of one image.

  Args:
    name: the check-name prefix.
    results: the batch's results.
    image: the batch index.
    size: the image's output (height, width).
    reference_queries: int [n], the reference instances' queries.
    reference_classes: int [n], their classes.
    reference_scores: float [n], their scores.
    reference_masks: bool [n, h, w], their masks.

  Returns:
    Checks named '<name>instance_set' (the number of (query, class) pairs
    in one set only), '<name>instance_scores' and '<name>instance_masks'
    (over the pairs in both).
  """
  height, width = size
  instances = results.instances
  valid = instances['instance_valid'][image]
  pairs = zip(instances['instance_queries'][image],
              instances['instance_classes'][image])
  ours = {(int(q), int(c)): i for i, (q, c) in enumerate(pairs) if valid[i]}
  theirs = {(int(q), int(c)): j
            for j, (q, c) in enumerate(zip(reference_queries,
                                           reference_classes))}
  common = sorted(set(ours) & set(theirs))
  checks = [checks_lib.compare_count(name + 'instance_set',
                                     len(set(ours) ^ set(theirs)),
                                     len(set(ours) | set(theirs)))]
  checks.append(checks_lib.compare(
      name + 'instance_scores',
      [instances['instance_scores'][image, ours[k]] for k in common],
      [reference_scores[theirs[k]] for k in common],
      INSTANCE_SCORE_TOLERANCE))
  differing, compared = 0, 0
  for key in common:
    logits = results.mask_logits[image, key[0], :height, :width]
    decided = np.abs(logits) >= MASK_LOGIT_MARGIN
    mine = instances['instance_masks'][image, ours[key], :height, :width]
    differing += int(np.sum((mine != reference_masks[theirs[key]]) & decided))
    compared += int(np.sum(decided))
  checks.append(checks_lib.compare_count(name + 'instance_masks', differing,
                                         compared))
  return checks
