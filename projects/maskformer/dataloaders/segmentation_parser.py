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

Every example, training or evaluation, panoptic or semantic, becomes
`(image, labels)` with static shapes, as `maskformer_input` describes (the
labels, and the image by the parser's `dtype`).

Panoptic slots follow the annotation order and keep every segment, including
those the augmentation cropped away (as the original). Semantic slots are the
classes present after augmentation, ascending, ignore removed (as the
original). An image with more than T segments fails (`segment_overflow` =
'error', naming the image id) or keeps the T largest, non-crowd first, with a
warning on stderr ('keep_largest'); the pixels of dropped segments become
void.
"""
from typing import Optional
from typing import Sequence

from official.vision.dataloaders import parser
import tensorflow as tf

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.dataloaders import augmentation
from projects.maskformer.dataloaders import decoders
from projects.maskformer.dataloaders import maskformer_input

# The per-example [2] seed the input pipeline attaches to training examples.
AUGMENTATION_SEED = 'augmentation_seed'

_AUGMENTATIONS = ('detr_panoptic', 'semantic_crop', 'large_scale_jitter',
                  'none')
IMAGE_DTYPES = ('float32', 'bfloat16', 'uint8')
# Ranks non-crowd segments above any crowd one in 'keep_largest'.
_NON_CROWD_BONUS = 2**40


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
        (normalized on the device by
        `maskformer_input.prepare_model_inputs`).

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
    self._segment_dtype = maskformer_input.segment_map_dtype(max_segments)
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
    pad_value = self._pad_value()
    if (self._dtype == tf.uint8 and pad_value is not None
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

  def _pad_value(self) -> Optional[float]:
    """The 0-255 image padding value of the augmentation, if it pads."""
    if self._augmentation.type in ('semantic_crop', 'large_scale_jitter'):
      return self._augmentation.get().pad_value
    return None

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
                                     data[maskformer_input.SEGMENT_MAP])
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
      sample = augmentation.pad(sample, self._augmentation.semantic_crop
                                .crop_size, self._pad_value())
    elif kind == 'large_scale_jitter':
      sample = augmentation.pad(sample, self._output_size, self._pad_value())
    return self._finalize(sample, content_size, original_size, data,
                          counted_map=sample.segment_map)

  def _parse_eval_data(self, data: dict):
    """Resizes a decoded example for evaluation (no randomness).

    Args:
      data: a decoded dict (`decoders`).

    Returns:
      (image, labels) as described in the module docstring.
    """
    original_map = data[maskformer_input.SEGMENT_MAP]
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
    is_crowd = data[maskformer_input.SEGMENT_IS_CROWD]
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
    image_id = data[maskformer_input.IMAGE_ID]
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
            tf.cast(maskformer_input.normalize_image(sample.image),
                    self._dtype), canvas, 0.0)
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
        maskformer_input.PIXEL_MASK: pixel_mask,
        maskformer_input.SEGMENT_MAP: segment_map,
        maskformer_input.SEGMENT_CLASSES: self._pad_slots(
            tf.gather(data[maskformer_input.SEGMENT_CLASSES], kept)),
        maskformer_input.SEGMENT_IS_CROWD: self._pad_slots(
            tf.gather(data[maskformer_input.SEGMENT_IS_CROWD], kept)),
        maskformer_input.SEGMENT_VALID:
            tf.range(self._max_segments) < tf.size(kept),
        maskformer_input.IMAGE_INFO: image_info,
        maskformer_input.IMAGE_ID:
            tf.cast(data[maskformer_input.IMAGE_ID], tf.int32),
    }
    if groundtruth_map is not None and self._groundtruth_padded_size:
      fits = tf.debugging.assert_less_equal(
          original_size, tf.constant(self._groundtruth_padded_size),
          message=f'original image larger than groundtruth_padded_size '
          f'{self._groundtruth_padded_size}')
      with tf.control_dependencies([fits]):
        groundtruth_map = augmentation.pad_segment_map(
            groundtruth_map, self._groundtruth_padded_size)
      labels[maskformer_input.GROUNDTRUTH_SEGMENT_MAP] = self._remap(
          groundtruth_map, new_index)
    return image, labels
