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

"""PQ with COCO's definition: hand-worked cases and the real COCO sample.

Expected values are worked out in the tests from the definition (matches at
IoU > 0.5 with the union leaving out predicted pixels on void; unmatched
predictions that are more than half void or crowd of their category are not
false positives; PQ = sum IoU / (TP + FP/2 + FN/2) per category, averaged
over the categories that have any TP, FP or FN).
"""
import json

import numpy as np
from PIL import Image
import pytest

from projects.maskformer.evaluation import panoptic_io
from projects.maskformer.evaluation import panoptic_quality

CATEGORIES = {1: {'isthing': 1}, 2: {'isthing': 1}, 10: {'isthing': 0},
              11: {'isthing': 0}}


def _row(*spans, length=20):
  """A 1 x length id map; spans are (start, stop, id)."""
  ids = np.zeros([1, length], np.int64)
  for start, stop, segment_id in spans:
    ids[0, start:stop] = segment_id
  return ids


def _seg(segment_id, category, iscrowd=0, area=None):
  segment = {'id': segment_id, 'category_id': category, 'iscrowd': iscrowd}
  if area is not None:
    segment['area'] = area
  return segment


def _pred(segment_id, category):
  return {'id': segment_id, 'category_id': category}


def _evaluate(*images, categories=None):
  metric = panoptic_quality.PanopticQuality(categories or CATEGORIES)
  for gt_ids, gt_segments, pred_ids, pred_segments in images:
    metric.update(gt_ids, gt_segments, pred_ids, pred_segments)
  return metric.result()


def _expected(stats, categories=None):
  """The COCO averages from per-category (iou_sum, tp, fp, fn), by hand."""
  categories = categories or CATEGORIES
  result = {'per_class': {}}
  for name, isthing in (('All', None), ('Things', True), ('Stuff', False)):
    values = []
    for category, info in categories.items():
      if isthing is not None and (info['isthing'] == 1) != isthing:
        continue
      iou, tp, fp, fn = stats.get(category, (0.0, 0, 0, 0))
      if tp + fp + fn == 0:
        scores = (0.0, 0.0, 0.0)
      else:
        scores = (iou / (tp + fp / 2 + fn / 2), iou / tp if tp else 0.0,
                  tp / (tp + fp / 2 + fn / 2))
        values.append(scores)
      if name == 'All':
        result['per_class'][category] = dict(zip(('pq', 'sq', 'rq'), scores))
    means = np.mean(values, axis=0) if values else (0.0, 0.0, 0.0)
    result[name] = {'pq': means[0], 'sq': means[1], 'rq': means[2],
                    'n': len(values)}
  return result


def _assert_results(got, expected):
  for name in ('All', 'Things', 'Stuff'):
    assert got[name]['n'] == expected[name]['n'], name
    for key in ('pq', 'sq', 'rq'):
      assert got[name][key] == pytest.approx(expected[name][key], abs=1e-12), (
          name, key)
  assert set(got['per_class']) == set(expected['per_class'])
  for category, scores in expected['per_class'].items():
    for key, value in scores.items():
      assert got['per_class'][category][key] == pytest.approx(
          value, abs=1e-12), (category, key)


# ground truth of the first cases: thing 1 on pixels 0-9, void 10-14,
# stuff 2 on 15-19.
GT_A = _row((0, 10, 1), (15, 20, 2))
GT_A_SEGMENTS = [_seg(1, 1), _seg(2, 10)]


def test_void_is_left_out_of_the_union_and_mostly_void_fp_is_ignored():
  # pred 5 (cat 1) on 0-7: I = 8, U = 8 + 10 - 8 = 10 -> IoU 0.8.
  # pred 6 (cat 1) on 8-12: 3 of 5 pixels void (> 50 %) -> not a FP.
  # pred 7 (cat 10) on 13-19: I = 5, U = 7 + 5 - 5 - 2 (void) = 5 -> IoU 1.
  pred = _row((0, 8, 5), (8, 13, 6), (13, 20, 7))
  got = _evaluate((GT_A, GT_A_SEGMENTS, pred,
                   [_pred(5, 1), _pred(6, 1), _pred(7, 10)]))
  _assert_results(got, _expected({1: (0.8, 1, 0, 0), 10: (1.0, 1, 0, 0)}))
  assert got['All']['pq'] == pytest.approx(0.9)


def test_exactly_half_void_is_a_false_positive():
  # pred 6 on 8-11: 2 of 4 pixels void, not more than half -> FP.
  pred = _row((0, 8, 5), (8, 12, 6), (13, 20, 7))
  got = _evaluate((GT_A, GT_A_SEGMENTS, pred,
                   [_pred(5, 1), _pred(6, 1), _pred(7, 10)]))
  _assert_results(got, _expected({1: (0.8, 1, 1, 0), 10: (1.0, 1, 0, 0)}))
  assert got['per_class'][1]['pq'] == pytest.approx(0.8 / 1.5)


def test_iou_of_exactly_one_half_does_not_match():
  gt = _row((0, 10, 1))
  # I = 5, U = 10: IoU 0.5 is not > 0.5 -> one FN and one FP.
  got = _evaluate((gt, [_seg(1, 1)], _row((0, 5, 5)), [_pred(5, 1)]))
  _assert_results(got, _expected({1: (0.0, 0, 1, 1)}))
  # I = 6, U = 10: IoU 0.6 matches.
  got = _evaluate((gt, [_seg(1, 1)], _row((0, 6, 5)), [_pred(5, 1)]))
  _assert_results(got, _expected({1: (0.6, 1, 0, 0)}))


def test_crowd_region_of_the_same_category_only():
  gt = _row((0, 10, 3), (10, 20, 4))
  gt_segments = [_seg(3, 1, iscrowd=1), _seg(4, 2)]
  pred = _row((0, 6, 8), (10, 14, 8), (14, 20, 9))
  # pred 9 (cat 2) vs gt 4: I = 6, U = 6 + 10 - 6 = 10 -> 0.6.
  # pred 8 (cat 1): 6 of its 10 pixels on the cat-1 crowd -> ignored; the
  # crowd itself is neither matched nor a FN.
  got = _evaluate((gt, gt_segments, pred, [_pred(8, 1), _pred(9, 2)]))
  _assert_results(got, _expected({2: (0.6, 1, 0, 0)}))
  # As cat 2, pred 8 has no crowd of its category: IoU with gt 4 is
  # 4 / (10 + 10 - 4) = 0.25 -> a FP.
  got = _evaluate((gt, gt_segments, pred, [_pred(8, 2), _pred(9, 2)]))
  _assert_results(got, _expected({2: (0.6, 1, 1, 0)}))
  assert got['All']['pq'] == pytest.approx(0.4)


def test_crowd_pixels_stay_in_the_union():
  gt = _row((0, 4, 3), (4, 14, 4))
  gt_segments = [_seg(3, 1, iscrowd=1), _seg(4, 1)]
  # pred 8 covers the crowd and gt 4: I = 10, U = 14 + 10 - 10 = 14.
  got = _evaluate((gt, gt_segments, _row((0, 14, 8)), [_pred(8, 1)]))
  _assert_results(got, _expected({1: (10 / 14, 1, 0, 0)}))


@pytest.mark.parametrize('crowd_order,ignored', [((3, 13), False),
                                                  ((13, 3), True)])
def test_only_the_last_crowd_segment_of_a_category_counts(crowd_order,
                                                          ignored):
  gt = _row((0, 5, 3), (5, 10, 13), (10, 20, 4))
  gt_segments = [_seg(i, 1, iscrowd=1) for i in crowd_order] + [_seg(4, 2)]
  # pred 8 (cat 1): 5 pixels on crowd 3, 3 on gt 4 (area 8).
  # pred 9 (cat 2) on 13-19 vs gt 4: I = 7, U = 10 -> 0.7.
  pred = _row((0, 5, 8), (10, 13, 8), (13, 20, 9))
  got = _evaluate((gt, gt_segments, pred, [_pred(8, 1), _pred(9, 2)]))
  stats = {2: (0.7, 1, 0, 0)}
  if not ignored:  # crowd 13 is the last: 0 of 8 pixels on it -> FP.
    stats[1] = (0.0, 0, 1, 0)
  _assert_results(got, _expected(stats))


def test_statistics_accumulate_per_category_over_images():
  pred_a = _row((0, 8, 5), (8, 13, 6), (13, 20, 7))
  image_a = (GT_A, GT_A_SEGMENTS, pred_a,
             [_pred(5, 1), _pred(6, 1), _pred(7, 10)])
  image_b = (_row((0, 10, 1)), [_seg(1, 1)], _row(), [])
  got = _evaluate(image_a, image_b)
  # cat 1: IoU 0.8 matched in A, missed in B: 0.8 / (1 + 0.5), not the
  # per-image mean (0.8 + 0) / 2.
  _assert_results(got, _expected({1: (0.8, 1, 0, 1), 10: (1.0, 1, 0, 0)}))
  assert got['per_class'][1]['pq'] == pytest.approx(0.8 / 1.5)


def test_ground_truth_area_comes_from_the_json():
  gt = _row((0, 10, 1))
  pred = _row((0, 10, 5))
  got = _evaluate((gt, [_seg(1, 1, area=12)], pred, [_pred(5, 1)]))
  _assert_results(got, _expected({1: (10 / 12, 1, 0, 0)}))
  got = _evaluate((gt, [_seg(1, 1)], pred, [_pred(5, 1)]))
  _assert_results(got, _expected({1: (1.0, 1, 0, 0)}))


def test_json_segment_absent_from_the_ground_truth_png_is_a_false_negative():
  got = _evaluate((_row((0, 10, 1)), [_seg(1, 1), _seg(99, 2, area=5)],
                   _row((0, 10, 5)), [_pred(5, 1)]))
  _assert_results(got, _expected({1: (1.0, 1, 0, 0), 2: (0.0, 0, 0, 1)}))


@pytest.mark.parametrize('pred_ids,pred_segments,message', [
    (_row((0, 10, 5), (10, 12, 6)), [_pred(5, 1)],
     'segment id 6 is in the predicted PNG'),
    (_row((0, 10, 5)), [_pred(5, 1), _pred(6, 1)],
     r'predicted segment ids \[6\] are in the segments_info'),
    (_row((0, 10, 5)), [_pred(5, 3)], 'unknown category_id 3'),
    (_row((0, 10, 5)), [_pred(5, 1), _pred(5, 2)], 'appears twice'),
    (_row((0, 10, 5), length=19), [_pred(5, 1)], 'predicted panoptic map'),
])
def test_inconsistent_predictions_raise(pred_ids, pred_segments, message):
  metric = panoptic_quality.PanopticQuality(CATEGORIES)
  with pytest.raises(panoptic_io.PanopticFormatError, match=message):
    metric.update(_row((0, 10, 1)), [_seg(1, 1)], pred_ids, pred_segments,
                  image_id=7)


def test_id_colour_round_trip(tmp_path):
  ids = np.array([[0, 1, 255, 256], [65535, 65536, 256**3 - 1, 4259840]])
  path = str(tmp_path / 'ids.png')
  panoptic_io.write_panoptic_png(path, ids)
  rgb = np.array(Image.open(path)).astype(np.int64)
  np.testing.assert_array_equal(
      rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2], ids)
  np.testing.assert_array_equal(panoptic_io.read_panoptic_png(path), ids)
  with pytest.raises(ValueError, match='segment ids'):
    panoptic_io.id_to_rgb(np.array([[256**3]]))


# The real COCO sample.


@pytest.fixture(scope='module')
def sample(coco_sample_dir):
  """The ground truth: JSON content and each image's id map (decoded here)."""
  with open(coco_sample_dir / 'panoptic.json') as f:
    content = json.load(f)
  maps = {}
  for annotation in content['annotations']:
    rgb = np.array(Image.open(coco_sample_dir / 'panoptic' /
                              annotation['file_name'])).astype(np.int64)
    maps[annotation['image_id']] = (rgb[..., 0] + 256 * rgb[..., 1] +
                                    65536 * rgb[..., 2])
  return content, maps


def _sample_categories(content):
  return {c['id']: c for c in content['categories']}


def _perfect_stats(content):
  """Per-category stats of the ground truth against itself."""
  stats = {}
  for annotation in content['annotations']:
    for segment in annotation['segments_info']:
      if not segment['iscrowd']:
        iou, tp, fp, fn = stats.get(segment['category_id'], (0.0, 0, 0, 0))
        stats[segment['category_id']] = (iou + 1.0, tp + 1, fp, fn)
  return stats


def _add(stats, category, iou=0.0, tp=0, fp=0, fn=0):
  old = stats.get(category, (0.0, 0, 0, 0))
  stats[category] = (old[0] + iou, old[1] + tp, old[2] + fp, old[3] + fn)


def _write_and_evaluate(tmp_path, coco_sample_dir, predictions):
  """Writes {image_id: (ids, segments)} as panopticapi files; pq_compute."""
  folder = tmp_path / 'pred'
  folder.mkdir()
  annotations = []
  for image_id, (ids, segments) in predictions.items():
    file_name = f'{image_id}.png'
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1)
    Image.fromarray(rgb.astype(np.uint8)).save(folder / file_name)
    annotations.append({'image_id': image_id, 'file_name': file_name,
                        'segments_info': segments})
  with open(tmp_path / 'pred.json', 'w') as f:
    json.dump({'annotations': annotations}, f)
  return panoptic_quality.pq_compute(
      str(coco_sample_dir / 'panoptic.json'), str(coco_sample_dir / 'panoptic'),
      str(tmp_path / 'pred.json'), str(folder), show_progress=False)


def _ground_truth_predictions(content, maps):
  return {a['image_id']: (maps[a['image_id']].copy(),
                          [{'id': s['id'], 'category_id': s['category_id']}
                           for s in a['segments_info']])
          for a in content['annotations']}


def _square_inside(ids, segment_id, size):
  """Top-left (y, x) of a size x size square lying entirely in a segment."""
  inside = (ids == segment_id).astype(np.int64)
  sums = np.pad(inside.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
  window = (sums[size:, size:] - sums[:-size, size:] - sums[size:, :-size] +
            sums[:-size, :-size])
  ys, xs = np.nonzero(window == size * size)
  assert ys.size, f'no {size}x{size} square inside segment {segment_id}'
  return ys[0], xs[0]


def test_ground_truth_against_itself_is_100(sample, tmp_path, coco_sample_dir):
  content, maps = sample
  got = _write_and_evaluate(tmp_path, coco_sample_dir,
                            _ground_truth_predictions(content, maps))
  categories = _sample_categories(content)
  present = {s['category_id'] for a in content['annotations']
             for s in a['segments_info'] if not s['iscrowd']}
  for name, isthing in (('All', None), ('Things', True), ('Stuff', False)):
    group = [c for c in present
             if isthing is None or (categories[c]['isthing'] == 1) == isthing]
    assert got[name] == {'pq': 1.0, 'sq': 1.0, 'rq': 1.0, 'n': len(group)}
  assert got['All']['n'] == 8
  _assert_results(got, _expected(_perfect_stats(content), categories))


def test_missed_segment(sample, tmp_path, coco_sample_dir):
  content, maps = sample
  predictions = _ground_truth_predictions(content, maps)
  ids, segments = predictions[142238]
  ids[ids == 3937500] = 0  # a person, now void in the prediction
  segments[:] = [s for s in segments if s['id'] != 3937500]
  got = _write_and_evaluate(tmp_path, coco_sample_dir, predictions)
  stats = _perfect_stats(content)
  _add(stats, 1, iou=-1.0, tp=-1, fn=1)
  _assert_results(got, _expected(stats, _sample_categories(content)))
  persons = stats[1][1] + 1
  assert got['per_class'][1]['pq'] == pytest.approx(
      (persons - 1) / (persons - 1 + 0.5))


def test_relabelled_segment(sample, tmp_path, coco_sample_dir):
  content, maps = sample
  predictions = _ground_truth_predictions(content, maps)
  for segment in predictions[439180][1]:
    if segment['id'] == 16758454:  # a horse (19), called a bicycle (2)
      segment['category_id'] = 2
  got = _write_and_evaluate(tmp_path, coco_sample_dir, predictions)
  stats = _perfect_stats(content)
  _add(stats, 19, iou=-1.0, tp=-1, fn=1)
  _add(stats, 2, fp=1)
  _assert_results(got, _expected(stats, _sample_categories(content)))
  assert got['All']['n'] == 9


def test_shifted_segment(sample, tmp_path, coco_sample_dir):
  content, maps = sample
  predictions = _ground_truth_predictions(content, maps)
  gt = maps[439180]
  horse = 16758454  # category 19, shifted 4 pixels right, over void,
  old = gt == horse  # persons and stuff
  new = np.zeros_like(old)
  new[:, 4:] = old[:, :-4]
  ids = predictions[439180][0]
  ids[old] = 0
  ids[new] = horse
  stats = _perfect_stats(content)
  overlap = int((old & new).sum())
  on_void = int((new & (gt == 0)).sum())
  assert on_void > 0
  horse_iou = overlap / (new.sum() + old.sum() - overlap - on_void)
  assert horse_iou > 0.5  # the derivation below assumes the match survives
  _add(stats, 19, iou=horse_iou - 1.0)
  assert content['annotations'][1]['image_id'] == 439180
  segments = {s['id']: s for s in content['annotations'][1]['segments_info']}
  covered_categories = set()
  for covered in np.unique(gt[new & ~old]):
    if covered == 0 or segments[covered]['iscrowd']:
      continue
    # The covered segment keeps |T| - o pixels, all inside T: IoU (|T|-o)/|T|.
    size = int((gt == covered).sum())
    lost = int((new & (gt == covered)).sum())
    assert (size - lost) / size > 0.5
    _add(stats, segments[covered]['category_id'], iou=-lost / size)
    covered_categories.add(segments[covered]['category_id'])
  assert covered_categories == {1, 125}  # persons and a stuff region
  got = _write_and_evaluate(tmp_path, coco_sample_dir, predictions)
  _assert_results(got, _expected(stats, _sample_categories(content)))
  assert got['All']['pq'] < 1.0


def test_false_positive_carved_out_of_stuff(sample, tmp_path, coco_sample_dir):
  content, maps = sample
  predictions = _ground_truth_predictions(content, maps)
  ids, segments = predictions[142238]
  y, x = _square_inside(maps[142238], 2330219, 20)  # inside stuff 184
  ids[y:y + 20, x:x + 20] = 999
  segments.append({'id': 999, 'category_id': 2})
  area = int((maps[142238] == 2330219).sum())
  stats = _perfect_stats(content)
  _add(stats, 184, iou=-400 / area)  # IoU (area - 400) / area
  _add(stats, 2, fp=1)
  got = _write_and_evaluate(tmp_path, coco_sample_dir, predictions)
  _assert_results(got, _expected(stats, _sample_categories(content)))


@pytest.mark.parametrize('category,is_false_positive', [(1, False), (2, True)])
def test_segment_on_a_crowd_region(sample, tmp_path, coco_sample_dir, category,
                                   is_false_positive):
  content, maps = sample
  predictions = _ground_truth_predictions(content, maps)
  ids, segments = predictions[142238]
  crowd = 3153362  # the person crowd (category 1)
  y, x = _square_inside(maps[142238], crowd, 10)
  ids[y:y + 10, x:x + 10] = 998
  segments.append({'id': 998, 'category_id': category})
  stats = _perfect_stats(content)
  if is_false_positive:
    _add(stats, category, fp=1)
  got = _write_and_evaluate(tmp_path, coco_sample_dir, predictions)
  _assert_results(got, _expected(stats, _sample_categories(content)))
  if not is_false_positive:
    assert got['All']['pq'] == 1.0


def test_batch_evaluator_equals_pq_compute(sample, tmp_path, coco_sample_dir):
  """The task-side evaluator reports what the script reports on the files."""
  content, maps = sample
  predictions = _ground_truth_predictions(content, maps)
  ids, segments = predictions[142238]
  y, x = _square_inside(maps[142238], 2330219, 20)
  ids[y:y + 20, x:x + 20] = 999
  segments.append({'id': 999, 'category_id': 2})
  for segment in predictions[439180][1]:
    if segment['id'] == 16758454:
      segment['category_id'] = 2
  categories = sorted(content['categories'], key=lambda c: c['id'])
  dataset_ids = [c['id'] for c in categories]
  contiguous = {c: i for i, c in enumerate(dataset_ids)}

  canvas = (427, 640)
  num_images, slots = 2, 40
  # The input pipeline's evaluation labels: per-pixel segment slots (-1 void).
  gt_batch = {
      'groundtruth_segment_map': np.full((num_images,) + canvas, -1, np.int32),
      'segment_classes': np.zeros([num_images, slots], np.int32),
      'segment_is_crowd': np.zeros([num_images, slots], bool),
      'segment_valid': np.zeros([num_images, slots], bool),
      'image_info': np.zeros([num_images, 4, 2], np.float32),
      'image_id': np.zeros([num_images], np.int64),
  }
  pred_batch = {
      'panoptic': np.zeros((num_images,) + canvas, np.int32),
      'segment_valid': np.zeros([num_images, slots], bool),
      'segment_id': np.zeros([num_images, slots], np.int32),
      'segment_category': np.full([num_images, slots], -1, np.int32),
      'segment_score': np.zeros([num_images, slots], np.float32),
  }
  for b, annotation in enumerate(content['annotations']):
    image_id = annotation['image_id']
    height, width = maps[image_id].shape
    gt_batch['image_info'][b, 0] = (height, width)
    gt_batch['image_id'][b] = image_id
    for s, segment in enumerate(annotation['segments_info']):
      gt_batch['groundtruth_segment_map'][b, :height, :width][
          maps[image_id] == segment['id']] = s
      gt_batch['segment_classes'][b, s] = contiguous[segment['category_id']]
      gt_batch['segment_is_crowd'][b, s] = segment['iscrowd']
      gt_batch['segment_valid'][b, s] = True
    pred_ids, pred_segments = predictions[image_id]
    pred_batch['panoptic'][b, :height, :width] = pred_ids
    for s, segment in enumerate(pred_segments):
      pred_batch['segment_valid'][b, s] = True
      pred_batch['segment_id'][b, s] = segment['id']
      pred_batch['segment_category'][b, s] = contiguous[segment['category_id']]
      pred_batch['segment_score'][b, s] = 0.9

  evaluator = panoptic_quality.PanopticQualityEvaluator(
      _sample_categories(content), category_ids=dataset_ids)
  # Per-replica tuples, as Model Garden's eval loop hands them over.
  evaluator.update_state(
      {k: (v[:1], v[1:]) for k, v in gt_batch.items()},
      {k: (v[:1], v[1:]) for k, v in pred_batch.items()})
  from_batches = evaluator.result()

  writer = panoptic_io.PanopticPredictionWriter(str(tmp_path / 'pred'))
  for b, annotation in enumerate(content['annotations']):
    height, width = maps[annotation['image_id']].shape
    writer.add(annotation['image_id'], f'{annotation["image_id"]}.png',
               pred_batch['panoptic'][b, :height, :width],
               panoptic_io.segments_from_table(pred_batch, b, dataset_ids))
  writer.write_json(str(tmp_path / 'pred.json'), categories)
  from_files = panoptic_quality.pq_compute(
      str(coco_sample_dir / 'panoptic.json'), str(coco_sample_dir / 'panoptic'),
      str(tmp_path / 'pred.json'), str(tmp_path / 'pred'), show_progress=False)
  assert from_batches == from_files
  assert from_files['All']['pq'] < 1.0
  evaluator.reset_state()
  assert evaluator.result()['All']['n'] == 0


def test_table_format():
  results = {'All': {'pq': 0.5, 'sq': 0.75, 'rq': 2 / 3, 'n': 3},
             'Things': {'pq': 1.0, 'sq': 1.0, 'rq': 1.0, 'n': 1},
             'Stuff': {'pq': 0.25, 'sq': 0.625, 'rq': 0.5, 'n': 2}}
  assert panoptic_quality.format_pq_table(results).splitlines() == [
      '          |    PQ     SQ     RQ     N',
      '--------------------------------------',
      'All       |  50.0   75.0   66.7     3',
      'Things    | 100.0  100.0  100.0     1',
      'Stuff     |  25.0   62.5   50.0     2',
  ]
