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

"""Semantic segmentation metrics (mIoU and friends) as detectron2 defines them.

The confusion matrix is computed in TF (static shapes, XLA-compatible, so a
`validation_step` can return a [K, K] matrix instead of full-resolution
maps); the host accumulates the matrices and computes detectron2's
`SemSegEvaluator` numbers, in [0, 1] instead of percent:

* IoU_c = TP_c / (GT_c + Pred_c - TP_c), defined for classes present in the
  ground truth; mIoU = sum of those IoUs / number of classes present in the
  ground truth or in the predictions (a class only predicted counts as 0);
* fwIoU weights IoU_c by the class's share of ground-truth pixels;
* mACC = mean over ground-truth classes of TP_c / GT_c; pACC = sum TP / sum GT.

Pixels whose label is the ignore label (255), or outside [0, K), or outside
the valid mask, are left out.
"""
from typing import Any
from typing import Dict
from typing import Optional

import numpy as np
import tensorflow as tf


def semantic_labels_from_segments(segment_map: tf.Tensor,
                                  segment_classes: tf.Tensor,
                                  ignore_label: int = 255) -> tf.Tensor:
  """Per-pixel classes from the input pipeline's segment slots.

  Args:
    segment_map: An integer [B, H, W] tensor, per pixel the slot of its
      segment, -1 for void / ignore / padding.
    segment_classes: An integer [B, T] tensor, the class of each slot.
    ignore_label: The label given to pixels without a segment.

  Returns:
    An int32 [B, H, W] tensor of classes.
  """
  segment_map = tf.cast(segment_map, tf.int32)
  classes = tf.gather(tf.cast(segment_classes, tf.int32),
                      tf.maximum(segment_map, 0), batch_dims=1)
  return tf.where(segment_map >= 0, classes, ignore_label)


def semantic_confusion_matrix(labels: tf.Tensor,
                              predictions: tf.Tensor,
                              num_classes: int,
                              ignore_label: int = 255,
                              valid_mask: Optional[tf.Tensor] = None
                             ) -> tf.Tensor:
  """Pixel counts per (ground-truth class, predicted class).

  Args:
    labels: An integer [B, H, W] tensor of ground-truth classes.
    predictions: An integer [B, H, W] tensor of predicted classes in
      [0, num_classes) (e.g. the argmax of the semantic scores).
    num_classes: K.
    ignore_label: The label of pixels to leave out.
    valid_mask: An optional bool [B, H, W] tensor; pixels outside are left
      out (e.g. the canvas outside each image).

  Returns:
    An int32 [K, K] tensor; entry [g, p] counts pixels of class g predicted
    as p.
  """
  labels = tf.cast(labels, tf.int32)
  predictions = tf.cast(predictions, tf.int32)
  counted = ((labels != ignore_label) & (labels >= 0) &
             (labels < num_classes) & (predictions >= 0) &
             (predictions < num_classes))
  if valid_mask is not None:
    counted &= tf.cast(valid_mask, tf.bool)
  cells = tf.where(counted, labels * num_classes + predictions,
                   num_classes * num_classes)
  counts = tf.math.unsorted_segment_sum(
      tf.ones([tf.size(cells)], tf.int32), tf.reshape(cells, [-1]),
      num_classes * num_classes + 1)
  return tf.reshape(counts[:-1], [num_classes, num_classes])


class SemanticSegmentationMetrics:
  """Accumulates confusion matrices and reports mIoU, fwIoU, mACC, pACC."""

  def __init__(self, num_classes: int):
    """Initializes an empty accumulator.

    Args:
      num_classes: K.
    """
    self._num_classes = num_classes
    self._confusion = np.zeros([num_classes, num_classes], np.int64)

  def reset_state(self) -> None:
    """Forgets everything accumulated."""
    self._confusion[:] = 0

  def update_state(self, confusion: Any) -> None:
    """Adds confusion matrices.

    Args:
      confusion: A [K, K] matrix (rows ground truth, columns prediction), a
        [N, K, K] stack, or a tuple/list of those (per-replica values).
    """
    if isinstance(confusion, (tuple, list)):
      for part in confusion:
        self.update_state(part)
      return
    confusion = np.asarray(confusion).astype(np.int64)
    self._confusion += confusion.reshape(
        [-1, self._num_classes, self._num_classes]).sum(axis=0)

  def result(self) -> Dict[str, Any]:
    """The metrics, in [0, 1].

    Returns:
      A dict with 'mIoU', 'fwIoU', 'mACC', 'pACC' (floats) and
      'per_class_iou', 'per_class_acc' (float64 [K] arrays, NaN for classes
      absent from the ground truth).
    """
    true_positives = np.diag(self._confusion).astype(np.float64)
    gt_pixels = self._confusion.sum(axis=1).astype(np.float64)
    pred_pixels = self._confusion.sum(axis=0).astype(np.float64)
    in_gt = gt_pixels > 0
    in_gt_or_pred = (gt_pixels + pred_pixels) > 0
    iou = np.full(self._num_classes, np.nan)
    acc = np.full(self._num_classes, np.nan)
    union = gt_pixels + pred_pixels - true_positives
    iou[in_gt] = true_positives[in_gt] / union[in_gt]
    acc[in_gt] = true_positives[in_gt] / gt_pixels[in_gt]
    class_weights = gt_pixels / gt_pixels.sum()
    return {
        'mIoU': float(iou[in_gt].sum() / in_gt_or_pred.sum()),
        'fwIoU': float((iou[in_gt] * class_weights[in_gt]).sum()),
        'mACC': float(acc[in_gt].sum() / in_gt.sum()),
        'pACC': float(true_positives.sum() / gt_pixels.sum()),
        'per_class_iou': iou,
        'per_class_acc': acc,
    }
