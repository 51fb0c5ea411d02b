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

"""The tf.train.Example schema of MaskFormer TFRecords (panoptic and semantic).

Every example holds the encoded image as it was on disk (JPEG or PNG, never
re-encoded) with its id, file name and size.

Panoptic examples add, per segment in the order of the annotation file, its
panoptic id, contiguous class, original category id, crowd flag and pixel
area, and the segment-index map: a 16-bit grayscale PNG whose pixel is 1 + the
position of the pixel's segment in those lists, 0 for void. It is a lossless
re-encoding of the panoptic PNG (panoptic id = segment_ids[index - 1]) that
decodes without the per-pixel id lookup.

Semantic examples add the label PNG as it was on disk (8-bit, 0 = ignore,
1..K = classes 0..K-1).
"""
from typing import Dict
from typing import Sequence

import tensorflow as tf

IMAGE_ENCODED = 'image/encoded'
IMAGE_FORMAT = 'image/format'
IMAGE_HEIGHT = 'image/height'
IMAGE_WIDTH = 'image/width'
IMAGE_FILENAME = 'image/filename'
IMAGE_ID = 'image/id'
SEGMENT_INDEX_ENCODED = 'image/panoptic/segment_index/encoded'
SEGMENT_IDS = 'image/panoptic/segment_ids'
SEGMENT_CLASSES = 'image/panoptic/segment_classes'
SEGMENT_CATEGORY_IDS = 'image/panoptic/segment_category_ids'
SEGMENT_IS_CROWD = 'image/panoptic/segment_is_crowd'
SEGMENT_AREAS = 'image/panoptic/segment_areas'
SEMANTIC_ENCODED = 'image/segmentation/class/encoded'


def _bytes(value: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values: Sequence[int]) -> tf.train.Feature:
  return tf.train.Feature(
      int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _image_features(image_bytes: bytes, image_format: str, height: int,
                    width: int, file_name: str,
                    image_id: int) -> Dict[str, tf.train.Feature]:
  return {
      IMAGE_ENCODED: _bytes(image_bytes),
      IMAGE_FORMAT: _bytes(image_format.encode('utf-8')),
      IMAGE_HEIGHT: _ints([height]),
      IMAGE_WIDTH: _ints([width]),
      IMAGE_FILENAME: _bytes(file_name.encode('utf-8')),
      IMAGE_ID: _ints([image_id]),
  }


def panoptic_example(*, image_bytes: bytes, image_format: str, height: int,
                     width: int, file_name: str, image_id: int,
                     segment_index_png: bytes, segment_ids: Sequence[int],
                     segment_classes: Sequence[int],
                     segment_category_ids: Sequence[int],
                     segment_is_crowd: Sequence[int],
                     segment_areas: Sequence[int]) -> tf.train.Example:
  """Builds a panoptic example.

  Args:
    image_bytes: the encoded image file.
    image_format: 'jpeg' or 'png'.
    height: image height in pixels.
    width: image width in pixels.
    file_name: the image file name.
    image_id: the image id.
    segment_index_png: the encoded 16-bit segment-index PNG.
    segment_ids: per segment, its id in the PNG.
    segment_classes: per segment, its contiguous class.
    segment_category_ids: per segment, its category id in the source dataset.
    segment_is_crowd: per segment, 1 for a crowd region, else 0.
    segment_areas: per segment, its number of pixels in the PNG.

  Returns:
    The `tf.train.Example`.
  """
  features = _image_features(image_bytes, image_format, height, width,
                             file_name, image_id)
  features.update({
      SEGMENT_INDEX_ENCODED: _bytes(segment_index_png),
      SEGMENT_IDS: _ints(segment_ids),
      SEGMENT_CLASSES: _ints(segment_classes),
      SEGMENT_CATEGORY_IDS: _ints(segment_category_ids),
      SEGMENT_IS_CROWD: _ints(segment_is_crowd),
      SEGMENT_AREAS: _ints(segment_areas),
  })
  return tf.train.Example(features=tf.train.Features(feature=features))


def semantic_example(*, image_bytes: bytes, image_format: str, height: int,
                     width: int, file_name: str, image_id: int,
                     label_png: bytes) -> tf.train.Example:
  """Builds a semantic segmentation example.

  Args:
    image_bytes: the encoded image file.
    image_format: 'jpeg' or 'png'.
    height: image height in pixels.
    width: image width in pixels.
    file_name: the image file name.
    image_id: the image id.
    label_png: the encoded 8-bit label PNG (0 = ignore, 1..K = classes).

  Returns:
    The `tf.train.Example`.
  """
  features = _image_features(image_bytes, image_format, height, width,
                             file_name, image_id)
  features[SEMANTIC_ENCODED] = _bytes(label_png)
  return tf.train.Example(features=tf.train.Features(feature=features))


def _image_spec() -> Dict[str, tf.io.FixedLenFeature]:
  return {
      IMAGE_ENCODED: tf.io.FixedLenFeature((), tf.string),
      IMAGE_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value=''),
      IMAGE_HEIGHT: tf.io.FixedLenFeature((), tf.int64),
      IMAGE_WIDTH: tf.io.FixedLenFeature((), tf.int64),
      IMAGE_FILENAME: tf.io.FixedLenFeature((), tf.string, default_value=''),
      IMAGE_ID: tf.io.FixedLenFeature((), tf.int64),
  }


def panoptic_spec() -> Dict[str, object]:
  """The `tf.io.parse_single_example` spec of panoptic examples."""
  spec = _image_spec()
  spec.update({
      SEGMENT_INDEX_ENCODED: tf.io.FixedLenFeature((), tf.string),
      SEGMENT_IDS: tf.io.RaggedFeature(tf.int64),
      SEGMENT_CLASSES: tf.io.RaggedFeature(tf.int64),
      SEGMENT_CATEGORY_IDS: tf.io.RaggedFeature(tf.int64),
      SEGMENT_IS_CROWD: tf.io.RaggedFeature(tf.int64),
      SEGMENT_AREAS: tf.io.RaggedFeature(tf.int64),
  })
  return spec


def semantic_spec() -> Dict[str, object]:
  """The `tf.io.parse_single_example` spec of semantic examples."""
  spec = _image_spec()
  spec[SEMANTIC_ENCODED] = tf.io.FixedLenFeature((), tf.string)
  return spec
