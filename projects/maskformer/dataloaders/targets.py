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

"""The loss targets of a batch and the masks of chosen target slots.

Targets are a dict with 'classes' (int [B, T]), 'valid' (bool [B, T]) and
the masks in one of two forms:

  * 'segment_map': an integer [B, H, W] tensor, per pixel the slot of its
    segment (any other value: no slot). The mask of a valid slot t of image
    b is `segment_map[b] == t`: target masks are disjoint. This is the form
    of training (`loss_targets`); it holds B * H * W values whatever T is.
  * 'masks': a bool or float [B, T, H, W] tensor of 0/1 masks (possibly
    overlapping), the form of the reference fixtures.

Either way, the masks of invalid slots are empty. The losses never expand
all T masks at the full size: they ask `gather_masks` for the masks of the
(image, slot) pairs they need, a few at a time.
"""
from typing import Dict
from typing import Mapping
from typing import Sequence

import tensorflow as tf

from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.ops import interpolation

SEGMENT_MAP = 'segment_map'
MASKS = 'masks'


def loss_targets(labels: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """The loss targets of the parser's compact labels, without expansion.

  A target is a valid, non-crowd slot; its mask is the set of pixels whose
  slot it is. Crowd, void and padding pixels belong to no target mask, so they
  are negatives for every mask, as in the original.

  Args:
    labels: a batch of the parser's labels, with 'segment_map' (an integer
      [B, H, W] tensor, widened to int32 here), 'segment_classes' (an int32
      [B, T] tensor), 'segment_valid' and 'segment_is_crowd' (bool [B, T]
      tensors).

  Returns:
    A dict with 'segment_map' (an int32 [B, H, W] tensor), 'classes' (an
    int32 [B, T] tensor) and 'valid' (a bool [B, T] tensor, False for padding
    and crowd slots).
  """
  valid = tf.logical_and(labels[maskformer_input.SEGMENT_VALID],
                         tf.logical_not(
                             labels[maskformer_input.SEGMENT_IS_CROWD]))
  return {
      SEGMENT_MAP: tf.cast(labels[maskformer_input.SEGMENT_MAP], tf.int32),
      'classes': labels[maskformer_input.SEGMENT_CLASSES],
      'valid': valid,
  }


def mask_size(targets: Mapping[str, tf.Tensor]) -> Sequence[int]:
  """The static (H, W) of the target masks."""
  key = SEGMENT_MAP if SEGMENT_MAP in targets else MASKS
  return tuple(tf.convert_to_tensor(targets[key]).shape[-2:])


def resize_nearest_legacy(targets: Mapping[str, tf.Tensor],
                          size: Sequence[int]) -> Dict[str, tf.Tensor]:
  """The targets with their masks resized by PyTorch's legacy nearest rule.

  Nearest resizing picks pixels, so resizing the segment map equals resizing
  every mask it stands for.

  Args:
    targets: the targets (either form).
    size: the output (height, width), Python ints.

  Returns:
    The targets in the same form, their masks of size `size`.
  """
  key = SEGMENT_MAP if SEGMENT_MAP in targets else MASKS
  return dict(targets, **{key: interpolation.resize_nearest_legacy(
      targets[key], size)})


def gather_masks(targets: Mapping[str, tf.Tensor], batch_index: tf.Tensor,
                 slot_index: tf.Tensor,
                 dtype: tf.DType = tf.bool) -> tf.Tensor:
  """The masks of the given (image, slot) pairs.

  Args:
    targets: the targets (either form).
    batch_index: an int32 [...] tensor of images, in [0, B).
    slot_index: an int32 [...] tensor of slots, in [0, T), the same shape.
    dtype: the dtype of the result (bool, or a float type).

  Returns:
    A [..., H, W] tensor of `dtype`, empty for invalid slots.
  """
  pairs = tf.stack([batch_index, slot_index], axis=-1)
  valid = tf.gather_nd(tf.cast(targets['valid'], tf.bool), pairs)
  valid = valid[..., tf.newaxis, tf.newaxis]
  if SEGMENT_MAP in targets:
    segment_map = tf.gather(tf.cast(targets[SEGMENT_MAP], tf.int32),
                            batch_index)
    masks = tf.equal(segment_map, slot_index[..., tf.newaxis, tf.newaxis])
  else:
    masks = tf.cast(tf.gather_nd(targets[MASKS], pairs), tf.bool)
  return tf.cast(tf.logical_and(masks, valid), dtype)


def all_masks(targets: Mapping[str, tf.Tensor],
              dtype: tf.DType = tf.bool) -> tf.Tensor:
  """Every slot's mask, a [B, T, H, W] tensor of `dtype` (small sizes only)."""
  shape = tf.shape(targets['valid'])
  batch_index = tf.broadcast_to(tf.range(shape[0])[:, tf.newaxis], shape)
  slot_index = tf.broadcast_to(tf.range(shape[1])[tf.newaxis, :], shape)
  return gather_masks(targets, batch_index, slot_index, dtype)
