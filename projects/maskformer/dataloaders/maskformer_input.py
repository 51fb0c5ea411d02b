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

"""The device side of the input: the labels, normalization and loss targets.

The parser (`segmentation_parser`) runs on the host inside tf.data; this
module holds what the model, the losses and the metrics read of its output,
and what the device computes from it before them: `prepare_model_inputs`
(the train and validation steps and `evaluation.dataset_prediction` call it
on every batch) and the loss targets (`loss_targets`, `gather_masks`). The
normalization is defined here once, also where it runs on the host
(`normalize_image`: the parser's float images, serving).

The parser's output. Every example, training or evaluation, panoptic or
semantic, becomes `(image, labels)` with static shapes ([Hc, Wc] =
`output_size`, the canvas; T = `max_segments`):
  * image, by the parser's `dtype`:
    - 'float32' or 'bfloat16': a [Hc, Wc, 3] tensor, RGB normalized with mean
      (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375) on the 0-255
      scale, zero-padded bottom/right after normalization. With the
      'semantic_crop' augmentation the image is first padded to the crop size
      with 128 before normalization (as the original's ADE20K mapper).
    - 'uint8': a uint8 [Hc, Wc, 3] tensor, the same image before
      normalization (0-255 RGB, the 'semantic_crop' padding included), zero
      elsewhere: 4x less host memory traffic than float32. The device
      normalizes it with `prepare_model_inputs` (the task's train and
      validation steps do), which gives the 'float32' image exactly.
  * labels['pixel_mask']: a bool [Hc, Wc] tensor, True on image pixels (False
    on all padding).
  * labels['segment_map']: an integer [Hc, Wc] tensor, per pixel the slot of
    its segment in the lists below, -1 for void / ignore / padding. Its dtype
    is the narrowest that holds the slots (`segment_map_dtype`: int8 for
    T <= 127, the usual case); `prepare_model_inputs` and
    `loss_targets` widen it to int32 on the device.
  * labels['segment_classes']: an int32 [T] tensor, the contiguous class per
    slot (0 in empty slots).
  * labels['segment_is_crowd']: a bool [T] tensor.
  * labels['segment_valid']: a bool [T] tensor, True for slots holding a
    segment (crowd segments included), False for padding slots.
  * labels['image_info']: a float32 [4, 2] tensor, Model Garden's
    [[original h, w], [image h, w on the canvas], [scale y, x], [offset y, x]]:
    an original pixel coordinate p lands at p * scale - offset (evaluation:
    offset 0; training flips are not recorded).
  * labels['image_id']: an int32 scalar (-1 if the source has none).
  * evaluation only, with `groundtruth_padded_size` set:
    labels['groundtruth_segment_map'], an int32 [Hg, Wg] tensor, the segment
    map at the original resolution with the same slots, padded with -1.

The decoders' output dicts use the same keys for the same fields, before
the parser assigns the slots.

Loss targets are a dict with 'classes' (int [B, T]), 'valid' (bool [B, T])
and the masks in one of two forms:

  * 'segment_map': an integer [B, H, W] tensor, per pixel the slot of its
    segment (any other value: no slot). The mask of a valid slot t of image
    b is `segment_map[b] == t`: target masks are disjoint. This is the form
    of training (`loss_targets`: one mask per valid non-crowd slot; crowd
    pixels are negatives for every mask); it holds B * H * W values whatever
    T is.
  * 'masks': a bool or float [B, T, H, W] tensor of 0/1 masks (possibly
    overlapping), the form of the reference fixtures.

Either way, the masks of invalid slots are empty. The losses never expand
all T masks at the full size: they ask `gather_masks` for the masks of the
(image, slot) pairs they need, a few at a time.
"""
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import tensorflow as tf

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import valid_region

MEAN_RGB = (123.675, 116.28, 103.53)
STDDEV_RGB = (58.395, 57.12, 57.375)

# The keys of the labels.
PIXEL_MASK = 'pixel_mask'
SEGMENT_MAP = 'segment_map'
SEGMENT_CLASSES = 'segment_classes'
SEGMENT_IS_CROWD = 'segment_is_crowd'
SEGMENT_VALID = 'segment_valid'
IMAGE_INFO = 'image_info'
IMAGE_ID = 'image_id'
GROUNDTRUTH_SEGMENT_MAP = 'groundtruth_segment_map'
# The key of the loss targets' 'masks' form (the other form: SEGMENT_MAP).
MASKS = 'masks'
# Optional loss-target key: int [B, 2], each image's region of the masks
# (padding-exact training: the losses see only that region).
VALID_SIZES = 'valid_sizes'


def normalize_image(image: tf.Tensor) -> tf.Tensor:
  """Normalizes an image with the original's pixel mean and std.

  Computed on the [H, W * 3] matrix with tiled per-channel rows: TensorFlow's
  CPU broadcast over a last axis of 3 is several times slower.

  Args:
    image: a float32 (or float64) [H, W, 3] RGB tensor on the 0-255 scale.

  Returns:
    A [H, W, 3] tensor of the image's dtype, (image - MEAN_RGB) / STDDEV_RGB,
    the constants in that dtype.
  """
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  rows = tf.reshape(image, [height, width * 3])
  mean = tf.tile(tf.constant(MEAN_RGB, image.dtype), [width])
  stddev = tf.tile(tf.constant(STDDEV_RGB, image.dtype), [width])
  return tf.reshape((rows - mean) / stddev, [height, width, 3])


def segment_map_dtype(max_segments: int) -> tf.DType:
  """The narrowest signed dtype of a segment map with slots -1..T-1.

  Args:
    max_segments: the number of slots T.

  Returns:
    tf.int8, tf.int16 or tf.int32.
  """
  for dtype in (tf.int8, tf.int16):
    if max_segments <= dtype.max:
      return dtype
  return tf.int32


def padded_before_normalization(
    params: data_cfg.DataConfig) -> Optional[List[int]]:
  """[height, width] the parser pads the image to before normalization.

  Args:
    params: the data config.

  Returns:
    For training data, the crop size of 'semantic_crop' and the canvas
    (`output_size`) of 'large_scale_jitter' (their pixels outside the image
    are `pad_value` before normalization); else None (no such padding).
  """
  augmentation_params = params.parser.augmentation
  if params.is_training and augmentation_params.type == 'semantic_crop':
    return [int(s) for s in augmentation_params.semantic_crop.crop_size]
  if params.is_training and augmentation_params.type == 'large_scale_jitter':
    return [int(s) for s in params.parser.output_size]
  return None


def normalize_canvas(images: tf.Tensor, pixel_mask: tf.Tensor,
                     padded_size: Optional[Sequence[int]] = None
                     ) -> tf.Tensor:
  """Normalizes 'uint8' canvases as the 'float32' parser output (on device).

  Args:
    images: a uint8 [..., Hc, Wc, 3] tensor, the parser's 0-255 canvases.
    pixel_mask: the matching bool [..., Hc, Wc] labels['pixel_mask'].
    padded_size: [height, width] the parser padded the images to before
      normalization (`padded_before_normalization`), or None.

  Returns:
    A float32 [..., Hc, Wc, 3] tensor: (images - MEAN_RGB) / STDDEV_RGB on
    the image pixels and on the [0, height) x [0, width) padding, 0 elsewhere
    (bit-identical to the 'float32' parser output).
  """
  normalized = ((tf.cast(images, tf.float32) - tf.constant(MEAN_RGB)) /
                tf.constant(STDDEV_RGB))
  region = pixel_mask
  if padded_size is not None:
    canvas = tf.shape(pixel_mask)[-2:]
    padded = tf.logical_and(
        tf.range(canvas[0])[:, None] < padded_size[0],
        tf.range(canvas[1])[None, :] < padded_size[1])
    region = tf.logical_or(region, padded)
  return tf.where(region[..., None], normalized, tf.zeros([], tf.float32))


def computed_sizes(labels: Mapping[str, tf.Tensor],
                   params: data_cfg.DataConfig) -> Optional[tf.Tensor]:
  """The region of each image the model computes on, with `padding_exact`.

  Args:
    labels: a batch's labels (uses 'image_info').
    params: the data config the batch was read with.

  Returns:
    None without `parser.padding_exact` (the model computes on the whole
    canvas); else an int32 [B, 2] tensor: each image's resized size
    (`image_info` row 1) rounded up to a multiple of
    `parser.size_divisibility`, the input the original gives one image.
  """
  if not params.parser.padding_exact:
    return None
  return rounded_sizes(tf.cast(tf.round(labels[IMAGE_INFO][:, 1]), tf.int32),
                       params.parser.size_divisibility)


def rounded_sizes(sizes: tf.Tensor, size_divisibility: int) -> tf.Tensor:
  """Int sizes rounded up to a multiple of `size_divisibility` (0: as is)."""
  if not size_divisibility:
    return sizes
  return ((sizes + size_divisibility - 1) // size_divisibility *
          size_divisibility)


def prepare_model_inputs(images: tf.Tensor, labels: Dict[str, tf.Tensor],
                         params: data_cfg.DataConfig
                         ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
  """The device-side end of the input pipeline, before the model and losses.

  Whatever feeds `input_pipeline.build_input` batches to a model calls it
  first: the task's train and validation steps and
  `evaluation.dataset_prediction` do.

  Args:
    images: a batch of parser images, uint8 (normalized here) or float
      (already normalized by the parser, returned unchanged).
    labels: the batch's labels.
    params: the data config the batch was read with.

  Returns:
    (images, labels): float images, normalized as the module docstring says,
    and the labels with an int32 'segment_map'.
  """
  labels = dict(labels)
  labels[SEGMENT_MAP] = tf.cast(labels[SEGMENT_MAP], tf.int32)
  if images.dtype == tf.uint8:
    images = normalize_canvas(images, labels[PIXEL_MASK],
                              padded_before_normalization(params))
  return images, labels


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
  valid = tf.logical_and(labels[SEGMENT_VALID],
                         tf.logical_not(labels[SEGMENT_IS_CROWD]))
  return {
      SEGMENT_MAP: tf.cast(labels[SEGMENT_MAP], tf.int32),
      'classes': labels[SEGMENT_CLASSES],
      'valid': valid,
  }


def mask_size(targets: Mapping[str, tf.Tensor]) -> Sequence[int]:
  """The static (H, W) of the target masks."""
  key = SEGMENT_MAP if SEGMENT_MAP in targets else MASKS
  return tuple(tf.convert_to_tensor(targets[key]).shape[-2:])


def prediction_valid_sizes(targets: Mapping[str, tf.Tensor],
                           prediction_size: Sequence[int]
                           ) -> Optional[tf.Tensor]:
  """Each image's region of the mask predictions, for padding-exact targets.

  Args:
    targets: the loss targets; with 'valid_sizes' (each image's region of
      the target masks) the losses see only each image's region.
    prediction_size: the (height, width) of the mask logits, a whole
      fraction of the targets' size (the model's output stride).

  Returns:
    None without 'valid_sizes'; else an int32 [B, 2] tensor, the regions at
    the prediction stride (`valid_region.sizes_at_stride`).

  Raises:
    ValueError: the target size is not a multiple of the prediction size.
  """
  if VALID_SIZES not in targets:
    return None
  height, width = mask_size(targets)
  if height % prediction_size[0] or width % prediction_size[1] or (
      height // prediction_size[0] != width // prediction_size[1]):
    raise ValueError(f'targets of size {(height, width)} are not the mask '
                     f'predictions\' size {tuple(prediction_size)} times one '
                     'stride')
  return valid_region.sizes_at_stride(targets[VALID_SIZES],
                                      height // prediction_size[0])


def resize_nearest_legacy(targets: Mapping[str, tf.Tensor],
                          size: Sequence[int],
                          output_valid_sizes: Optional[tf.Tensor] = None
                          ) -> Dict[str, tf.Tensor]:
  """The targets with their masks resized by PyTorch's legacy nearest rule.

  Nearest resizing picks pixels, so resizing the segment map equals resizing
  every mask it stands for.

  Args:
    targets: the targets (either form); with 'valid_sizes' (int [B, 2], each
      image's region of the masks: padding-exact targets) and
      `output_valid_sizes`, each image's region is resized to its own output
      region (`interpolation.resize_nearest_legacy_per_image`), as the image
      alone is.
    size: the output (height, width), Python ints.
    output_valid_sizes: an int [B, 2] tensor, each image's region in the
      output (with 'valid_sizes' only).

  Returns:
    The targets in the same form, their masks of size `size` (and
    'valid_sizes' replaced by `output_valid_sizes`).
  """
  key = SEGMENT_MAP if SEGMENT_MAP in targets else MASKS
  if VALID_SIZES not in targets:
    return dict(targets, **{key: interpolation.resize_nearest_legacy(
        targets[key], size)})
  return dict(targets, **{
      key: interpolation.resize_nearest_legacy_per_image(
          targets[key], targets[VALID_SIZES], output_valid_sizes, size),
      VALID_SIZES: output_valid_sizes})


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
