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

"""Device-side expansion of compact segment maps into per-target masks."""
import tensorflow as tf

from projects.maskformer.dataloaders import maskformer_input


def expand_targets(labels: dict, mask_dtype: tf.DType = tf.bool) -> dict:
  """Builds the loss targets from the parser's compact labels (XLA-friendly).

  A target is a valid, non-crowd slot; its mask is the set of pixels whose
  slot it is. Crowd, void and padding pixels belong to no target mask, so they
  are negatives for every mask, as in the original.

  Args:
    labels: a batch of the parser's labels, with 'segment_map' (an integer
      [B, H, W] tensor, widened to int32 here), 'segment_classes' (an int32
      [B, T] tensor),
      'segment_valid' and 'segment_is_crowd' (bool [B, T] tensors).
    mask_dtype: dtype of the masks (bool, or a float type for the losses).

  Returns:
    A dict with 'masks' (a [B, T, H, W] tensor of `mask_dtype`, all-zero for
    invalid targets), 'classes' (an int32 [B, T] tensor) and 'valid' (a bool
    [B, T] tensor, False for padding and crowd slots).
  """
  segment_map = tf.cast(labels[maskformer_input.SEGMENT_MAP], tf.int32)
  classes = labels[maskformer_input.SEGMENT_CLASSES]
  valid = tf.logical_and(labels[maskformer_input.SEGMENT_VALID],
                         tf.logical_not(
                             labels[maskformer_input.SEGMENT_IS_CROWD]))
  # Invalid slots are compared with -2, which no pixel holds: empty masks.
  target_slot = tf.where(valid, tf.range(tf.shape(classes)[1])[None, :], -2)
  masks = tf.equal(segment_map[:, None, :, :], target_slot[:, :, None, None])
  return {
      'masks': tf.cast(masks, mask_dtype),
      'classes': classes,
      'valid': valid,
  }
