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

"""Model Garden decoders of MaskFormer data: TFRecords and TFDS datasets.

Every decoder returns the same dict, whatever the source:
  * 'image': a uint8 [H, W, 3] RGB tensor;
  * 'segment_map': an int32 [H, W] tensor, per pixel the index of its segment
    in the segment lists below, -1 for void / ignore;
  * 'segment_classes': an int32 [N] tensor, contiguous class per segment;
  * 'segment_is_crowd': a bool [N] tensor, crowd flag per segment;
  * 'image_id': an int64 scalar (-1 where the source has none).
Panoptic sources list their segments in annotation order. Semantic sources list
one segment per class (N = num_classes, segment c = class c); the parser later
keeps the classes present after augmentation.
"""
from official.vision.dataloaders import decoder as decoder_lib
import tensorflow as tf

from projects.maskformer.dataloaders import example_schema
from projects.maskformer.dataloaders import maskformer_input

# The key of the decoded image; the others are the labels' keys
# (`maskformer_input`).
IMAGE = 'image'

# Larger than any panoptic id (ids are < 256^3).
_NO_ID = tf.int32.max


def rgb_to_panoptic_ids(rgb: tf.Tensor) -> tf.Tensor:
  """Panoptic ids of an RGB panoptic image.

  Args:
    rgb: a uint8 [H, W, 3] tensor.

  Returns:
    An int32 [H, W] tensor, R + 256 G + 256^2 B.
  """
  rgb = tf.cast(rgb, tf.int32)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def panoptic_ids_to_segment_map(ids: tf.Tensor,
                                segment_ids: tf.Tensor) -> tf.Tensor:
  """Replaces every panoptic id by the index of its segment.

  Args:
    ids: an int32 [H, W] tensor of panoptic ids.
    segment_ids: an int32 [N] tensor, the id of each segment.

  Returns:
    An int32 [H, W] tensor: the position of the pixel's id in `segment_ids`,
    -1 where the id is not listed (void).
  """
  order = tf.argsort(segment_ids, stable=True)
  sorted_ids = tf.concat([tf.gather(segment_ids, order), [_NO_ID]], axis=0)
  order = tf.concat([tf.cast(order, tf.int32), [-1]], axis=0)
  flat = tf.reshape(ids, [-1])
  position = tf.searchsorted(sorted_ids, flat, side='left',
                             out_type=tf.int32)
  found = tf.equal(tf.gather(sorted_ids, position), flat)
  index = tf.where(found, tf.gather(order, position), -1)
  return tf.reshape(index, tf.shape(ids))


def semantic_label_to_segment_map(label: tf.Tensor,
                                  num_classes: int) -> tf.Tensor:
  """Label values (0 ignore, 1..K) to class indices (-1 ignore, 0..K-1).

  Args:
    label: an integer [H, W] tensor of label values.
    num_classes: K.

  Returns:
    An int32 [H, W] tensor.

  Raises:
    tf.errors.InvalidArgumentError: at run time, if a value exceeds K.
  """
  label = tf.cast(label, tf.int32)
  check = tf.debugging.assert_less_equal(
      tf.reduce_max(label), num_classes,
      message=f'semantic label value above num_classes={num_classes}')
  with tf.control_dependencies([check]):
    return label - 1


def _semantic_segments(segment_map: tf.Tensor, num_classes: int) -> dict:
  return {
      maskformer_input.SEGMENT_MAP: segment_map,
      maskformer_input.SEGMENT_CLASSES: tf.range(num_classes, dtype=tf.int32),
      maskformer_input.SEGMENT_IS_CROWD: tf.zeros([num_classes], tf.bool),
  }


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
  """Decodes a JPEG or PNG image to RGB like PIL does.

  JPEGs use the accurate integer DCT, which reproduces PIL (the original's
  reader) exactly; TensorFlow's default fast DCT differs by up to 20 levels.

  Args:
    encoded: a string scalar tensor, the JPEG or PNG file.

  Returns:
    A uint8 [H, W, 3] tensor.
  """
  image = tf.cond(
      tf.io.is_jpeg(encoded),
      lambda: tf.io.decode_jpeg(encoded, channels=3,
                                dct_method='INTEGER_ACCURATE'),
      lambda: tf.io.decode_png(encoded, channels=3))
  image.set_shape([None, None, 3])
  return image


class PanopticTfExampleDecoder(decoder_lib.Decoder):
  """Decodes panoptic tf.train.Examples (`example_schema`)."""

  def decode(self, serialized_example: tf.Tensor) -> dict:
    """Decodes one serialized example.

    Args:
      serialized_example: a string scalar tensor.

    Returns:
      The decoded dict described in the module docstring.
    """
    parsed = tf.io.parse_single_example(serialized_example,
                                        example_schema.panoptic_spec())
    index = tf.io.decode_png(parsed[example_schema.SEGMENT_INDEX_ENCODED],
                             channels=1, dtype=tf.uint16)[..., 0]
    return {
        IMAGE: decode_image(parsed[example_schema.IMAGE_ENCODED]),
        maskformer_input.SEGMENT_MAP: tf.cast(index, tf.int32) - 1,
        maskformer_input.SEGMENT_CLASSES: tf.cast(
            parsed[example_schema.SEGMENT_CLASSES], tf.int32),
        maskformer_input.SEGMENT_IS_CROWD: tf.cast(
            parsed[example_schema.SEGMENT_IS_CROWD], tf.bool),
        maskformer_input.IMAGE_ID: parsed[example_schema.IMAGE_ID],
    }


class SemanticTfExampleDecoder(decoder_lib.Decoder):
  """Decodes semantic tf.train.Examples (`example_schema`)."""

  def __init__(self, num_classes: int):
    """Initializes the decoder.

    Args:
      num_classes: number of classes K (label values 1..K).
    """
    self._num_classes = num_classes

  def decode(self, serialized_example: tf.Tensor) -> dict:
    """Decodes one serialized example.

    Args:
      serialized_example: a string scalar tensor.

    Returns:
      The decoded dict described in the module docstring.
    """
    parsed = tf.io.parse_single_example(serialized_example,
                                        example_schema.semantic_spec())
    label = tf.io.decode_png(parsed[example_schema.SEMANTIC_ENCODED],
                             channels=1)[..., 0]
    decoded = _semantic_segments(
        semantic_label_to_segment_map(label, self._num_classes),
        self._num_classes)
    decoded[IMAGE] = decode_image(parsed[example_schema.IMAGE_ENCODED])
    decoded[maskformer_input.IMAGE_ID] = parsed[example_schema.IMAGE_ID]
    return decoded


def _tfds_image(image: tf.Tensor) -> tf.Tensor:
  """A TFDS image feature, decoded here if TFDS was told to skip decoding."""
  return decode_image(image) if image.dtype == tf.string else image


class CocoPanopticTfdsDecoder(decoder_lib.Decoder):
  """Decodes TFDS `coco/2017_panoptic` examples.

  TFDS numbers the 133 categories in the order of the annotation file's
  category list, which is id-sorted in the official files: its `label` is the
  contiguous class. With `tfds_skip_decoding_feature='image'` (the default of
  `configs.dataloader.DataConfig`) the JPEG is decoded by `decode_image`, as
  PIL decodes it; TFDS's own decoding uses the fast DCT.
  """

  def decode(self, example: dict) -> dict:
    """Decodes one TFDS example.

    Args:
      example: the TFDS feature dict ('image' decoded or encoded, 'image/id',
        'panoptic_image', 'panoptic_objects' with 'id', 'label', 'is_crowd').

    Returns:
      The decoded dict described in the module docstring.
    """
    objects = example['panoptic_objects']
    segment_ids = tf.cast(objects['id'], tf.int32)
    return {
        IMAGE: _tfds_image(example['image']),
        maskformer_input.SEGMENT_MAP: panoptic_ids_to_segment_map(
            rgb_to_panoptic_ids(example['panoptic_image']), segment_ids),
        maskformer_input.SEGMENT_CLASSES: tf.cast(objects['label'], tf.int32),
        maskformer_input.SEGMENT_IS_CROWD: tf.cast(objects['is_crowd'],
                                                   tf.bool),
        maskformer_input.IMAGE_ID: tf.cast(example['image/id'], tf.int64),
    }


class SceneParse150TfdsDecoder(decoder_lib.Decoder):
  """Decodes TFDS `scene_parse150` examples.

  The class label is the annotation's first channel (0 = ignore, 1..150). The
  TFDS builder reads the annotations of ADE's 2017 challenge release; check
  that its first channel carries the 150 scene-parsing classes of your data.
  TFDS has no image id: 'image_id' is -1. The image may be encoded (see
  `CocoPanopticTfdsDecoder`).
  """

  def __init__(self, num_classes: int = 150):
    """Initializes the decoder.

    Args:
      num_classes: number of classes K (label values 1..K).
    """
    self._num_classes = num_classes

  def decode(self, example: dict) -> dict:
    """Decodes one TFDS example.

    Args:
      example: the TFDS feature dict ('image' decoded or encoded,
        'annotation').

    Returns:
      The decoded dict described in the module docstring.
    """
    decoded = _semantic_segments(
        semantic_label_to_segment_map(example['annotation'][..., 0],
                                      self._num_classes),
        self._num_classes)
    decoded[IMAGE] = _tfds_image(example['image'])
    decoded[maskformer_input.IMAGE_ID] = tf.constant(-1, tf.int64)
    return decoded
