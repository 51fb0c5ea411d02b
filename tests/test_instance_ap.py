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

"""Tests of COCO mask AP on full-image instance masks (hand-worked cases)."""
import json

import numpy as np
from PIL import Image
from pycocotools import mask as mask_util
import pytest

from projects.maskformer.evaluation import instance_ap

SIZE = (20, 20)


def _mask(*boxes):
  mask = np.zeros(SIZE, bool)
  for y0, y1, x0, x1 in boxes:
    mask[y0:y1, x0:x1] = True
  return mask


OBJECT = _mask((2, 6, 2, 6))  # 16 pixels: a "small" object
CROWD = _mask((10, 18, 10, 18))


def _ground_truth(with_crowd=False):
  masks = [OBJECT] + ([CROWD] if with_crowd else [])
  annotations = []
  for i, (mask, rle) in enumerate(zip(masks, instance_ap.encode_masks(
      np.stack(masks)))):
    ys, xs = np.nonzero(mask)
    annotations.append({
        'id': i + 1, 'image_id': 1, 'category_id': 1, 'iscrowd': i,
        'segmentation': rle, 'area': float(mask.sum()),
        'bbox': [float(xs.min()), float(ys.min()),
                 float(xs.max() - xs.min() + 1),
                 float(ys.max() - ys.min() + 1)]})
  return {'images': [{'id': 1, 'height': SIZE[0], 'width': SIZE[1]}],
          'annotations': annotations,
          'categories': [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}]}


def _ap(predictions, with_crowd=False):
  evaluator = instance_ap.InstanceAPEvaluator(_ground_truth(with_crowd))
  masks = np.stack([m for m, _, _ in predictions]) if predictions else \
      np.zeros((0,) + SIZE, bool)
  evaluator.add(1, masks, np.array([s for _, s, _ in predictions]),
                np.array([c for _, _, c in predictions], np.int64))
  return evaluator.evaluate()


def test_perfect_prediction():
  result = _ap([(OBJECT, 0.9, 1)])
  assert result == pytest.approx({'AP': 1.0, 'AP50': 1.0, 'AP75': 1.0,
                                  'APs': 1.0, 'APm': -1.0, 'APl': -1.0})


def test_iou_0625_counts_at_three_of_ten_thresholds():
  # 10 of the object's 16 pixels: IoU 10/16 = 0.625 >= 0.5, 0.55, 0.6 only.
  partial = _mask((2, 4, 2, 6), (4, 5, 2, 4))
  assert partial.sum() == 10
  result = _ap([(partial, 0.9, 1)])
  assert result['AP'] == pytest.approx(0.3)
  assert result['AP50'] == pytest.approx(1.0)
  assert result['AP75'] == pytest.approx(0.0)


def test_false_positive_ranked_first_halves_precision():
  # Detections by score: FP then TP -> precision 0.5 at recall 1, and the
  # interpolated precision is 0.5 at every recall threshold.
  result = _ap([(_mask((12, 16, 2, 6)), 0.9, 1), (OBJECT, 0.8, 1)])
  assert result['AP'] == pytest.approx(0.5)
  assert result['AP50'] == pytest.approx(0.5)
  # Ranked last, the FP costs nothing.
  result = _ap([(_mask((12, 16, 2, 6)), 0.7, 1), (OBJECT, 0.8, 1)])
  assert result['AP'] == pytest.approx(1.0)


def test_detection_on_a_crowd_region_is_ignored():
  result = _ap([(CROWD, 0.95, 1), (OBJECT, 0.8, 1)], with_crowd=True)
  assert result['AP'] == pytest.approx(1.0)


def test_no_predictions_and_wrong_category():
  assert _ap([])['AP'] == 0.0
  assert _ap([(OBJECT, 0.9, 2)])['AP'] == 0.0


def test_add_outputs_crops_the_canvas_and_maps_categories():
  canvas = np.zeros((1, 3, 24, 30), bool)
  canvas[0, 0, :20, :20] = OBJECT
  canvas[0, 0, 21:, 25:] = True  # outside the image: cropped away
  canvas[0, 1, :20, :20] = _mask((12, 16, 2, 6))
  canvas[0, 2, :20, :20] = _mask((12, 16, 12, 16))
  outputs = {'instance_masks': canvas,
             'instance_scores': np.array([[0.8, 0.9, 0.95]]),
             'instance_classes': np.array([[0, 0, 1]]),
             'instance_valid': np.array([[True, False, True]])}
  evaluator = instance_ap.InstanceAPEvaluator(_ground_truth())
  # Contiguous 0 -> category 1, 1 -> category 2; the FP of class 0 is invalid
  # (e.g. stuff) and dropped; the class-1 detection has no ground truth.
  evaluator.add_outputs([1], outputs, np.array([[20, 20]]),
                        category_ids=[1, 2])
  assert evaluator.evaluate()['AP'] == pytest.approx(1.0)
  evaluator.reset_state()
  evaluator.add(1, np.zeros((0,) + SIZE, bool), np.zeros([0]),
                np.zeros([0], np.int64))
  assert evaluator.evaluate()['AP'] == 0.0


def test_image_results_keep_the_valid_pairs_at_the_original_size():
  canvas = np.zeros((2, 2, 24, 30), bool)
  canvas[1, 0, :20, :20] = OBJECT
  canvas[1, 0, 21:, 25:] = True  # outside the image: cropped away
  canvas[1, 1, :20, :20] = CROWD
  outputs = {'instance_masks': canvas,
             'instance_scores': np.array([[0.1, 0.2], [0.8, 0.9]]),
             'instance_classes': np.array([[0, 0], [1, 0]]),
             'instance_valid': np.array([[True, True], [True, False]])}
  results = instance_ap.image_results(7, outputs, 1, (20, 20),
                                      category_ids=[5, 9])
  assert len(results) == 1
  assert json.loads(json.dumps(results)) == results
  result = results[0]
  assert (result['image_id'], result['category_id'], result['score']) == (
      7, 9, 0.8)
  assert result['segmentation']['size'] == [20, 20]
  # OBJECT: the 4 x 4 box at rows and columns 2-5, nothing else.
  assert mask_util.area(result['segmentation']) == 16
  assert list(mask_util.toBbox(result['segmentation'])) == [2, 2, 4, 4]


def test_ground_truth_from_the_coco_sample(coco_sample_dir):
  gt = instance_ap.instance_ground_truth_from_panoptic(
      str(coco_sample_dir / 'panoptic.json'), str(coco_sample_dir / 'panoptic'))
  with open(coco_sample_dir / 'panoptic.json') as f:
    content = json.load(f)
  things = {c['id'] for c in content['categories'] if c['isthing']}
  expected = [s for a in content['annotations'] for s in a['segments_info']
              if s['category_id'] in things]
  assert len(gt['annotations']) == len(expected) == 43
  assert {c['id'] for c in gt['categories']} == things
  for annotation, segment in zip(gt['annotations'], expected):
    # COCO's own area and bbox fields are the independent truth.
    assert annotation['area'] == segment['area']
    assert annotation['bbox'] == [float(v) for v in segment['bbox']]
    assert annotation['iscrowd'] == segment['iscrowd']
    assert annotation['category_id'] == segment['category_id']

  # The non-crowd ground-truth masks as predictions: AP 1.
  evaluator = instance_ap.InstanceAPEvaluator(gt)
  for annotation in content['annotations']:
    rgb = np.array(Image.open(coco_sample_dir / 'panoptic' /
                              annotation['file_name'])).astype(np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    segments = [s for s in annotation['segments_info']
                if s['category_id'] in things and not s['iscrowd']]
    evaluator.add(annotation['image_id'],
                  np.stack([ids == s['id'] for s in segments]),
                  np.linspace(1.0, 0.5, len(segments)),
                  np.array([s['category_id'] for s in segments]))
  result = evaluator.evaluate()
  assert result['AP'] == pytest.approx(1.0)
  assert result['AP50'] == pytest.approx(1.0)
