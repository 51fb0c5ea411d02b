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

"""Joint image / segment-map augmentation, as the original's detectron2 mappers.

Every geometric op moves the image and the segment map together. Randomness is
stateless: each op takes a [2] seed, so a sample's augmentation is a function
of its seed alone (see `input_pipeline`).

Reference behaviour reproduced here:
  * resize sizes follow detectron2's ResizeShortestEdge: scale = s / min(h, w),
    rescaled to fit `max_size` if the long side exceeds it, then
    `int(x + 0.5)`;
  * the image is resized like PIL's bilinear filter on uint8 (antialiased when
    shrinking) and rounded back to integers; it matches PIL to +-1 level;
  * the segment map is resized with nearest neighbour by either of the
    original's two rules, bit-exactly: 'pil' (PIL NEAREST, which the original
    applies to COCO panoptic PNGs; PIL accumulates the source position in
    float64 steps, `interpolation.pil_nearest_indices`) or 'torch'
    (`F.interpolate(mode='nearest')`, which the original applies to ADE20K
    labels read as float64:
    src = floor(dst * float32(in / out)),
    `interpolation.legacy_nearest_indices`).
"""
from typing import NamedTuple
from typing import Sequence

import tensorflow as tf

from projects.maskformer.ops import interpolation

LABEL_RESIZE_PIL = 'pil'
LABEL_RESIZE_TORCH = 'torch'
LABEL_RESIZE_RULES = (LABEL_RESIZE_PIL, LABEL_RESIZE_TORCH)


class Sample(NamedTuple):
  """An image with its segment map, and where its pixels came from.

  Attributes:
    image: a float32 [H, W, 3] RGB tensor with integer values in [0, 255].
    segment_map: an int32 [H, W] tensor of segment indices, -1 for void.
    scale: a float32 [2] tensor (y, x).
    offset: a float32 [2] tensor (y, x); an original pixel coordinate p lands
      at p * scale - offset (flips are not recorded).
  """
  image: tf.Tensor
  segment_map: tf.Tensor
  scale: tf.Tensor
  offset: tf.Tensor


def new_sample(image: tf.Tensor, segment_map: tf.Tensor) -> Sample:
  """Starts a sample from a decoded image and segment map.

  Args:
    image: a uint8 [H, W, 3] tensor.
    segment_map: an int32 [H, W] tensor.

  Returns:
    The `Sample`, with identity geometry.
  """
  return Sample(tf.cast(image, tf.float32), segment_map,
                tf.ones([2], tf.float32), tf.zeros([2], tf.float32))


def image_size(sample: Sample) -> tf.Tensor:
  """The int32 [2] (height, width) of the sample."""
  return tf.shape(sample.segment_map)[:2]


def shortest_edge_size(size: tf.Tensor, short_edge, max_size=None) -> tf.Tensor:
  """detectron2's ResizeShortestEdge output size.

  Args:
    size: an int32 [2] tensor (height, width).
    short_edge: the target short edge (scalar, Python or tensor).
    max_size: the maximum long edge, None for no maximum.

  Returns:
    An int32 [2] tensor (new height, new width), computed in float64 as the
    original's Python floats.
  """
  size = tf.cast(size, tf.float64)
  short_edge = tf.cast(short_edge, tf.float64)
  new = size * (short_edge / tf.reduce_min(size))
  if max_size is not None:
    long_side = tf.reduce_max(new)
    new = tf.where(long_side > max_size,
                   new * (tf.cast(max_size, tf.float64) / long_side), new)
  return tf.cast(tf.floor(new + 0.5), tf.int32)


def fit_size(size: tf.Tensor, bound: Sequence[int]) -> tf.Tensor:
  """Scales a size down, keeping its aspect ratio, until it fits `bound`.

  Args:
    size: an int32 [2] tensor (height, width).
    bound: [max height, max width].

  Returns:
    An int32 [2] tensor: `size` itself if it fits, else the largest size of
    the same aspect ratio (`int(x + 0.5)` rounded, clipped) that fits.
  """
  size_f = tf.cast(size, tf.float64)
  factor = tf.reduce_min(tf.constant(bound, tf.float64) / size_f)
  fitted = tf.minimum(tf.cast(tf.floor(size_f * factor + 0.5), tf.int32),
                      tf.constant(bound, tf.int32))
  return tf.where(factor < 1.0, tf.maximum(fitted, 1), size)


def _nearest_indices(in_size: tf.Tensor, out_size: tf.Tensor,
                     rule: str) -> tf.Tensor:
  """Source index of every output index along one axis (int32 [out_size])."""
  if rule == LABEL_RESIZE_TORCH:
    return interpolation.legacy_nearest_indices(in_size, out_size)
  if rule != LABEL_RESIZE_PIL:
    raise ValueError(f'label resize rule must be one of {LABEL_RESIZE_RULES}, '
                     f'got {rule!r}')
  return interpolation.pil_nearest_indices(in_size, out_size)


def resize_segment_map(segment_map: tf.Tensor, size: tf.Tensor, rule: str,
                       window=None) -> tf.Tensor:
  """Nearest-neighbour resize of an [H, W] map by the original's rule.

  Args:
    segment_map: a [H, W] tensor.
    size: an int32 [2] tensor, the new (height, width).
    rule: 'pil' or 'torch' (see the module docstring).
    window: None, or (top_left, crop_size), int32 [2] tensors: only that
      window of the resized map is computed (a crop after the resize).

  Returns:
    The [height, width] resized map (or its [crop height, crop width]
    window), same dtype.
  """
  in_size = tf.shape(segment_map)
  rows = _nearest_indices(in_size[0], size[0], rule)
  cols = _nearest_indices(in_size[1], size[1], rule)
  if window is not None:
    top_left, crop_size = window
    rows = rows[top_left[0]:top_left[0] + crop_size[0]]
    cols = cols[top_left[1]:top_left[1] + crop_size[1]]
  # The two gathers commute. The column gather (per element) costs much more
  # than the row gather (whole rows), so it runs on the shorter of the input
  # and output heights: about twice as fast when upsampling.
  return tf.cond(
      tf.size(rows) > in_size[0],
      lambda: tf.gather(tf.gather(segment_map, cols, axis=1), rows, axis=0),
      lambda: tf.gather(tf.gather(segment_map, rows, axis=0), cols, axis=1))


def _bilinear(image: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
  """`resize_image` before its rounding."""
  shrinks = tf.reduce_any(size < tf.shape(image)[:2])
  return tf.cond(
      shrinks,
      lambda: tf.image.resize(image, size, 'bilinear', antialias=True),
      lambda: tf.image.resize(image, size, 'bilinear'))


def resize_image(image: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
  """Bilinear resize like PIL on uint8: antialiased when shrinking, rounded.

  Args:
    image: a float32 [H, W, 3] tensor with values in [0, 255].
    size: an int32 [2] tensor, the new (height, width).

  Returns:
    A float32 [height, width, 3] tensor of integers in [0, 255] (both filters
    have non-negative weights summing to 1, so no clipping is needed).
  """
  return tf.round(_bilinear(image, size))


def resize(sample: Sample, size: tf.Tensor, label_resize: str) -> Sample:
  """Resizes image and segment map to `size` (int32 [2])."""
  factor = tf.cast(size, tf.float32) / tf.cast(image_size(sample), tf.float32)
  return Sample(resize_image(sample.image, size),
                resize_segment_map(sample.segment_map, size, label_resize),
                sample.scale * factor, sample.offset * factor)


def flip(sample: Sample) -> Sample:
  """Flips image and segment map horizontally."""
  return sample._replace(image=tf.reverse(sample.image, axis=[1]),
                         segment_map=tf.reverse(sample.segment_map, axis=[1]))


def _coin(seed: tf.Tensor, prob: float) -> tf.Tensor:
  return tf.random.stateless_uniform([], seed) < prob


def _uniform_int(seed: tf.Tensor, low, high) -> tf.Tensor:
  """A random int32 in [low, high], both ends included."""
  return tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1,
                                     dtype=tf.int32)


def random_choice(values: Sequence[int], seed: tf.Tensor) -> tf.Tensor:
  """One of `values`, uniformly (int32 scalar)."""
  index = _uniform_int(seed, 0, len(values) - 1)
  return tf.gather(tf.constant(values, tf.int32), index)


def random_flip(sample: Sample, prob: float, seed: tf.Tensor) -> Sample:
  """Flips horizontally with probability `prob`."""
  return tf.cond(_coin(seed, prob), lambda: flip(sample), lambda: sample)


def crop(sample: Sample, top_left: tf.Tensor, size: tf.Tensor) -> Sample:
  """Crops image and segment map (int32 [2] top-left corner and size)."""
  end = top_left + size
  return Sample(sample.image[top_left[0]:end[0], top_left[1]:end[1]],
                sample.segment_map[top_left[0]:end[0], top_left[1]:end[1]],
                sample.scale,
                sample.offset + tf.cast(top_left, tf.float32))


def random_top_left(size: tf.Tensor, crop_size: tf.Tensor,
                    seed: tf.Tensor) -> tf.Tensor:
  """A uniform top-left corner (int32 [2]) of a `crop_size` crop of `size`."""
  seeds = tf.random.experimental.stateless_split(seed, 2)
  room = size - crop_size
  return tf.stack([_uniform_int(seeds[0], 0, room[0]),
                   _uniform_int(seeds[1], 0, room[1])])


def random_crop(sample: Sample, size: tf.Tensor, seed: tf.Tensor) -> Sample:
  """Crops `size` (int32 [2], at most the sample's size) at a uniform place."""
  return crop(sample, random_top_left(image_size(sample), size, seed), size)


def resize_and_crop(sample: Sample, size: tf.Tensor, top_left: tf.Tensor,
                    crop_size: tf.Tensor, label_resize: str) -> Sample:
  """`crop(resize(sample, size, label_resize), top_left, crop_size)`, cheaper.

  The same result: the segment map is resized for the crop window only, and
  the image is rounded after the crop (rounding is per pixel).

  Args:
    sample: the sample.
    size: an int32 [2] tensor, the size after the resize.
    top_left: an int32 [2] tensor, the crop's corner in the resized sample.
    crop_size: an int32 [2] tensor, the crop's size (fits `size`).
    label_resize: segment-map resize rule.

  Returns:
    The resized and cropped sample.
  """
  factor = tf.cast(size, tf.float32) / tf.cast(image_size(sample), tf.float32)
  end = top_left + crop_size
  image = _bilinear(sample.image, size)[top_left[0]:end[0],
                                        top_left[1]:end[1]]
  return Sample(tf.round(image),
                resize_segment_map(sample.segment_map, size, label_resize,
                                   window=(top_left, crop_size)),
                sample.scale * factor,
                sample.offset * factor + tf.cast(top_left, tf.float32))


def resize_and_random_crop(sample: Sample, size: tf.Tensor,
                           crop_size: tf.Tensor, seed: tf.Tensor,
                           label_resize: str) -> Sample:
  """`random_crop(resize(sample, size, ...), crop_size, seed)`, cheaper."""
  return resize_and_crop(sample, size,
                         random_top_left(size, crop_size, seed), crop_size,
                         label_resize)


def pad_segment_map(segment_map: tf.Tensor, size) -> tf.Tensor:
  """Pads an [H, W] segment map bottom/right with -1 to `size`.

  Args:
    segment_map: an integer [H, W] tensor, at most `size`.
    size: [height, width]: Python ints (the result gets that static shape)
      or an int32 [2] tensor.

  Returns:
    The padded [height, width] map.
  """
  room = tf.cast(size, tf.int32) - tf.shape(segment_map)[:2]
  padded = tf.pad(segment_map, [[0, room[0]], [0, room[1]]],
                  constant_values=-1)
  if not tf.is_tensor(size):
    padded.set_shape(list(size))
  return padded


def pad_image(image: tf.Tensor, size, value: float) -> tf.Tensor:
  """Pads an [H, W, 3] image bottom/right with `value` to the static `size`.

  The image is padded as an [H, W * 3] matrix: TensorFlow's CPU pad of a
  3-channel image is several times slower.

  Args:
    image: a [H, W, 3] tensor, at most `size`.
    size: [height, width] after padding: Python ints or an int32 [2] tensor.
    value: value of the padded pixels.

  Returns:
    The [height, width, 3] padded image.
  """
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  padded = tf.pad(tf.reshape(image, [height, width * 3]),
                  [[0, size[0] - height], [0, (size[1] - width) * 3]],
                  constant_values=value)
  return tf.reshape(padded, [size[0], size[1], 3])


def pad(sample: Sample, size: Sequence[int], image_value: float) -> Sample:
  """Pads bottom/right to `size`: the image with `image_value`, the map with -1.

  Args:
    sample: the sample; it must fit in `size`.
    size: [height, width] after padding.
    image_value: value of the padded image pixels.

  Returns:
    The padded sample, of static shape [height, width(, 3)].
  """
  return sample._replace(
      image=pad_image(sample.image, size, image_value),
      segment_map=pad_segment_map(sample.segment_map, size))


def _truncate_to_uint8(image: tf.Tensor) -> tf.Tensor:
  """numpy's clip to [0, 255] then astype(uint8), kept as float32."""
  return tf.floor(tf.clip_by_value(image, 0.0, 255.0))


def _to_hsv8(image: tf.Tensor):
  """OpenCV's 8-bit HSV of an RGB image: H in [0, 180), S and V in [0, 255]."""
  hsv = tf.image.rgb_to_hsv(image / 255.0)
  hue = tf.math.floormod(tf.round(hsv[..., 0] * 180.0), 180.0)
  return hue, tf.round(hsv[..., 1] * 255.0), hsv[..., 2] * 255.0


def _from_hsv8(hue: tf.Tensor, saturation: tf.Tensor,
               value: tf.Tensor) -> tf.Tensor:
  hsv = tf.stack([hue / 180.0, saturation / 255.0, value / 255.0], axis=-1)
  return tf.round(tf.image.hsv_to_rgb(hsv) * 255.0)


def adjust_saturation_ssd(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
  """ColorAugSSD's saturation step: 8-bit S channel times `factor`, truncated.

  Args:
    image: a float32 [H, W, 3] RGB tensor of integers in [0, 255].
    factor: a float32 scalar.

  Returns:
    The adjusted image, rounded to integers.
  """
  hue, saturation, value = _to_hsv8(image)
  return _from_hsv8(hue, _truncate_to_uint8(saturation * factor), value)


def adjust_hue_ssd(image: tf.Tensor, delta: tf.Tensor) -> tf.Tensor:
  """ColorAugSSD's hue step: OpenCV 8-bit hue (0..179) plus `delta`, mod 180.

  Args:
    image: a float32 [H, W, 3] RGB tensor of integers in [0, 255].
    delta: a float32 scalar, in OpenCV hue units (2 degrees).

  Returns:
    The adjusted image, rounded to integers.
  """
  hue, saturation, value = _to_hsv8(image)
  return _from_hsv8(tf.math.floormod(hue + delta, 180.0), saturation, value)


def color_jitter_ssd(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """The original's ColorAugSSD photometric distortion.

  Brightness +-32 (p 0.5); then, in either order with p 0.5, contrast
  [0.5, 1.5] or saturation [0.5, 1.5] and hue +-18 (OpenCV units of 2
  degrees), each applied with p 0.5. Values are truncated to integers after
  each step as the original's uint8 arithmetic. The HSV steps match OpenCV's
  8-bit conversions within 1 level on 99% of the pixels (up to 8 levels where
  the hue is ill-conditioned, at low saturation).

  Args:
    image: a float32 [H, W, 3] RGB tensor of integers in [0, 255].
    seed: an int [2] seed.

  Returns:
    The jittered image, same shape and dtype.
  """
  seeds = tf.random.experimental.stateless_split(seed, 9)

  def maybe(coin_seed, fn, image):
    return tf.cond(_coin(coin_seed, 0.5), lambda: fn(image), lambda: image)

  def brightness(x):
    delta = tf.random.stateless_uniform([], seeds[1], -32.0, 32.0)
    return _truncate_to_uint8(x + delta)

  def contrast(x):
    alpha = tf.random.stateless_uniform([], seeds[3], 0.5, 1.5)
    return _truncate_to_uint8(x * alpha)

  def saturation(x):
    return adjust_saturation_ssd(
        x, tf.random.stateless_uniform([], seeds[5], 0.5, 1.5))

  def hue(x):
    delta = tf.cast(_uniform_int(seeds[7], -18, 18), tf.float32)
    return adjust_hue_ssd(x, delta)

  image = maybe(seeds[0], brightness, image)

  def contrast_first():
    x = maybe(seeds[2], contrast, image)
    x = maybe(seeds[4], saturation, x)
    return maybe(seeds[6], hue, x)

  def contrast_last():
    x = maybe(seeds[4], saturation, image)
    x = maybe(seeds[6], hue, x)
    return maybe(seeds[2], contrast, x)

  return tf.cond(_coin(seeds[8], 0.5), contrast_first, contrast_last)


def detr_panoptic(sample: Sample, params, seed: tf.Tensor,
                  label_resize: str) -> Sample:
  """The original COCO panoptic recipe (see `DetrPanopticAugmentation`).

  Args:
    sample: the decoded sample.
    params: a `configs.dataloader.DetrPanopticAugmentation`.
    seed: an int [2] seed.
    label_resize: segment-map resize rule.

  Returns:
    The augmented sample, at most max_size x max_size.
  """
  seeds = tf.random.experimental.stateless_split(seed, 7)
  sample = random_flip(sample, params.flip_prob, seeds[0])
  low, high = params.crop_size_range

  def resize_and_crop():
    size = shortest_edge_size(image_size(sample),
                              random_choice(params.crop_short_edges, seeds[2]))
    crop_size = tf.stack([
        _uniform_int(seeds[3], tf.minimum(size[0], low),
                     tf.minimum(size[0], high)),
        _uniform_int(seeds[4], tf.minimum(size[1], low),
                     tf.minimum(size[1], high)),
    ])
    return resize_and_random_crop(sample, size, crop_size, seeds[5],
                                  label_resize)

  sample = tf.cond(_coin(seeds[1], params.crop_prob), resize_and_crop,
                   lambda: sample)
  size = shortest_edge_size(image_size(sample),
                            random_choice(params.short_edges, seeds[6]),
                            params.max_size)
  return resize(sample, size, label_resize)


def semantic_crop(sample: Sample, params, seed: tf.Tensor,
                  label_resize: str) -> Sample:
  """The original ADE20K recipe up to (not including) its padding.

  Args:
    sample: the decoded sample.
    params: a `configs.dataloader.SemanticCropAugmentation`.
    seed: an int [2] seed.
    label_resize: segment-map resize rule.

  Returns:
    The augmented sample, at most crop_size.
  """
  seeds = tf.random.experimental.stateless_split(seed, 4)
  size = shortest_edge_size(image_size(sample),
                            random_choice(params.short_edges, seeds[0]),
                            params.max_size)
  sample = resize_and_random_crop(sample, size,
                                  tf.minimum(size, params.crop_size),
                                  seeds[1], label_resize)
  if params.color_jitter:
    sample = sample._replace(image=color_jitter_ssd(sample.image, seeds[2]))
  return random_flip(sample, params.flip_prob, seeds[3])


def large_scale_jitter(sample: Sample, params, output_size: Sequence[int],
                       seed: tf.Tensor, label_resize: str) -> Sample:
  """Large-scale jitter: random rescale around the canvas, random crop to it.

  Args:
    sample: the decoded sample.
    params: a `configs.dataloader.LargeScaleJitter`.
    output_size: [height, width] of the canvas.
    seed: an int [2] seed.
    label_resize: segment-map resize rule.

  Returns:
    The augmented sample, at most `output_size`.
  """
  seeds = tf.random.experimental.stateless_split(seed, 3)
  sample = random_flip(sample, params.flip_prob, seeds[0])
  factor = tf.random.stateless_uniform([], seeds[1], params.scale_min,
                                       params.scale_max, dtype=tf.float64)
  size_f = tf.cast(image_size(sample), tf.float64)
  scale = tf.reduce_min(tf.constant(output_size, tf.float64) * factor / size_f)
  size = tf.maximum(tf.cast(tf.floor(size_f * scale + 0.5), tf.int32), 1)
  return resize_and_random_crop(sample, size, tf.minimum(size, output_size),
                                seeds[2], label_resize)
