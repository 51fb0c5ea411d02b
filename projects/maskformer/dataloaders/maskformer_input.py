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

"""The MaskFormer parser: decoded examples to fixed-shape TPU inputs.

Device contract. Every example, training or evaluation, panoptic or semantic,
becomes `(image, labels)` with static shapes ([Hc, Wc] = `output_size`, the
canvas; T = `max_segments`):
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
    `targets.loss_targets` widen it to int32 on the device.
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

Training targets are built on the device by `targets.loss_targets`: one
mask per valid non-crowd slot (crowd pixels are negatives for every mask).
Panoptic slots follow the annotation order and keep every segment, including
those the augmentation cropped away (as the original). Semantic slots are the
classes present after augmentation, ascending, ignore removed (as the
original). An image with more than T segments fails (`segment_overflow` =
'error', naming the image id) or keeps the T largest, non-crowd first, with a
warning on stderr ('keep_largest'); the pixels of dropped segments become
void.
"""
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from official.vision.dataloaders import parser
import tensorflow as tf

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.dataloaders import augmentation
from projects.maskformer.dataloaders import decoders

MEAN_RGB = (123.675, 116.28, 103.53)
STDDEV_RGB = (58.395, 57.12, 57.375)
# The per-example [2] seed the input pipeline attaches to training examples.
AUGMENTATION_SEED = 'augmentation_seed'

PIXEL_MASK = 'pixel_mask'
SEGMENT_MAP = 'segment_map'
SEGMENT_CLASSES = 'segment_classes'
SEGMENT_IS_CROWD = 'segment_is_crowd'
SEGMENT_VALID = 'segment_valid'
IMAGE_INFO = 'image_info'
IMAGE_ID = 'image_id'
GROUNDTRUTH_SEGMENT_MAP = 'groundtruth_segment_map'

_AUGMENTATIONS = ('detr_panoptic', 'semantic_crop', 'large_scale_jitter',
                  'none')
IMAGE_DTYPES = ('float32', 'bfloat16', 'uint8')
# Ranks non-crowd segments above any crowd one in 'keep_largest'.
_NON_CROWD_BONUS = 2**40


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
    The crop size for 'semantic_crop' training data (its pixels outside the
    image are `pad_value` before normalization), else None (no such padding).
  """
  augmentation_params = params.parser.augmentation
  if params.is_training and augmentation_params.type == 'semantic_crop':
    return [int(s) for s in augmentation_params.semantic_crop.crop_size]
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


class Parser(parser.Parser):
  """Parses decoded MaskFormer examples (see the module docstring)."""

  def __init__(self,
               output_size: Sequence[int],
               label_type: str = data_cfg.PANOPTIC,
               max_segments: int = 100,
               segment_overflow: str = data_cfg.OVERFLOW_ERROR,
               augmentation_params: Optional[
                   data_cfg.Augmentation] = None,
               eval_short_edge: int = 800,
               eval_max_size: int = 1333,
               eval_padding: str = data_cfg.EVAL_PADDING_CANVAS,
               size_divisibility: int = 0,
               groundtruth_padded_size: Optional[Sequence[int]] = None,
               label_resize: str = augmentation.LABEL_RESIZE_PIL,
               dtype: str = 'float32'):
    """Initializes the parser.

    Args:
      output_size: [height, width] of the canvas.
      label_type: 'panoptic' or 'semantic' (decides which slots are kept).
      max_segments: number of segment slots T.
      segment_overflow: 'error' or 'keep_largest'.
      augmentation_params: a `configs.dataloader.Augmentation`; default: the
        COCO 'detr_panoptic' recipe.
      eval_short_edge: short edge of the evaluation resize.
      eval_max_size: maximum long edge of the evaluation resize.
      eval_padding: 'canvas' (evaluation images on the `output_size` canvas)
        or 'size_divisibility' (padded only to a multiple of
        `size_divisibility`: dynamic image shapes, as the original).
      size_divisibility: the multiple of 'size_divisibility' padding (0:
        none).
      groundtruth_padded_size: if set, evaluation examples also carry the
        original-resolution segment map padded to this [height, width].
      label_resize: segment-map resize rule, 'pil' or 'torch'.
      dtype: image dtype: 'float32' or 'bfloat16' (normalized), or 'uint8'
        (normalized on the device by `prepare_model_inputs`).

    Raises:
      ValueError: on an unknown option.
    """
    self._output_size = [int(s) for s in output_size]
    self._label_type = label_type
    self._max_segments = max_segments
    self._segment_overflow = segment_overflow
    self._augmentation = (augmentation_params or
                          data_cfg.Augmentation())
    self._eval_short_edge = eval_short_edge
    self._eval_max_size = eval_max_size
    self._eval_padding = eval_padding
    self._size_divisibility = size_divisibility
    self._groundtruth_padded_size = (list(groundtruth_padded_size)
                                     if groundtruth_padded_size else None)
    self._label_resize = label_resize
    self._dtype = tf.dtypes.as_dtype(dtype)
    if self._dtype.name not in IMAGE_DTYPES:
      raise ValueError(f'dtype must be one of {IMAGE_DTYPES}, got '
                       f'{self._dtype.name!r}')
    self._segment_dtype = segment_map_dtype(max_segments)
    self._check_options()

  def _check_options(self):
    if self._label_type not in (data_cfg.PANOPTIC,
                                data_cfg.SEMANTIC):
      raise ValueError(f"label_type must be 'panoptic' or 'semantic', got "
                       f'{self._label_type!r}')
    if self._segment_overflow not in (data_cfg.OVERFLOW_ERROR,
                                      data_cfg.OVERFLOW_KEEP_LARGEST):
      raise ValueError("segment_overflow must be 'error' or 'keep_largest', "
                       f'got {self._segment_overflow!r}')
    if self._label_resize not in augmentation.LABEL_RESIZE_RULES:
      raise ValueError(f'label_resize must be one of '
                       f'{augmentation.LABEL_RESIZE_RULES}, got '
                       f'{self._label_resize!r}')
    pad_value = self._augmentation.semantic_crop.pad_value
    if (self._dtype == tf.uint8 and self._augmentation.type == 'semantic_crop'
        and not (pad_value == int(pad_value) and 0 <= pad_value <= 255)):
      raise ValueError(f"dtype 'uint8' needs an integer pad_value in "
                       f'[0, 255], got {pad_value}')
    if self._max_segments < 1:
      raise ValueError(f'max_segments must be positive, got '
                       f'{self._max_segments}')
    if self._eval_padding not in (
        data_cfg.EVAL_PADDING_CANVAS,
        data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY):
      raise ValueError("eval_padding must be 'canvas' or 'size_divisibility', "
                       f'got {self._eval_padding!r}')
    if self._size_divisibility < 0:
      raise ValueError('size_divisibility must be >= 0, got '
                       f'{self._size_divisibility}')
    kind = self._augmentation.type
    if kind not in _AUGMENTATIONS:
      raise ValueError(f'augmentation type must be one of {_AUGMENTATIONS}, '
                       f'got {kind!r}')

  def _check_canvas_holds_augmentation(self):
    kind = self._augmentation.type
    if kind == 'detr_panoptic':
      needed = [self._augmentation.detr_panoptic.max_size] * 2
    elif kind == 'semantic_crop':
      needed = list(self._augmentation.semantic_crop.crop_size)
    else:
      needed = [1, 1]
    if any(o < n for o, n in zip(self._output_size, needed)):
      raise ValueError(
          f'output_size {self._output_size} cannot hold the {kind!r} '
          f'augmentation output (up to {needed})')

  @property
  def pads_evaluation_to_canvas(self) -> bool:
    """Whether evaluation images have the static canvas shape."""
    return self._eval_padding == data_cfg.EVAL_PADDING_CANVAS

  def _eval_resize(self, sample: augmentation.Sample) -> augmentation.Sample:
    size = augmentation.shortest_edge_size(
        augmentation.image_size(sample), self._eval_short_edge,
        self._eval_max_size)
    if self.pads_evaluation_to_canvas:
      size = augmentation.fit_size(size, self._output_size)
    return augmentation.resize(sample, size, self._label_resize)

  def _eval_canvas(self, content_size: tf.Tensor):
    """The padded size of an evaluation image of `content_size`."""
    if self.pads_evaluation_to_canvas:
      return self._output_size
    if not self._size_divisibility:
      return content_size
    divisor = self._size_divisibility
    return (content_size + divisor - 1) // divisor * divisor

  def _parse_train_data(self, data: dict):
    """Augments a decoded example into fixed-shape training inputs.

    Args:
      data: a decoded dict (`decoders`) with the per-example
        'augmentation_seed' (an int [2] tensor).

    Returns:
      (image, labels) as described in the module docstring.

    Raises:
      ValueError: if the canvas is too small for the augmentation's output.
    """
    self._check_canvas_holds_augmentation()
    seed = data[AUGMENTATION_SEED]
    sample = augmentation.new_sample(data[decoders.IMAGE],
                                     data[decoders.SEGMENT_MAP])
    original_size = augmentation.image_size(sample)
    kind = self._augmentation.type
    if kind == 'detr_panoptic':
      sample = augmentation.detr_panoptic(sample,
                                          self._augmentation.detr_panoptic,
                                          seed, self._label_resize)
    elif kind == 'semantic_crop':
      sample = augmentation.semantic_crop(sample,
                                          self._augmentation.semantic_crop,
                                          seed, self._label_resize)
    elif kind == 'large_scale_jitter':
      sample = augmentation.large_scale_jitter(
          sample, self._augmentation.large_scale_jitter, self._output_size,
          seed, self._label_resize)
    else:
      sample = self._eval_resize(sample)
    content_size = augmentation.image_size(sample)
    if kind == 'semantic_crop':
      params = self._augmentation.semantic_crop
      sample = augmentation.pad(sample, params.crop_size, params.pad_value)
    return self._finalize(sample, content_size, original_size, data,
                          counted_map=sample.segment_map)

  def _parse_eval_data(self, data: dict):
    """Resizes a decoded example for evaluation (no randomness).

    Args:
      data: a decoded dict (`decoders`).

    Returns:
      (image, labels) as described in the module docstring.
    """
    original_map = data[decoders.SEGMENT_MAP]
    sample = augmentation.new_sample(data[decoders.IMAGE], original_map)
    original_size = augmentation.image_size(sample)
    sample = self._eval_resize(sample)
    content_size = augmentation.image_size(sample)
    return self._finalize(sample, content_size, original_size, data,
                          counted_map=original_map,
                          groundtruth_map=original_map,
                          canvas=self._eval_canvas(content_size))

  def _select_segments(self, counted_map: tf.Tensor, data: dict):
    """Chooses the segments that get a slot.

    Args:
      counted_map: the segment map whose pixel counts rank the segments.
      data: the decoded dict.

    Returns:
      (new_index, kept): an int32 [N] tensor, the slot of every decoded
      segment (-1 if it gets none), and an int32 [K] tensor, the decoded
      index of every kept segment in slot order (K <= max_segments).
    """
    is_crowd = data[decoders.SEGMENT_IS_CROWD]
    num_segments = tf.size(is_crowd)
    semantic = self._label_type == data_cfg.SEMANTIC
    keep_largest = (
        self._segment_overflow == data_cfg.OVERFLOW_KEEP_LARGEST)
    if semantic or keep_largest:
      counts = tf.math.bincount(
          tf.reshape(counted_map, [-1]) + 1, minlength=num_segments + 1,
          maxlength=num_segments + 1, dtype=tf.int64)[1:]
    if semantic:
      candidate = counts > 0
    else:
      candidate = tf.ones([num_segments], tf.bool)
    num_candidates = tf.reduce_sum(tf.cast(candidate, tf.int32))
    overflow = num_candidates > self._max_segments
    image_id = data[decoders.IMAGE_ID]
    if not keep_largest:
      check = tf.debugging.Assert(tf.logical_not(overflow), [
          'image id', image_id, 'has', num_candidates,
          f'segments, more than max_segments={self._max_segments}; raise '
          "max_segments or set segment_overflow='keep_largest'"
      ])
      with tf.control_dependencies([check]):
        keep = tf.identity(candidate)
    else:
      priority = tf.where(
          candidate,
          counts + tf.where(is_crowd, tf.constant(0, tf.int64),
                            _NON_CROWD_BONUS), -1)
      padded = tf.concat(
          [priority, tf.fill([self._max_segments], tf.constant(-1, tf.int64))],
          axis=0)
      top = tf.math.top_k(padded, k=self._max_segments).indices
      chosen = tf.boolean_mask(top, tf.gather(padded, top) >= 0)
      keep = tf.scatter_nd(chosen[:, None], tf.ones_like(chosen, tf.bool),
                           [num_segments])

      def warn():
        tf.print('WARNING: image id', image_id, 'has', num_candidates,
                 f'segments, more than max_segments={self._max_segments}; '
                 'keeping the largest (non-crowd first), the others become '
                 'void')
        return tf.constant(True)

      with tf.control_dependencies(
          [tf.cond(overflow, warn, lambda: tf.constant(False))]):
        keep = tf.identity(keep)
    new_index = tf.where(keep, tf.cumsum(tf.cast(keep, tf.int32)) - 1, -1)
    kept = tf.cast(tf.where(keep)[:, 0], tf.int32)
    return new_index, kept

  def _remap(self, segment_map: tf.Tensor, new_index: tf.Tensor) -> tf.Tensor:
    """Decoded segment indices to slots (-1 stays -1).

    Skips the per-pixel lookup when every segment keeps its index (panoptic
    data without overflow).
    """
    num_segments = tf.size(new_index)

    def lookup():
      table = tf.concat([new_index, [-1]], axis=0)
      return tf.gather(table,
                       tf.where(segment_map >= 0, segment_map, num_segments))

    identity = tf.reduce_all(
        tf.equal(new_index, tf.range(num_segments, dtype=tf.int32)))
    return tf.cond(identity, lambda: segment_map, lookup)

  def _pad_slots(self, values: tf.Tensor) -> tf.Tensor:
    padded = tf.pad(values, [[0, self._max_segments - tf.size(values)]])
    padded.set_shape([self._max_segments])
    return padded

  def _finalize(self, sample: augmentation.Sample, content_size: tf.Tensor,
                original_size: tf.Tensor, data: dict, counted_map: tf.Tensor,
                groundtruth_map: Optional[tf.Tensor] = None,
                canvas=None):
    """Normalizes (float dtypes), pads onto the canvas, builds the labels.

    `canvas` is the padded [height, width]: Python ints (static) or an int32
    [2] tensor (dynamic); default `output_size`.
    """
    canvas = self._output_size if canvas is None else canvas
    fits = tf.debugging.assert_less_equal(
        augmentation.image_size(sample), tf.cast(canvas, tf.int32),
        message=f'augmented image larger than output_size '
        f'{self._output_size}')
    with tf.control_dependencies([fits]):
      if self._dtype == tf.uint8:
        # Integers in [0, 255]: the cast is exact.
        image = augmentation.pad_image(tf.cast(sample.image, tf.uint8),
                                       canvas, 0)
      else:
        image = augmentation.pad_image(
            tf.cast(normalize_image(sample.image), self._dtype), canvas, 0.0)
    new_index, kept = self._select_segments(counted_map, data)
    segment_map = augmentation.pad_segment_map(
        tf.cast(self._remap(sample.segment_map, new_index),
                self._segment_dtype), canvas)
    # Padding ones is much faster on CPU than a broadcast comparison.
    pixel_mask = tf.pad(tf.ones(content_size, tf.bool),
                        [[0, canvas[0] - content_size[0]],
                         [0, canvas[1] - content_size[1]]])
    if isinstance(canvas, list):
      pixel_mask.set_shape(canvas)
    image_info = tf.stack([
        tf.cast(original_size, tf.float32),
        tf.cast(content_size, tf.float32), sample.scale, sample.offset
    ])
    labels = {
        PIXEL_MASK: pixel_mask,
        SEGMENT_MAP: segment_map,
        SEGMENT_CLASSES: self._pad_slots(
            tf.gather(data[decoders.SEGMENT_CLASSES], kept)),
        SEGMENT_IS_CROWD: self._pad_slots(
            tf.gather(data[decoders.SEGMENT_IS_CROWD], kept)),
        SEGMENT_VALID: tf.range(self._max_segments) < tf.size(kept),
        IMAGE_INFO: image_info,
        IMAGE_ID: tf.cast(data[decoders.IMAGE_ID], tf.int32),
    }
    if groundtruth_map is not None and self._groundtruth_padded_size:
      fits = tf.debugging.assert_less_equal(
          original_size, tf.constant(self._groundtruth_padded_size),
          message=f'original image larger than groundtruth_padded_size '
          f'{self._groundtruth_padded_size}')
      with tf.control_dependencies([fits]):
        groundtruth_map = augmentation.pad_segment_map(
            groundtruth_map, self._groundtruth_padded_size)
      labels[GROUNDTRUTH_SEGMENT_MAP] = self._remap(groundtruth_map, new_index)
    return image, labels
