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

"""COCO mask AP of instance predictions (full-image masks), via pycocotools.

Predictions are full-image binary masks (MaskFormer / Mask2Former style, not
box-relative Mask R-CNN masks), encoded as COCO RLE and scored by
`pycocotools.cocoeval.COCOeval` with `iouType='segm'`. The ground truth is a
COCO instance-format dataset: the official `instances_*.json`, or one derived
from panoptic annotations with `instance_ground_truth_from_panoptic` (thing
segments only, crowd kept as `iscrowd`; COCO's panoptic masks are the
instance masks with overlaps resolved, so AP against them differs slightly
from AP against `instances_val2017.json`).
"""
import contextlib
import copy
import io
import os
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence

import numpy as np
from pycocotools import coco
from pycocotools import cocoeval
from pycocotools import mask as mask_util

from projects.maskformer.evaluation import panoptic_io

# COCOeval.stats entries reported, in order.
AP_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')


def encode_masks(masks: np.ndarray) -> List[Dict[str, Any]]:
  """COCO RLE of binary masks.

  Args:
    masks: A bool [N, H, W] array.

  Returns:
    N RLE dicts ('size', 'counts' as str), JSON-serialisable.
  """
  masks = np.asarray(masks, dtype=bool)
  if masks.shape[0] == 0:
    return []
  encoded = mask_util.encode(
      np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
  for rle in encoded:
    rle['counts'] = rle['counts'].decode('ascii')
  return encoded


def instance_results(image_id: Any,
                     masks: np.ndarray,
                     scores: np.ndarray,
                     category_ids: np.ndarray) -> List[Dict[str, Any]]:
  """One image's predictions in COCO's results format.

  Args:
    image_id: The image id.
    masks: A bool [N, H, W] array of full-image masks at the original size.
    scores: A float [N] array.
    category_ids: An int [N] array of dataset category ids.

  Returns:
    N dicts with 'image_id', 'category_id', 'segmentation' (RLE) and
    'score', JSON-serialisable (what `InstanceAPEvaluator.add_results`
    takes).
  """
  return [{'image_id': image_id, 'category_id': int(category),
           'segmentation': rle, 'score': float(score)}
          for rle, score, category in zip(encode_masks(masks), scores,
                                          category_ids)]


def image_results(image_id: Any,
                  outputs: Mapping[str, Any],
                  index: int,
                  original_size: Sequence[int],
                  category_ids: Optional[Sequence[int]] = None
                  ) -> List[Dict[str, Any]]:
  """COCO results of one image of a batch of `instance_inference` outputs.

  Only the valid (thing) pairs are kept; their masks are cropped from the
  canvas to the original size.

  Args:
    image_id: The image's id.
    outputs: 'instance_masks' (bool [B, k, Hc, Wc] on the canvas),
      'instance_scores', 'instance_classes' and 'instance_valid' ([B, k]).
    index: The image's index b in the batch.
    original_size: The image's (height, width), at most (Hc, Wc).
    category_ids: The dataset category id of each contiguous class id;
      None when the classes already are dataset ids.

  Returns:
    The image's results, as `instance_results` gives them.
  """
  height, width = (int(s) for s in original_size)
  valid = np.asarray(outputs['instance_valid'][index]).astype(bool)
  classes = np.asarray(outputs['instance_classes'][index])[valid]
  if category_ids is not None:
    classes = np.asarray(category_ids)[classes]
  masks = np.asarray(outputs['instance_masks'][index])[valid]
  return instance_results(image_id, masks[:, :height, :width],
                          np.asarray(outputs['instance_scores'][index])[valid],
                          classes)


def instances_from_panoptic(image_id: Any,
                            panoptic_ids: np.ndarray,
                            segments_info: Sequence[Mapping[str, Any]],
                            thing_category_ids: Sequence[int],
                            first_annotation_id: int) -> List[Dict[str, Any]]:
  """COCO instance annotations of one image's thing segments.

  Args:
    image_id: The image id.
    panoptic_ids: An integer [H, W] array of segment ids.
    segments_info: The image's segments ('id', 'category_id', 'iscrowd').
    thing_category_ids: The category ids that are things.
    first_annotation_id: The id of the first annotation returned.

  Returns:
    A list of annotation dicts ('id', 'image_id', 'category_id', 'iscrowd',
    'segmentation' (RLE), 'area', 'bbox').
  """
  things = set(thing_category_ids)
  segments = [s for s in segments_info if s['category_id'] in things]
  masks = np.stack([panoptic_ids == s['id'] for s in segments]) if segments \
      else np.zeros((0,) + np.shape(panoptic_ids), bool)
  annotations = []
  for offset, (segment, rle) in enumerate(zip(segments, encode_masks(masks))):
    annotations.append({
        'id': first_annotation_id + offset,
        'image_id': image_id,
        'category_id': segment['category_id'],
        'iscrowd': int(segment.get('iscrowd', 0)),
        'segmentation': rle,
        'area': float(mask_util.area(rle)),
        'bbox': [float(v) for v in mask_util.toBbox(rle)],
    })
  return annotations


def instance_ground_truth_from_panoptic(gt_json: str,
                                        gt_folder: str) -> Dict[str, Any]:
  """A COCO instance-format dataset from panopticapi-format ground truth.

  Args:
    gt_json: The panoptic JSON (`images`, `annotations`, `categories`).
    gt_folder: The folder of its PNGs.

  Returns:
    A dict with 'images', 'annotations' and the thing 'categories'.
  """
  content = panoptic_io.load_json(gt_json, 'ground-truth JSON')
  categories = [c for c in content['categories'] if c.get('isthing') == 1]
  thing_ids = [c['id'] for c in categories]
  annotations = []
  for annotation in content['annotations']:
    ids = panoptic_io.read_panoptic_png(
        os.path.join(gt_folder, annotation['file_name']))
    annotations.extend(instances_from_panoptic(
        annotation['image_id'], ids, annotation['segments_info'], thing_ids,
        first_annotation_id=len(annotations) + 1))
  images = content.get('images') or [
      {'id': a['image_id']} for a in content['annotations']]
  return {'images': images, 'annotations': annotations,
          'categories': categories}


class InstanceAPEvaluator:
  """Collects instance predictions and computes COCO mask AP."""

  def __init__(self, ground_truth: Mapping[str, Any]):
    """Initializes the evaluator.

    Args:
      ground_truth: A COCO instance-format dataset dict ('images',
        'annotations' with RLE or polygon 'segmentation', 'categories').
    """
    self._ground_truth = copy.deepcopy(dict(ground_truth))
    self._results = []
    self._image_ids = set()

  def reset_state(self) -> None:
    """Forgets every prediction."""
    self._results = []
    self._image_ids = set()

  def add(self, image_id: Any, masks: np.ndarray, scores: np.ndarray,
          category_ids: np.ndarray) -> None:
    """Adds one image's predictions (possibly none).

    Args:
      image_id: The image id in the ground truth.
      masks: A bool [N, H, W] array of full-image masks at the original size.
      scores: A float [N] array.
      category_ids: An int [N] array of dataset category ids.
    """
    self._image_ids.add(image_id)
    self._results.extend(instance_results(image_id, masks, scores,
                                          category_ids))

  def add_results(self, results: Sequence[Mapping[str, Any]]) -> None:
    """Adds predictions in COCO's results format, for the whole dataset.

    Every image of the ground truth then takes part in the evaluation, also
    those without a prediction (their instances count as missed).

    Args:
      results: dicts with 'image_id', 'category_id' (dataset id), 'score' and
        'segmentation', the COCO RLE ('size' [H, W], 'counts') of a
        full-image mask at the image's original size.

    Raises:
      ValueError: an entry lacks a key, names an image or category that is
        not in the ground truth, or its mask size is not the image's.
    """
    images = {image['id']: image for image in self._ground_truth['images']}
    categories = {c['id'] for c in self._ground_truth['categories']}
    added = []
    for k, result in enumerate(results):
      if not isinstance(result, Mapping):
        raise ValueError(f'result {k} is not an object')
      missing = [key for key in ('image_id', 'category_id', 'segmentation',
                                 'score') if key not in result]
      if missing:
        raise ValueError(f'result {k} lacks {", ".join(missing)}')
      image = images.get(result['image_id'])
      if image is None:
        raise ValueError(f'result {k}: image_id {result["image_id"]!r} is not '
                         'in the ground truth')
      if result['category_id'] not in categories:
        raise ValueError(f'result {k}: category_id {result["category_id"]!r} '
                         'is not a thing category of the ground truth')
      rle = result['segmentation']
      if not isinstance(rle, Mapping) or 'size' not in rle or (
          'counts' not in rle):
        raise ValueError(f'result {k}: segmentation is not a COCO RLE '
                         "('size' and 'counts')")
      size = [image.get('height'), image.get('width')]
      if None not in size and list(rle['size']) != size:
        raise ValueError(f'result {k}: mask size {list(rle["size"])} is not '
                         f'the size {size} of image {result["image_id"]}')
      added.append({'image_id': result['image_id'],
                    'category_id': int(result['category_id']),
                    'segmentation': {'size': list(rle['size']),
                                     'counts': rle['counts']},
                    'score': float(result['score'])})
    self._results.extend(added)
    self._image_ids.update(images)

  def add_outputs(self,
                  image_ids: Sequence[Any],
                  outputs: Mapping[str, Any],
                  original_sizes: np.ndarray,
                  category_ids: Optional[Sequence[int]] = None) -> None:
    """Adds a batch of `instance_inference` outputs.

    Args:
      image_ids: The batch's image ids.
      outputs: 'instance_masks' ([B, k, H, W] on the canvas),
        'instance_scores', 'instance_classes', 'instance_valid' ([B, k]).
      original_sizes: An int [B, 2] array of (height, width).
      category_ids: The dataset category id of each contiguous class id;
        None when the classes already are dataset ids.
    """
    for b, image_id in enumerate(image_ids):
      self._image_ids.add(image_id)
      self._results.extend(image_results(image_id, outputs, b,
                                         np.asarray(original_sizes)[b],
                                         category_ids))

  def evaluate(self) -> Dict[str, float]:
    """COCO mask AP over the images added so far.

    Returns:
      A dict with 'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl' in [0, 1]
      (COCOeval's -1 where a value is undefined, e.g. no ground truth in an
      area range).
    """
    with contextlib.redirect_stdout(io.StringIO()):
      gt = coco.COCO()
      gt.dataset = copy.deepcopy(self._ground_truth)
      gt.createIndex()
      if self._results:
        detections = gt.loadRes(copy.deepcopy(self._results))
      else:
        detections = coco.COCO()
        detections.dataset = {'images': gt.dataset['images'],
                              'categories': gt.dataset['categories'],
                              'annotations': []}
        detections.createIndex()
      evaluation = cocoeval.COCOeval(gt, detections, iouType='segm')
      evaluation.params.imgIds = sorted(self._image_ids)
      evaluation.evaluate()
      evaluation.accumulate()
      evaluation.summarize()
    return {name: float(value)
            for name, value in zip(AP_NAMES, evaluation.stats)}
