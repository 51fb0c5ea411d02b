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

"""Loss targets: device-side target masks, crowd handling, segment overflow."""
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.conversion import tfrecords
from projects.maskformer.dataloaders import decoders
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.dataloaders import segmentation_parser


def _labels():
  """Two images, T = 4 slots, hand-made."""
  segment_map = np.array([
      [[0, 0, 1, -1], [2, 2, 1, -1], [3, 3, -1, -1]],
      [[1, 1, 1, 1], [0, 0, -1, -1], [-1, -1, -1, -1]],
  ], np.int32)
  return {
      'segment_map': segment_map,
      'segment_classes': np.array([[5, 7, 9, 0], [1, 2, 0, 0]], np.int32),
      'segment_valid': np.array([[True, True, True, True],
                                 [True, True, False, False]]),
      # Slot 2 of image 0 is a crowd region; slot 3 of image 0 is a real
      # segment (class 0).
      'segment_is_crowd': np.array([[False, False, True, False],
                                    [False, False, False, False]]),
  }


def _expected_masks(labels):
  valid = labels['segment_valid'] & ~labels['segment_is_crowd']
  slots = np.arange(valid.shape[1])
  masks = labels['segment_map'][:, None] == slots[None, :, None, None]
  return masks & valid[:, :, None, None], valid


@pytest.mark.parametrize('jit', [False, True])
@pytest.mark.parametrize('map_dtype', [np.int32, np.int8])
def test_loss_targets(jit, map_dtype):
  labels = _labels()
  fn = tf.function(
      lambda labels: _with_all_masks(maskformer_input.loss_targets(labels)),
      jit_compile=jit)
  # The parser ships narrow segment maps (int8 for T <= 127).
  result = fn({k: tf.constant(v.astype(map_dtype) if k == 'segment_map'
                              else v) for k, v in labels.items()})
  masks, valid = _expected_masks(labels)
  assert result['segment_map'].dtype == tf.int32
  assert result['all_masks'].shape == (2, 4, 3, 4)
  assert result['all_masks'].dtype == tf.float32
  np.testing.assert_array_equal(result['all_masks'].numpy(), masks)
  np.testing.assert_array_equal(result['valid'].numpy(), valid)
  np.testing.assert_array_equal(result['classes'].numpy(),
                                labels['segment_classes'])
  # Hand-checked: the crowd pixels (row 1, cols 0-1 of image 0) are in no
  # mask, and the padding slots of image 1 are empty and invalid.
  assert result['all_masks'].numpy()[0, :, 1, :2].sum() == 0
  assert not result['valid'].numpy()[0, 2]
  assert result['all_masks'].numpy()[1, 2:].sum() == 0


def _with_all_masks(result):
  return dict(result, all_masks=maskformer_input.all_masks(result, tf.float32))


def test_gather_masks_of_both_forms_and_nearest_resize():
  """Chosen (image, slot) pairs; the segment map and dense masks agree."""
  labels = _labels()
  compact = maskformer_input.loss_targets(
      {k: tf.constant(v) for k, v in labels.items()})
  masks, valid = _expected_masks(labels)
  dense = {'masks': masks, 'classes': labels['segment_classes'],
           'valid': valid}
  batch_index = tf.constant([[1, 0], [0, 0]])
  slot_index = tf.constant([[0, 2], [3, 1]])
  for form in (compact, dense):
    gathered = maskformer_input.gather_masks(form, batch_index,
                                             slot_index).numpy()
    np.testing.assert_array_equal(gathered[0, 0], masks[1, 0])
    assert not gathered[0, 1].any()  # the crowd slot is invalid: empty
    np.testing.assert_array_equal(gathered[1, 0], masks[0, 3])
    np.testing.assert_array_equal(gathered[1, 1], masks[0, 1])
    # Legacy nearest: rows 0, 1 (floor(i * 3 / 2)) and columns 0, 2.
    resized = maskformer_input.resize_nearest_legacy(form, (2, 2))
    np.testing.assert_array_equal(maskformer_input.all_masks(resized).numpy(),
                                  masks[:, :, [0, 1]][:, :, :, [0, 2]])


def test_crowd_segments_of_the_real_sample(coco_sample_dir, tmp_path):
  prefix = tmp_path / 'val'
  tfrecords.convert_coco_panoptic(
      str(coco_sample_dir / 'panoptic.json'),
      str(coco_sample_dir / 'images'), str(coco_sample_dir / 'panoptic'),
      str(prefix), num_shards=1, progress=False)
  decoder = decoders.PanopticTfExampleDecoder()
  parser = segmentation_parser.Parser(
      output_size=[1344, 1344],
      augmentation_params=data_cfg.Augmentation(type='none'))
  total_crowd = 0
  for record in tf.data.TFRecordDataset(
      tfrecords.shard_paths(str(prefix), 1)):
    image, labels = parser.parse_fn(False)(decoder.decode(record))
    batch = {k: v[None] for k, v in labels.items()}
    result = maskformer_input.loss_targets(batch)
    result['masks'] = maskformer_input.all_masks(result)
    crowd = labels['segment_is_crowd'].numpy()
    total_crowd += crowd.sum()
    segment_map = labels['segment_map'].numpy()
    covered = result['masks'].numpy()[0].any(axis=0)
    for slot in np.nonzero(crowd)[0]:
      crowd_pixels = segment_map == slot
      assert crowd_pixels.any()
      assert not covered[crowd_pixels].any()
      assert not result['valid'].numpy()[0, slot]
    # Every other valid segment's pixels form exactly its target mask.
    for slot in np.nonzero(labels['segment_valid'].numpy() & ~crowd)[0]:
      np.testing.assert_array_equal(result['masks'].numpy()[0, slot],
                                    segment_map == slot)
    assert image.shape == (1344, 1344, 3)
  assert total_crowd == 3


def _overflow_example():
  """8 panoptic segments of known areas; segment 1 is a crowd region."""
  areas = [5, 30, 12, 1, 20, 0, 9, 16]
  segment_map = np.full((10, 10), -1, np.int32)
  flat = segment_map.reshape(-1)
  start = 0
  for k, area in enumerate(areas):
    flat[start:start + area] = k
    start += area
  return {
      'image': tf.zeros([10, 10, 3], tf.uint8),
      'segment_map': tf.constant(segment_map),
      'segment_classes': tf.constant([10, 11, 12, 13, 14, 15, 16, 17],
                                     tf.int32),
      'segment_is_crowd': tf.constant([False, True] + [False] * 6),
      'image_id': tf.constant(4242, tf.int64),
  }


def _overflow_parser(policy):
  return segmentation_parser.Parser(
      output_size=[16, 16], max_segments=4, segment_overflow=policy,
      eval_short_edge=10, eval_max_size=16,
      augmentation_params=data_cfg.Augmentation(type='none'))


def _parse(parser, in_tf_data):
  """Parses the overflow example eagerly or inside a tf.data map."""
  if not in_tf_data:
    return parser.parse_fn(False)(_overflow_example())
  dataset = tf.data.Dataset.from_tensors(_overflow_example())
  return next(iter(dataset.map(parser.parse_fn(False))))


@pytest.mark.parametrize('in_tf_data', [False, True])
def test_overflow_error_names_the_image(in_tf_data):
  parser = _overflow_parser('error')
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'(?s)image id.*4242.*has.*8.*max_segments=4'):
    _parse(parser, in_tf_data)


@pytest.mark.parametrize('in_tf_data', [False, True])
def test_overflow_keep_largest_keeps_non_crowd_first_and_warns(capfd,
                                                               in_tf_data):
  parser = _overflow_parser('keep_largest')
  _, labels = _parse(parser, in_tf_data)
  # Non-crowd areas: 20 (4), 16 (7), 12 (2), 9 (6); the crowd segment (30)
  # and the smaller ones are dropped. Slots keep the decoded order.
  np.testing.assert_array_equal(labels['segment_classes'], [12, 14, 16, 17])
  np.testing.assert_array_equal(labels['segment_valid'], [True] * 4)
  segment_map = labels['segment_map'].numpy()[:10, :10].reshape(-1)
  expected = np.full(100, -1)
  start = 0
  for k, area in enumerate([5, 30, 12, 1, 20, 0, 9, 16]):
    if k in (2, 4, 6, 7):
      expected[start:start + area] = [2, 4, 6, 7].index(k)
    start += area
  np.testing.assert_array_equal(segment_map, expected)
  assert 'WARNING: image id 4242 has 8' in capfd.readouterr().err


def test_no_warning_without_overflow(capfd):
  parser = segmentation_parser.Parser(
      output_size=[16, 16], max_segments=8, segment_overflow='keep_largest',
      eval_short_edge=10, eval_max_size=16,
      augmentation_params=data_cfg.Augmentation(type='none'))
  _, labels = parser.parse_fn(False)(_overflow_example())
  assert labels['segment_valid'].numpy().sum() == 8
  assert 'WARNING' not in capfd.readouterr().err
