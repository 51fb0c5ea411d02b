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

"""The focal and dice losses of matched pairs at the full size, in chunks.

The original computes, for every matched (query, target) pair, the focal and
dice losses of the prediction bilinearly upsampled (align_corners=False) to
the target size. Done at once for all T padded slots, that is a [B, T, H, W]
tensor per decoder layer, kept for the backward pass: about 330 MB per slot
and image at a 1344^2 canvas. Here:

  * the valid pairs are compacted to the front (a stable sort of the
    [B * T] slots), so that only the real targets are visited;
  * a `tf.while_loop` walks them `chunk_size` pairs at a time, its trip count
    `ceil(num_valid / chunk_size)` following the number of valid targets
    (data-dependent trip counts compile with XLA, TPU included); each chunk
    gathers its predictions, upsamples them (gathers and element-wise
    arithmetic only, `interpolation.resize_bilinear`, exact on TPU too) and
    builds its target masks from the targets
    (`maskformer_input.gather_masks`);
  * the custom gradient walks the same chunks again, recomputing each chunk's
    losses under a tape and scattering its gradient into the [B, Q, h, w]
    gradient of the predictions, so the backward pass keeps nothing of the
    forward pass's per-pixel values either.

Memory is therefore O(chunk_size * H * W) beyond the predictions and their
gradient, and time O(num_valid * H * W), whatever T is. The values are the
unchunked formula's (only the order of the final sums differs), in the
predictions' accumulation dtype (float32, float64 in the exact mode).
"""
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import tensorflow as tf

from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import precision
from projects.maskformer.ops import valid_region


def pair_losses(logits: tf.Tensor, targets: tf.Tensor, focal_alpha: float,
                focal_gamma: float, pixel_valid: Optional[tf.Tensor] = None
                ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Sigmoid focal (mean over pixels) and dice losses of mask pairs.

  Args:
    logits: A float [N, H, W] tensor of upsampled mask logits.
    targets: A [N, H, W] tensor of 0/1 targets of the logits' dtype.
    focal_alpha: Alpha of the focal loss.
    focal_gamma: Gamma of the focal loss; 0 gives alpha-weighted sigmoid
      cross-entropy (Mask2Former's, with alpha 0.5: half of it).
    pixel_valid: None, or a bool [N, H, W] tensor: the pixels of each pair's
      image region (padding-exact computation); the mean and the sums then
      run over them only, and `targets` must be 0 outside them.

  Returns:
    (focal, dice): [N] tensors of the logits' dtype.
  """
  probs = tf.sigmoid(logits)
  cross_entropy = (tf.nn.relu(logits) - logits * targets +
                   tf.math.log1p(tf.exp(-tf.abs(logits))))
  alpha_t = focal_alpha * targets + (1.0 - focal_alpha) * (1.0 - targets)
  focal = alpha_t * cross_entropy
  if focal_gamma:
    # Not for gamma 0: the gradient of pow(x, 0) at x = 0 (a saturated
    # prediction, p_t rounded to 1) is 0 * inf = NaN, though its value is 1.
    p_t = probs * targets + (1.0 - probs) * (1.0 - targets)
    focal *= tf.pow(1.0 - p_t, focal_gamma)
  if pixel_valid is None:
    focal = tf.reduce_mean(focal, axis=[-2, -1])
  else:
    weights = tf.cast(pixel_valid, logits.dtype)
    focal = (tf.reduce_sum(focal * weights, axis=[-2, -1]) /
             tf.reduce_sum(weights, axis=[-2, -1]))
    probs *= weights
  numerator = 2.0 * tf.reduce_sum(probs * targets, axis=[-2, -1])
  denominator = (tf.reduce_sum(probs, axis=[-2, -1]) +
                 tf.reduce_sum(targets, axis=[-2, -1]))
  return focal, 1.0 - (numerator + 1.0) / (denominator + 1.0)


def _compact_pairs(valid: tf.Tensor, query_for_target: tf.Tensor,
                   num_queries: int, chunk_size: int):
  """The valid (image, slot, query) triples first, padded to whole chunks.

  Args:
    valid: A bool [B, T] tensor.
    query_for_target: An int [B, T] tensor.
    num_queries: Q (queries are clipped to [0, Q)).
    chunk_size: C.

  Returns:
    (pairs, num_valid): an int32 [ceil(B * T / C) * C, 3] tensor of (image,
    slot, query) rows, the valid ones first in (image, slot) order, and the
    int32 number of valid rows.
  """
  num_slots = tf.shape(valid)[1]
  flat_valid = tf.reshape(valid, [-1])
  order = tf.argsort(tf.cast(tf.logical_not(flat_valid), tf.int32),
                     stable=True)
  queries = tf.clip_by_value(
      tf.reshape(tf.cast(query_for_target, tf.int32), [-1]), 0,
      num_queries - 1)
  pairs = tf.stack([order // num_slots, order % num_slots,
                    tf.gather(queries, order)], axis=1)
  padding = -tf.size(flat_valid) % chunk_size
  pairs = tf.pad(pairs, [[0, padding], [0, 0]])
  return pairs, tf.reduce_sum(tf.cast(flat_valid, tf.int32))


def matched_mask_losses(pred_masks: tf.Tensor,
                        targets: Mapping[str, tf.Tensor],
                        query_for_target: tf.Tensor,
                        chunk_size: int = 4,
                        focal_alpha: float = 0.25,
                        focal_gamma: float = 2.0
                        ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Summed focal and dice losses of one layer's matched pairs.

  Args:
    pred_masks: A float [B, Q, h, w] tensor of mask logits (computed in
      float32, or float64 if it is float64).
    targets: The targets (`maskformer_input.loss_targets`, or the 'masks'
      form), with 'valid' bool [B, T]; masks of size [H, W].
    query_for_target: An int [B, T] tensor, the query matched to each target
      (ignored for invalid targets). With 'valid_sizes' in `targets`
      (padding-exact training), each pair's prediction region is upsampled
      to its image's region and the losses cover that region only, as for
      the image alone.
    chunk_size: Pairs per loop iteration (memory ~ chunk_size * H * W).
    focal_alpha: Alpha of the focal loss.
    focal_gamma: Gamma of the focal loss.

  Returns:
    (focal_sum, dice_sum): scalars of the predictions' accumulation dtype,
    the sums over the valid pairs (not yet divided by `num_masks`).
  """
  pred_masks = precision.widen(pred_masks)
  dtype = pred_masks.dtype
  size: Sequence[int] = maskformer_input.mask_size(targets)
  prediction_sizes = maskformer_input.prediction_valid_sizes(
      targets, pred_masks.shape[-2:])
  pairs, num_valid = _compact_pairs(
      tf.cast(targets['valid'], tf.bool), query_for_target,
      pred_masks.shape[1], chunk_size)
  num_chunks = (num_valid + chunk_size - 1) // chunk_size

  def chunk(i):
    rows = tf.slice(pairs, [i * chunk_size, 0], [chunk_size, 3])
    weights = tf.cast(i * chunk_size + tf.range(chunk_size) < num_valid,
                      dtype)
    masks = maskformer_input.gather_masks(targets, rows[:, 0], rows[:, 1],
                                          dtype)
    return rows[:, 0::2], weights, masks

  def chunk_sums(logits, weights, masks, images):
    """Sums over one chunk of pairs of images `images` (int [C])."""
    if prediction_sizes is None:
      focal, dice = pair_losses(interpolation.resize_bilinear(logits, size),
                                masks, focal_alpha, focal_gamma)
    else:
      image_sizes = tf.gather(targets[maskformer_input.VALID_SIZES], images)
      focal, dice = pair_losses(
          interpolation.resize_bilinear_per_image(
              logits, tf.gather(prediction_sizes, images), image_sizes, size,
              height_axis=1),
          masks, focal_alpha, focal_gamma,
          valid_region.valid_mask(image_sizes, size))
    return tf.reduce_sum(weights * focal), tf.reduce_sum(weights * dice)

  @tf.custom_gradient
  def sums(predictions):

    def forward(i, focal_sum, dice_sum):
      image_query, weights, masks = chunk(i)
      focal, dice = chunk_sums(tf.gather_nd(predictions, image_query),
                               weights, masks, image_query[:, 0])
      return i + 1, focal_sum + focal, dice_sum + dice

    zero = tf.zeros([], dtype)
    _, focal_sum, dice_sum = tf.while_loop(
        lambda i, *_: i < num_chunks, forward, (0, zero, zero))

    def gradient(focal_upstream, dice_upstream):

      def backward(i, grad):
        image_query, weights, masks = chunk(i)
        logits = tf.gather_nd(predictions, image_query)
        with tf.GradientTape() as tape:
          tape.watch(logits)
          focal, dice = chunk_sums(logits, weights, masks, image_query[:, 0])
          total = focal_upstream * focal + dice_upstream * dice
        return i + 1, tf.tensor_scatter_nd_add(
            grad, image_query, tape.gradient(total, logits))

      _, grad = tf.while_loop(lambda i, _: i < num_chunks, backward,
                              (0, tf.zeros_like(predictions)))
      return grad

    return (focal_sum, dice_sum), gradient

  return sums(pred_masks)
