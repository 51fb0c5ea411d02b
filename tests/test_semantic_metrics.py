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

"""Tests of the semantic segmentation metrics (detectron2's definitions)."""
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.evaluation import semantic_metrics

LABELS = np.array([[[0, 0, 1, 1], [2, 2, 255, 0]]])
PREDICTIONS = np.array([[[0, 1, 1, 1], [2, 0, 1, 2]]])


def _metrics(labels, predictions, num_classes):
  metrics = semantic_metrics.SemanticSegmentationMetrics(num_classes)
  metrics.update_state(semantic_metrics.semantic_confusion_matrix(
      labels, predictions, num_classes))
  return metrics.result()


def test_hand_computed_case():
  # Counted pixels (gt, pred): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (0,2).
  # GT pixels 3, 2, 2; predicted 2, 3, 2; TP 1, 2, 1.
  confusion = semantic_metrics.semantic_confusion_matrix(LABELS, PREDICTIONS,
                                                         3).numpy()
  np.testing.assert_array_equal(confusion, [[1, 1, 1], [0, 2, 0], [1, 0, 1]])
  result = _metrics(LABELS, PREDICTIONS, 3)
  iou = [1 / 4, 2 / 3, 1 / 3]  # TP / (GT + Pred - TP)
  np.testing.assert_allclose(result['per_class_iou'], iou)
  assert result['mIoU'] == pytest.approx(sum(iou) / 3)
  assert result['fwIoU'] == pytest.approx(3 / 7 * iou[0] + 2 / 7 * iou[1] +
                                          2 / 7 * iou[2])
  assert result['fwIoU'] == pytest.approx(11 / 28)
  assert result['mACC'] == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)
  assert result['pACC'] == pytest.approx(4 / 7)


def test_class_only_predicted_counts_as_zero_iou():
  predictions = PREDICTIONS.copy()
  predictions[0, 1, 3] = 3  # a GT-0 pixel predicted as class 3
  result = _metrics(LABELS, predictions, 4)
  # IoU 1/4, 2/3, 1/(2+1-1); class 3 undefined but counted in the mean.
  assert np.isnan(result['per_class_iou'][3])
  assert result['mIoU'] == pytest.approx((1 / 4 + 2 / 3 + 1 / 2) / 4)
  assert result['mACC'] == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)


def test_confusion_matrix_under_xla_matches_numpy():
  rng = np.random.default_rng(0)
  num_classes = 7
  labels = rng.integers(0, num_classes, size=[2, 9, 11])
  labels[rng.random(labels.shape) < 0.1] = 255
  predictions = rng.integers(0, num_classes, size=[2, 9, 11])
  valid = rng.random(labels.shape) < 0.8
  confusion = tf.function(
      lambda gt, pred, v: semantic_metrics.semantic_confusion_matrix(
          gt, pred, num_classes, valid_mask=v), jit_compile=True)(
              labels, predictions, valid).numpy()
  expected = np.zeros([num_classes, num_classes], np.int64)
  for g, p, v in zip(labels.ravel(), predictions.ravel(), valid.ravel()):
    if v and g != 255:
      expected[g, p] += 1
  np.testing.assert_array_equal(confusion, expected)


def test_accumulates_replica_tuples_and_stacks():
  confusion = semantic_metrics.semantic_confusion_matrix(
      LABELS, PREDICTIONS, 3).numpy()
  metrics = semantic_metrics.SemanticSegmentationMetrics(3)
  metrics.update_state((confusion, np.stack([confusion, confusion])))
  single = _metrics(LABELS, PREDICTIONS, 3)
  tripled = metrics.result()
  for key in ('mIoU', 'fwIoU', 'mACC', 'pACC'):
    assert tripled[key] == pytest.approx(single[key])
  metrics.reset_state()
  metrics.update_state(confusion)
  assert metrics.result()['mIoU'] == pytest.approx(single['mIoU'])


def test_labels_from_segment_slots():
  segment_map = np.array([[[0, 1, -1], [2, 2, 0]]])
  segment_classes = np.array([[4, 0, 7, 0]])
  labels = semantic_metrics.semantic_labels_from_segments(
      segment_map, segment_classes).numpy()
  np.testing.assert_array_equal(labels, [[[4, 0, 255], [7, 7, 4]]])
