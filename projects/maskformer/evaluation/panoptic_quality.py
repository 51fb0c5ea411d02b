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

"""Panoptic quality (PQ, SQ, RQ) with the COCO definition of panopticapi.

This re-implements `panopticapi.evaluation.pq_compute` (cocodataset/
panopticapi), which is what COCO panoptic numbers are reported with,
including its quirks:

* statistics are accumulated per category over all images (IoU sum, TP, FP,
  FN) and averaged over categories at the end; a category with no TP, FP nor
  FN scores 0 in `per_class` and does not count in the averages (`n`);
* a predicted and a ground-truth segment of the same category match when
  IoU > 0.5 (strictly), where the union leaves out the predicted segment's
  pixels that are void in the ground truth (but not those on crowd regions);
* ground-truth crowd segments (`iscrowd` 1) are never matched nor counted as
  FN; an unmatched prediction is not a FP when more than half of its area is
  void or in a crowd region **of its category**; when a category has several
  crowd segments in an image, only the last one listed counts;
* ground-truth areas come from the JSON `area` field (in COCO equal to the
  PNG's pixel counts), predicted areas from the PNG;
* segments in the ground-truth JSON that are absent from the PNG are FN.

Departures, only on input panopticapi cannot handle: where it crashes (or
silently overwrites duplicate segment or image ids) this raises
`PanopticFormatError` naming the file, image and segment; a missing `iscrowd`
means 0 and a missing ground-truth `area` is counted from the PNG (it raises
KeyError); an average over zero categories is 0 with `n` = 0 (it divides by
zero).
"""
import collections
import dataclasses
import os
from typing import Any
from typing import Dict
from typing import Iterable
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
import tqdm

from projects.maskformer.evaluation import panoptic_io

# Ground-truth and predicted ids are combined as gt * OFFSET + pred.
OFFSET = 256**3

_GROUPS = (('All', None), ('Things', True), ('Stuff', False))


@dataclasses.dataclass
class CategoryStat:
  """Accumulated statistics of one category."""
  iou: float = 0.0
  tp: int = 0
  fp: int = 0
  fn: int = 0


def _index_segments(segments: Iterable[Mapping[str, Any]], source: str,
                    image_id: Any) -> Dict[int, Mapping[str, Any]]:
  """Segments by id, rejecting duplicates and entries without id/category."""
  indexed = {}
  for segment in segments:
    if 'id' not in segment or 'category_id' not in segment:
      raise panoptic_io.PanopticFormatError(
          f'image {image_id}: a {source} segment lacks "id" or '
          f'"category_id": {dict(segment)}.')
    segment_id = int(segment['id'])
    if segment_id in indexed:
      raise panoptic_io.PanopticFormatError(
          f'image {image_id}: segment id {segment_id} appears twice in the '
          f'{source} segments_info.')
    indexed[segment_id] = segment
  return indexed


def _pixel_counts(ids: np.ndarray) -> Dict[int, int]:
  labels, counts = np.unique(ids, return_counts=True)
  return {int(label): int(count) for label, count in zip(labels, counts)}


class PanopticQuality:
  """Accumulates panopticapi's per-category statistics image by image."""

  def __init__(self, categories: Mapping[int, Mapping[str, Any]]):
    """Initializes an empty accumulator.

    Args:
      categories: Category id -> category dict with 'isthing' (1 or 0), the
        id space of the segments' 'category_id' (dataset ids for COCO files,
        or contiguous ids when both sides use them).
    """
    self._categories = {int(k): v for k, v in categories.items()}
    self._stats = collections.defaultdict(CategoryStat)

  def reset(self) -> None:
    """Forgets every image seen so far."""
    self._stats = collections.defaultdict(CategoryStat)

  def update(self,
             gt_ids: np.ndarray,
             gt_segments: Sequence[Mapping[str, Any]],
             pred_ids: np.ndarray,
             pred_segments: Sequence[Mapping[str, Any]],
             image_id: Any = None) -> None:
    """Adds one image (panopticapi's `pq_compute_single_core` body).

    Args:
      gt_ids: An integer [H, W] array of ground-truth segment ids (0 void).
      gt_segments: The ground-truth `segments_info` ('id', 'category_id',
        'iscrowd', optional 'area').
      pred_ids: An integer [H, W] array of predicted segment ids (0 void).
      pred_segments: The predicted `segments_info` ('id', 'category_id').
      image_id: The image id, for error messages.

    Raises:
      PanopticFormatError: if the maps differ in size, a predicted segment is
        in the map but not in `pred_segments` or the reverse, a predicted
        category is unknown, or segment ids repeat.
    """
    gt_ids = np.asarray(gt_ids).astype(np.int64)
    pred_ids = np.asarray(pred_ids).astype(np.int64)
    if gt_ids.shape != pred_ids.shape:
      raise panoptic_io.PanopticFormatError(
          f'image {image_id}: the predicted panoptic map is '
          f'{pred_ids.shape[:2]} but the ground truth is {gt_ids.shape[:2]} '
          '(height, width).')
    gt_segms = _index_segments(gt_segments, 'ground-truth', image_id)
    pred_segms = _index_segments(pred_segments, 'predicted', image_id)

    pred_area = {}
    for label, count in _pixel_counts(pred_ids).items():
      if label not in pred_segms:
        if label == panoptic_io.VOID_ID:
          continue
        raise panoptic_io.PanopticFormatError(
            f'image {image_id}: segment id {label} is in the predicted PNG '
            'but not in the predicted segments_info.')
      pred_area[label] = count
      category = pred_segms[label]['category_id']
      if category not in self._categories:
        raise panoptic_io.PanopticFormatError(
            f'image {image_id}: predicted segment {label} has unknown '
            f'category_id {category}.')
    absent = sorted(set(pred_segms) - set(pred_area))
    if absent:
      raise panoptic_io.PanopticFormatError(
          f'image {image_id}: predicted segment ids {absent} are in the '
          'segments_info but not in the predicted PNG.')

    intersections = {}
    for label, count in _pixel_counts(gt_ids * OFFSET + pred_ids).items():
      intersections[(label // OFFSET, label % OFFSET)] = count
    gt_pixel_area = None
    gt_area = {}
    for gt_label, gt_info in gt_segms.items():
      if 'area' in gt_info:
        gt_area[gt_label] = int(gt_info['area'])
      else:
        if gt_pixel_area is None:
          gt_pixel_area = _pixel_counts(gt_ids)
        gt_area[gt_label] = gt_pixel_area.get(gt_label, 0)

    def is_crowd(gt_info):
      return gt_info.get('iscrowd', 0) == 1

    gt_matched = set()
    pred_matched = set()
    for (gt_label, pred_label), intersection in intersections.items():
      if gt_label not in gt_segms or pred_label not in pred_segms:
        continue
      gt_info = gt_segms[gt_label]
      if is_crowd(gt_info):
        continue
      if gt_info['category_id'] != pred_segms[pred_label]['category_id']:
        continue
      union = (pred_area[pred_label] + gt_area[gt_label] - intersection -
               intersections.get((panoptic_io.VOID_ID, pred_label), 0))
      iou = intersection / union
      if iou > 0.5:
        stat = self._stats[gt_info['category_id']]
        stat.tp += 1
        stat.iou += iou
        gt_matched.add(gt_label)
        pred_matched.add(pred_label)

    crowd_by_category = {}
    for gt_label, gt_info in gt_segms.items():
      if gt_label in gt_matched:
        continue
      if is_crowd(gt_info):
        crowd_by_category[gt_info['category_id']] = gt_label
        continue
      self._stats[gt_info['category_id']].fn += 1

    for pred_label, pred_info in pred_segms.items():
      if pred_label in pred_matched:
        continue
      ignored = intersections.get((panoptic_io.VOID_ID, pred_label), 0)
      category = pred_info['category_id']
      if category in crowd_by_category:
        ignored += intersections.get((crowd_by_category[category], pred_label),
                                     0)
      if ignored / pred_area[pred_label] > 0.5:
        continue
      self._stats[category].fp += 1

  def _average(self, isthing: Optional[bool]
              ) -> Tuple[Dict[str, Any], Dict[int, Dict[str, float]]]:
    """panopticapi's `pq_average` over the categories of one group."""
    pq, sq, rq, n = 0.0, 0.0, 0.0, 0
    per_class = {}
    for label, info in self._categories.items():
      if isthing is not None and isthing != (info['isthing'] == 1):
        continue
      stat = self._stats.get(label, CategoryStat())
      if stat.tp + stat.fp + stat.fn == 0:
        per_class[label] = {'pq': 0.0, 'sq': 0.0, 'rq': 0.0}
        continue
      n += 1
      denominator = stat.tp + 0.5 * stat.fp + 0.5 * stat.fn
      class_pq = stat.iou / denominator
      class_sq = stat.iou / stat.tp if stat.tp != 0 else 0.0
      class_rq = stat.tp / denominator
      per_class[label] = {'pq': class_pq, 'sq': class_sq, 'rq': class_rq}
      pq += class_pq
      sq += class_sq
      rq += class_rq
    if n == 0:
      return {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'n': 0}, per_class
    return {'pq': pq / n, 'sq': sq / n, 'rq': rq / n, 'n': n}, per_class

  def result(self) -> Dict[str, Any]:
    """The structure `pq_compute` returns.

    Returns:
      {'All': {'pq', 'sq', 'rq', 'n'}, 'Things': ..., 'Stuff': ...,
      'per_class': {category_id: {'pq', 'sq', 'rq'}}}, values in [0, 1].
    """
    results = {}
    for name, isthing in _GROUPS:
      results[name], per_class = self._average(isthing)
      if name == 'All':
        results['per_class'] = per_class
    return results


def format_pq_table(results: Mapping[str, Any]) -> str:
  """panopticapi's printed table: PQ, SQ, RQ (x100) and N per group."""
  lines = ['{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}'.format(
      '', 'PQ', 'SQ', 'RQ', 'N'), '-' * (10 + 7 * 4)]
  for name, _ in _GROUPS:
    group = results[name]
    lines.append('{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}'.format(
        name, 100 * group['pq'], 100 * group['sq'], 100 * group['rq'],
        group['n']))
  return '\n'.join(lines)


def _require_key(content: Mapping[str, Any], key: str, source: str) -> Any:
  """`content[key]`, or an error naming `source` (a file or an entry)."""
  if key not in content:
    raise panoptic_io.PanopticFormatError(f'{source} has no "{key}" entry.')
  return content[key]


def pq_compute(gt_json: str,
               gt_folder: str,
               pred_json: str,
               pred_folder: str,
               show_progress: bool = True) -> Dict[str, Any]:
  """Evaluates panopticapi-format predictions against the ground truth.

  Every image of the ground-truth JSON must have a prediction (extra
  predicted images are ignored, as in panopticapi).

  Args:
    gt_json: The ground-truth JSON (`annotations` and `categories`).
    gt_folder: The folder of the ground-truth PNGs.
    pred_json: The prediction JSON (`annotations`).
    pred_folder: The folder of the predicted PNGs.
    show_progress: Whether to draw a progress bar on stderr.

  Returns:
    The `PanopticQuality.result` structure.

  Raises:
    PanopticFormatError: for a missing file or folder, an image without a
      prediction, or any inconsistency `PanopticQuality.update` detects.
  """
  gt_content = panoptic_io.load_json(gt_json, 'ground-truth JSON')
  pred_content = panoptic_io.load_json(pred_json, 'prediction JSON')
  for folder, description in ((gt_folder, 'ground-truth'),
                              (pred_folder, 'prediction')):
    if not os.path.isdir(folder):
      raise panoptic_io.PanopticFormatError(
          f'{description} PNG folder {folder} does not exist.')
  categories = {c['id']: c for c in _require_key(gt_content, 'categories',
                                                  gt_json)}
  predictions = {}
  for annotation in _require_key(pred_content, 'annotations', pred_json):
    image_id = _require_key(annotation, 'image_id', f'{pred_json} annotation')
    if image_id in predictions:
      raise panoptic_io.PanopticFormatError(
          f'{pred_json} has two annotations for image {image_id}.')
    predictions[image_id] = annotation
  pairs = []
  for gt_annotation in _require_key(gt_content, 'annotations', gt_json):
    image_id = _require_key(gt_annotation, 'image_id', f'{gt_json} annotation')
    if image_id not in predictions:
      raise panoptic_io.PanopticFormatError(
          f'{pred_json} has no prediction for image {image_id} (listed in '
          f'{gt_json}).')
    pairs.append((gt_annotation, predictions[image_id]))

  metric = PanopticQuality(categories)
  for gt_annotation, pred_annotation in tqdm.tqdm(
      pairs, desc='PQ', unit='image', disable=not show_progress):
    image_id = gt_annotation['image_id']
    for annotation, source in ((gt_annotation, gt_json),
                               (pred_annotation, pred_json)):
      for key in ('file_name', 'segments_info'):
        if key not in annotation:
          raise panoptic_io.PanopticFormatError(
              f'{source}: the annotation of image {image_id} has no "{key}".')
    metric.update(
        panoptic_io.read_panoptic_png(
            os.path.join(gt_folder, gt_annotation['file_name'])),
        gt_annotation['segments_info'],
        panoptic_io.read_panoptic_png(
            os.path.join(pred_folder, pred_annotation['file_name'])),
        pred_annotation['segments_info'],
        image_id=image_id)
  return metric.result()


def _concat_replicas(value: Any) -> np.ndarray:
  """One array from a tensor or a tuple/list of per-replica tensors."""
  if isinstance(value, (tuple, list)):
    return np.concatenate([np.asarray(v) for v in value], axis=0)
  return np.asarray(value)


class PanopticQualityEvaluator:
  """PQ over batches of post-processor outputs, for a task's evaluation loop.

  Meant for Model Garden's host-side pattern: `validation_step` returns the
  evaluation labels and the post-processor's outputs, `aggregate_logs` calls
  `update_state`, `reduce_aggregated_logs` calls `result`. The ground truth
  comes in the input pipeline's evaluation format (segment slots; slot s is
  segment id s + 1). Given the same predictions and ground truth it returns
  exactly what `pq_compute` returns on the written files, provided the labels
  keep every segment (crowd included) at the original resolution.
  """

  def __init__(self,
               categories: Mapping[int, Mapping[str, Any]],
               category_ids: Optional[Sequence[int]] = None):
    """Initializes the evaluator.

    Args:
      categories: Category id -> category dict with 'isthing'; dataset ids
        when `category_ids` is given, else contiguous class ids.
      category_ids: The dataset category id of each contiguous class id
        (applied to ground truth and predictions alike), or None to report
        contiguous ids.
    """
    self._metric = PanopticQuality(categories)
    self._category_ids = category_ids

  def reset_state(self) -> None:
    """Forgets every image seen so far."""
    self._metric.reset()

  def _category(self, contiguous_id: int) -> int:
    if self._category_ids is None:
      return int(contiguous_id)
    return int(self._category_ids[contiguous_id])

  def update_state(self, groundtruths: Mapping[str, Any],
                   predictions: Mapping[str, Any]) -> None:
    """Adds a batch; each value may be a tuple of per-replica tensors.

    Args:
      groundtruths: A mapping with
        'groundtruth_segment_map': int [B, Hg, Wg], per pixel of the original
          image (top-left, padded) the slot of its segment, -1 for void;
        'segment_classes': int [B, T], the contiguous class of each slot;
        'segment_is_crowd', 'segment_valid': bool [B, T];
        'image_info': [B, 4, 2] Model Garden image info, row 0 the original
          (height, width);
        optionally 'image_id': [B], used in error messages.
      predictions: The `panoptic_inference` outputs: 'panoptic' [B, H, W] on
        a canvas at least the original size, 'segment_valid', 'segment_id',
        'segment_category', 'segment_score' [B, Q].
    """
    segment_map = _concat_replicas(groundtruths['groundtruth_segment_map'])
    classes = _concat_replicas(groundtruths['segment_classes'])
    is_crowd = _concat_replicas(groundtruths['segment_is_crowd'])
    valid = _concat_replicas(groundtruths['segment_valid']).astype(bool)
    sizes = np.round(_concat_replicas(groundtruths['image_info'])[:, 0]
                    ).astype(np.int64)
    image_ids = (_concat_replicas(groundtruths['image_id'])
                 if 'image_id' in groundtruths else None)
    pred_panoptic = _concat_replicas(predictions['panoptic'])
    table = {key: _concat_replicas(predictions[key]) for key in (
        'segment_valid', 'segment_id', 'segment_category', 'segment_score')}
    for b in range(segment_map.shape[0]):
      height, width = sizes[b]
      gt_segments = [
          {'id': slot + 1, 'category_id': self._category(classes[b, slot]),
           'iscrowd': int(bool(is_crowd[b, slot]))}
          for slot in np.flatnonzero(valid[b])]
      self._metric.update(
          segment_map[b, :height, :width].astype(np.int64) + 1, gt_segments,
          pred_panoptic[b, :height, :width],
          panoptic_io.segments_from_table(table, b, self._category_ids),
          image_id=(f'#{b} of the batch' if image_ids is None else
                    image_ids[b]))

  def result(self) -> Dict[str, Any]:
    """The `pq_compute` structure over everything added since the reset."""
    return self._metric.result()
