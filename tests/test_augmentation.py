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

"""Augmentation ops against PIL / OpenCV / the original's rules, and alignment.

The alignment tests parse an image whose colours encode its segment ids: after
every augmentation, every pixel away from a segment boundary must have the
colour of the segment the segment map gives it.
"""
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.dataloaders import augmentation
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.dataloaders import segmentation_parser

MEAN = np.array(maskformer_input.MEAN_RGB)
STD = np.array(maskformer_input.STDDEV_RGB)
BLOCK = 20
GRID = (6, 8)  # Blocks per column and row: a 120 x 160 image.
NUM_CLASSES = 5


def _detectron2_output_shape(h, w, short_edge, max_size):
  """detectron2 ResizeShortestEdge.get_output_shape, transcribed."""
  scale = short_edge * 1.0 / min(h, w)
  if h < w:
    newh, neww = short_edge, scale * w
  else:
    newh, neww = scale * h, short_edge
  if max(newh, neww) > max_size:
    scale = max_size * 1.0 / max(newh, neww)
    newh = newh * scale
    neww = neww * scale
  return int(newh + 0.5), int(neww + 0.5)


@pytest.mark.parametrize('h,w,short_edge,max_size', [
    (427, 640, 800, 1333), (360, 640, 800, 1333), (640, 427, 480, 1333),
    (427, 640, 600, 10**9), (100, 1000, 800, 1333), (512, 683, 512, 2048),
    (333, 500, 256, 2048), (1, 1, 5, 7), (481, 641, 737, 1111)])
def test_shortest_edge_size_is_detectron2s(h, w, short_edge, max_size):
  size = augmentation.shortest_edge_size(tf.constant([h, w]), short_edge,
                                         max_size)
  assert tuple(size.numpy()) == _detectron2_output_shape(h, w, short_edge,
                                                         max_size)


def test_fit_size():
  assert augmentation.fit_size(tf.constant([512, 683]),
                               [1024, 1024]).numpy().tolist() == [512, 683]
  assert augmentation.fit_size(tf.constant([512, 2048]),
                               [1024, 1024]).numpy().tolist() == [256, 1024]
  assert augmentation.fit_size(tf.constant([900, 300]),
                               [600, 600]).numpy().tolist() == [600, 200]


RESIZE_SIZES = [(800, 1199), (480, 719), (400, 600), (384, 577), (300, 450),
                (133, 200), (1000, 1500), (427, 640), (200, 1000)]


@pytest.fixture(scope='module')
def sample_png(coco_sample_dir):
  return np.asarray(Image.open(
      coco_sample_dir / 'panoptic' / '000000142238.png').convert('RGB'))


@pytest.fixture(scope='module')
def sample_jpeg(coco_sample_dir):
  return np.asarray(Image.open(
      coco_sample_dir / 'images' / '000000142238.jpg').convert('RGB'))


def _ids(rgb):
  rgb = rgb.astype(np.int64)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


@pytest.mark.parametrize('size', RESIZE_SIZES)
def test_pil_rule_is_pil_nearest_exactly(sample_png, size):
  expected = _ids(np.asarray(Image.fromarray(sample_png).resize(
      (size[1], size[0]), Image.NEAREST)))
  resized = augmentation.resize_segment_map(
      tf.constant(_ids(sample_png)), tf.constant(size), 'pil')
  np.testing.assert_array_equal(resized.numpy(), expected)


def test_pil_rule_is_pil_nearest_on_many_sizes():
  # Sizes where the exact formula floor((x + 0.5) * in / out) and PIL's
  # float64 accumulation disagree are included (e.g. 7 -> 50).
  for in_size in (3, 7, 64, 427, 641):
    row = np.arange(in_size, dtype=np.int32)[None, :]
    for out_size in (1, 2, 5, 50, 97, 600, 1199, 1500):
      expected = np.asarray(Image.fromarray(row, mode='I').resize(
          (out_size, 1), Image.NEAREST))
      resized = augmentation.resize_segment_map(
          tf.constant(row), tf.constant([1, out_size]), 'pil')
      np.testing.assert_array_equal(resized.numpy(), expected,
                                    err_msg=f'{in_size} -> {out_size}')


@pytest.mark.parametrize('in_size,out_size', [(427, 800), (640, 1199),
                                              (100, 50), (7, 13), (512, 256),
                                              (683, 683), (333, 666),
                                              (1000, 333)])
def test_torch_rule_is_pytorch_legacy_nearest(in_size, out_size):
  # PyTorch upsample_nearest: src = min(floor(dst * float(in / out)), in - 1)
  # in float32 (aten/src/ATen/native/UpSample.h, nearest_idx).
  scale = np.float32(in_size) / np.float32(out_size)
  expected = np.minimum(
      np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(int),
      in_size - 1)
  row = tf.range(in_size)[None, :]
  resized = augmentation.resize_segment_map(row, tf.constant([1, out_size]),
                                            'torch')
  np.testing.assert_array_equal(resized.numpy()[0], expected)


@pytest.mark.parametrize('size', RESIZE_SIZES)
def test_image_resize_matches_pil_bilinear(sample_jpeg, size):
  expected = np.asarray(Image.fromarray(sample_jpeg).resize(
      (size[1], size[0]), Image.BILINEAR)).astype(int)
  resized = augmentation.resize_image(tf.constant(sample_jpeg, tf.float32),
                                      tf.constant(size)).numpy()
  assert np.abs(resized - expected).max() <= 1
  np.testing.assert_array_equal(resized, np.round(resized))


@pytest.mark.parametrize('rule', ['pil', 'torch'])
@pytest.mark.parametrize('size,top_left,crop_size', [
    ((800, 1199), (0, 0), (800, 1199)),
    ((1366, 2048), (100, 300), (1024, 1024)),
    ((500, 749), (13, 200), (450, 500)),
    ((300, 450), (7, 0), (293, 384)),  # Shrinks: antialiased.
    ((400, 600), (16, 1), (384, 599))])
def test_resize_and_crop_is_crop_after_resize(sample_jpeg, sample_png, size,
                                              top_left, crop_size, rule):
  sample = augmentation.new_sample(tf.constant(sample_jpeg),
                                   tf.constant(_ids(sample_png), tf.int32))
  size, top_left, crop_size = (tf.constant(v) for v in (size, top_left,
                                                        crop_size))
  expected = augmentation.crop(augmentation.resize(sample, size, rule),
                               top_left, crop_size)
  result = augmentation.resize_and_crop(sample, size, top_left, crop_size,
                                        rule)
  for name, value in expected._asdict().items():
    np.testing.assert_array_equal(getattr(result, name), value, name)


def _opencv_hsv_step(rgb, channel, fn):
  cv2 = pytest.importorskip('cv2')
  hsv = cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]), cv2.COLOR_BGR2HSV)
  hsv[..., channel] = fn(hsv[..., channel])
  return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[..., ::-1].astype(int)


@pytest.mark.parametrize('factor', [0.5, 0.8, 1.3, 1.5])
def test_saturation_matches_opencv(sample_jpeg, factor):
  expected = _opencv_hsv_step(
      sample_jpeg, 1, lambda s: np.clip(s.astype(np.float32) * factor, 0,
                                        255).astype(np.uint8))
  result = augmentation.adjust_saturation_ssd(
      tf.constant(sample_jpeg, tf.float32), factor).numpy()
  diff = np.abs(result - expected)
  assert np.percentile(diff, 99) <= 1 and diff.max() <= 8


@pytest.mark.parametrize('delta', [-18, -5, 7, 18])
def test_hue_matches_opencv(sample_jpeg, delta):
  expected = _opencv_hsv_step(
      sample_jpeg, 0, lambda h: ((h.astype(int) + delta) % 180).astype(
          np.uint8))
  result = augmentation.adjust_hue_ssd(tf.constant(sample_jpeg, tf.float32),
                                       float(delta)).numpy()
  diff = np.abs(result - expected)
  assert np.percentile(diff, 99) <= 1 and diff.max() <= 8


def _palette(k):
  return np.array([10 + 5 * k, 250 - 5 * k, (53 * k) % 256])


def _block_ids():
  ids = np.arange(GRID[0] * GRID[1]).reshape(GRID)
  ids = np.where(ids % 7 == 3, -1, ids)
  return np.kron(ids, np.ones((BLOCK, BLOCK), int))


def _decoded(label_type):
  """A colour-coded example: block k has colour _palette(k), void is black."""
  blocks = _block_ids()
  image = np.zeros(blocks.shape + (3,), np.uint8)
  for k in np.unique(blocks[blocks >= 0]):
    image[blocks == k] = _palette(k)
  num = GRID[0] * GRID[1]
  if label_type == data_cfg.PANOPTIC:
    segment_map = blocks
    classes = np.arange(num) % NUM_CLASSES
    is_crowd = np.arange(num) % 11 == 5
  else:
    segment_map = np.where(blocks >= 0, blocks % NUM_CLASSES, -1)
    classes = np.arange(NUM_CLASSES)
    is_crowd = np.zeros(NUM_CLASSES, bool)
  return {
      'image': tf.constant(image),
      'segment_map': tf.constant(segment_map, tf.int32),
      'segment_classes': tf.constant(classes, tf.int32),
      'segment_is_crowd': tf.constant(is_crowd),
      'image_id': tf.constant(7, tf.int64),
  }


def _colour_ids(rgb):
  """Block id of each pixel from its colour; -1 black, -2 no block colour."""
  k = (rgb[..., 0] - 10) // 5
  match = np.all(rgb == np.stack(
      [10 + 5 * k, 250 - 5 * k, (53 * k) % 256], -1), -1)
  match &= (rgb[..., 0] - 10) % 5 == 0
  return np.where(match, k, np.where(np.all(rgb == 0, -1), -1, -2))


def _interior(segment_map, radius=2):
  """Pixels whose (2 r + 1)^2 neighbourhood has one segment."""
  padded = np.pad(segment_map, radius, constant_values=-3)
  same = np.ones(segment_map.shape, bool)
  h, w = segment_map.shape
  for dy in range(2 * radius + 1):
    for dx in range(2 * radius + 1):
      same &= padded[dy:dy + h, dx:dx + w] == segment_map
  return same


def _parser(kind, label_type=data_cfg.PANOPTIC, dtype='float32',
            **recipe):
  aug = data_cfg.Augmentation(type=kind)
  aug.detr_panoptic.override({
      'crop_short_edges': [60, 80], 'crop_size_range': [50, 90],
      'short_edges': [100, 140, 180], 'max_size': 256})
  aug.semantic_crop.override({'short_edges': [80, 120, 200], 'max_size': 300,
                              'crop_size': [96, 112], 'color_jitter': False})
  if kind != 'none':
    aug.get().override(recipe)
  output_size = {'detr_panoptic': [256, 256], 'semantic_crop': [128, 128],
                 'large_scale_jitter': [128, 144], 'none': [224, 256]}[kind]
  return segmentation_parser.Parser(
      output_size=output_size, label_type=label_type, max_segments=60,
      augmentation_params=aug, eval_short_edge=150, eval_max_size=256,
      groundtruth_padded_size=[128, 176],
      label_resize='torch' if kind == 'semantic_crop' else 'pil', dtype=dtype)


def _parse(parser, data, seed=None):
  if seed is None:
    image, labels = parser.parse_fn(False)(data)
  else:
    data = dict(data, augmentation_seed=tf.constant([seed, 17], tf.int64))
    image, labels = parser.parse_fn(True)(data)
  return image.numpy(), {k: v.numpy() for k, v in labels.items()}


def _check_alignment(image, labels, label_type, radius=2):
  """Asserts colour / segment consistency; returns #interior pixels checked."""
  segment_map = labels['segment_map']
  pixel_mask = labels['pixel_mask']
  content_h, content_w = labels['image_info'][1].astype(int)
  np.testing.assert_array_equal(pixel_mask[:content_h, :content_w], True)
  assert pixel_mask.sum() == content_h * content_w
  rgb = image * STD + MEAN
  np.testing.assert_allclose(rgb[pixel_mask], np.round(rgb[pixel_mask]),
                             atol=1e-3)
  colour = _colour_ids(np.round(rgb).astype(int))
  assert (segment_map[~pixel_mask] == -1).all()
  inside = _interior(segment_map, radius) & pixel_mask
  slots = segment_map[inside]
  if label_type == data_cfg.PANOPTIC:
    # Panoptic slots keep the decoded order: slot == block id.
    expected = np.where(colour[inside] >= 0, colour[inside], -1)
    np.testing.assert_array_equal(slots, expected)
  else:
    classes = np.where(slots >= 0, labels['segment_classes'][slots], -1)
    expected = np.where(colour[inside] >= 0,
                        colour[inside] % NUM_CLASSES, -1)
    np.testing.assert_array_equal(classes, expected)
  return inside.sum()


# The blend band of the bilinear image around a boundary is about one pixel
# for a single resize; the resize-crop-resize chain of 'detr_panoptic' shrinks
# then enlarges up to 3x, widening it to about 5 pixels.
@pytest.mark.parametrize('label_type', [data_cfg.PANOPTIC,
                                        data_cfg.SEMANTIC])
@pytest.mark.parametrize('kind,recipe,radius', [
    ('detr_panoptic', {'crop_prob': 0.0, 'flip_prob': 0.0}, 2),
    ('detr_panoptic', {'crop_prob': 0.0, 'flip_prob': 1.0}, 2),
    ('detr_panoptic', {'crop_prob': 1.0, 'flip_prob': 1.0}, 6),
    ('detr_panoptic', {}, 6),
    ('semantic_crop', {}, 2),
    ('large_scale_jitter', {}, 2),
    ('none', {}, 2),
])
def test_colours_stay_aligned_with_segments(kind, recipe, radius, label_type):
  parser = _parser(kind, label_type, **recipe)
  data = _decoded(label_type)
  checked = 0
  for seed in range(6):
    image, labels = _parse(parser, data, seed)
    checked += _check_alignment(image, labels, label_type, radius)
  assert checked > 0.2 * 6 * 96 * 96


def test_eval_alignment_and_original_groundtruth():
  parser = _parser('none')
  data = _decoded(data_cfg.PANOPTIC)
  image, labels = _parse(parser, data)
  _check_alignment(image, labels, data_cfg.PANOPTIC)
  assert (image[~labels['pixel_mask']] == 0).all()
  np.testing.assert_array_equal(
      labels['image_info'],
      [[120, 160], [150, 200], [150 / 120, 200 / 160], [0, 0]])
  groundtruth = labels['groundtruth_segment_map']
  assert groundtruth.shape == (128, 176)
  np.testing.assert_array_equal(groundtruth[:120, :160], _block_ids())
  assert (groundtruth[120:] == -1).all() and (groundtruth[:, 160:] == -1).all()


@pytest.mark.parametrize('kind,recipe', [
    ('detr_panoptic', {'crop_prob': 1.0, 'flip_prob': 0.0}),
    ('large_scale_jitter', {'flip_prob': 0.0}),
    ('semantic_crop', {'flip_prob': 0.0}),
])
def test_image_info_maps_original_pixels(kind, recipe):
  parser = _parser(kind, **recipe)
  blocks = _block_ids()
  centres = np.stack(np.meshgrid(np.arange(GRID[0]) * BLOCK + BLOCK // 2,
                                 np.arange(GRID[1]) * BLOCK + BLOCK // 2,
                                 indexing='ij'), -1).reshape(-1, 2)
  checked = 0
  for seed in range(6):
    _, labels = _parse(parser, _decoded(data_cfg.PANOPTIC), seed)
    info = labels['image_info']
    segment_map = labels['segment_map']
    inside = _interior(segment_map, 2)
    # Pixel centres p + 0.5 land at (p + 0.5) * scale - offset.
    landed = np.floor((centres + 0.5) * info[2] - info[3]).astype(int)
    for (y, x), (oy, ox) in zip(landed, centres):
      if 0 <= y < info[1][0] and 0 <= x < info[1][1] and inside[y, x]:
        assert segment_map[y, x] == blocks[oy, ox]
        checked += 1
  assert checked > 20


def test_semantic_crop_pads_with_128_before_normalization():
  parser = _parser('semantic_crop', data_cfg.SEMANTIC,
                   short_edges=[80])
  image, labels = _parse(parser, _decoded(data_cfg.SEMANTIC), 3)
  # 120x160 -> short edge 80: 80x107, cropped to 80x107 (crop 96x112), padded
  # with 128 to 96x112, then with 0 after normalization to 128x128.
  assert labels['image_info'][1].tolist() == [80, 107]
  crop_pad = np.zeros((128, 128), bool)
  crop_pad[:96, :112] = True
  crop_pad[:80, :107] = False
  np.testing.assert_allclose(image[crop_pad], np.broadcast_to(
      (128 - MEAN) / STD, image[crop_pad].shape), rtol=1e-6)
  assert (image[96:] == 0).all() and (image[:, 112:] == 0).all()
  assert (labels['segment_map'][crop_pad] == -1).all()


def test_large_scale_jitter_pads_with_128_before_normalization():
  """detectron2's FixedSizeCrop: image pad 128 (raw), label pad void."""
  parser = _parser('large_scale_jitter', scale_min=0.5, scale_max=0.5,
                   flip_prob=0.0)
  image, labels = _parse(parser, _decoded(data_cfg.PANOPTIC), 3)
  # 120x160 into 0.5 x (128x144): scale min(64/120, 72/160) = 0.45 -> 54x72.
  assert labels['image_info'][1].tolist() == [54, 72]
  padding = np.ones((128, 144), bool)
  padding[:54, :72] = False
  np.testing.assert_allclose(image[padding], np.broadcast_to(
      (128 - MEAN) / STD, image[padding].shape), rtol=1e-6)
  assert (labels['segment_map'][padding] == -1).all()
  np.testing.assert_array_equal(labels['pixel_mask'], ~padding)


def test_flip_moves_image_and_segments_together():
  # 120x160 -> 240x320 is an exact 2x resize, so flipping commutes with it.
  recipe = {'crop_prob': 0.0, 'short_edges': [240], 'max_size': 320}
  aug = data_cfg.Augmentation(type='detr_panoptic')
  aug.detr_panoptic.override(recipe)
  outputs = []
  for flip in (0.0, 1.0):
    aug.detr_panoptic.flip_prob = flip
    parser = segmentation_parser.Parser(output_size=[320, 320],
                                     augmentation_params=aug, max_segments=60)
    outputs.append(_parse(parser, _decoded(data_cfg.PANOPTIC), 0))
  (image, labels), (flipped, flipped_labels) = outputs
  np.testing.assert_array_equal(flipped[:240, :320], image[:240, ::-1])
  np.testing.assert_array_equal(flipped_labels['segment_map'][:240],
                                labels['segment_map'][:240, ::-1])


def test_color_jitter_changes_only_the_image():
  data = _decoded(data_cfg.SEMANTIC)
  plain = _parser('semantic_crop', data_cfg.SEMANTIC)
  jittered = _parser('semantic_crop', data_cfg.SEMANTIC,
                     color_jitter=True)
  changed = 0
  for seed in range(4):
    image, labels = _parse(plain, data, seed)
    image_j, labels_j = _parse(jittered, data, seed)
    for key in labels:
      np.testing.assert_array_equal(labels[key], labels_j[key])
    changed += (image != image_j).any()
  assert changed >= 2


def test_augmentation_is_a_function_of_the_seed():
  parser = _parser('detr_panoptic')
  data = _decoded(data_cfg.PANOPTIC)
  first = _parse(parser, data, 5)
  again = _parse(parser, data, 5)
  np.testing.assert_array_equal(first[0], again[0])
  np.testing.assert_array_equal(first[1]['segment_map'],
                                again[1]['segment_map'])
  sizes = {tuple(_parse(parser, data, s)[1]['image_info'][1])
           for s in range(8)}
  assert len(sizes) > 2


def test_panoptic_keeps_every_segment_even_when_cropped_away():
  parser = _parser('detr_panoptic', crop_prob=1.0)
  data = _decoded(data_cfg.PANOPTIC)
  num = GRID[0] * GRID[1]
  for seed in range(3):
    _, labels = _parse(parser, data, seed)
    assert labels['segment_valid'].sum() == num
    np.testing.assert_array_equal(labels['segment_classes'][:num],
                                  np.arange(num) % NUM_CLASSES)
    np.testing.assert_array_equal(labels['segment_is_crowd'][:num],
                                  np.arange(num) % 11 == 5)
    present = np.unique(labels['segment_map'][labels['segment_map'] >= 0])
    assert len(present) < num  # The crop removed some.


def test_semantic_targets_are_the_classes_present_after_augmentation():
  parser = _parser('semantic_crop', data_cfg.SEMANTIC,
                   short_edges=[200], crop_size=[40, 40])
  data = _decoded(data_cfg.SEMANTIC)
  for seed in range(4):
    _, labels = _parse(parser, data, seed)
    slots = labels['segment_map'][labels['segment_map'] >= 0]
    count = labels['segment_valid'].sum()
    assert sorted(np.unique(slots)) == list(range(count))
    classes = labels['segment_classes'][:count]
    assert list(classes) == sorted(set(classes))
    assert (labels['segment_classes'][count:] == 0).all()


def test_static_shapes():
  for kind in ('detr_panoptic', 'semantic_crop', 'large_scale_jitter'):
    parser = _parser(kind)
    data = _decoded(data_cfg.PANOPTIC)
    for training in (True, False):
      dataset = tf.data.Dataset.from_tensors(
          dict(data, augmentation_seed=tf.constant([1, 2], tf.int64)))
      dataset = dataset.map(parser.parse_fn(training))
      image_spec, label_spec = dataset.element_spec
      assert image_spec.shape.is_fully_defined(), (kind, training)
      for key, spec in label_spec.items():
        assert spec.shape.is_fully_defined(), (kind, training, key)
      assert label_spec['segment_classes'].shape == [60]
      assert label_spec['image_info'].shape == [4, 2]


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('kind,recipe', [
    ('detr_panoptic', {}),
    ('semantic_crop', {'color_jitter': True}),
    ('large_scale_jitter', {}),
    ('none', {}),
])
def test_uint8_image_normalized_on_the_device_is_the_float32_image(
    kind, recipe, training):
  label_type = (data_cfg.SEMANTIC if kind == 'semantic_crop' else
                data_cfg.PANOPTIC)
  data = _decoded(label_type)
  as_float = _parser(kind, label_type, **recipe)
  as_uint8 = _parser(kind, label_type, dtype='uint8', **recipe)
  # The config the task hands to `prepare_model_inputs` (its padding rule).
  params = data_cfg.DataConfig(is_training=training)
  params.parser.augmentation = as_uint8._augmentation  # pylint: disable=protected-access
  padded = 0
  for seed in range(4):
    image, labels = _parse(as_float, data, seed if training else None)
    image_u8, labels_u8 = _parse(as_uint8, data, seed if training else None)
    assert image_u8.dtype == np.uint8
    assert labels_u8['segment_map'].dtype == np.int8  # 60 slots.
    content = labels_u8['pixel_mask']
    # The host image is the normalized one before normalization.
    np.testing.assert_array_equal(
        image_u8[content], np.round(image[content] * STD + MEAN))
    batch = {k: tf.constant(v[None]) for k, v in labels_u8.items()}
    device_image, device_labels = maskformer_input.prepare_model_inputs(
        tf.constant(image_u8[None]), batch, params)
    assert device_image.dtype == tf.float32
    np.testing.assert_array_equal(device_image[0], image)  # Bit-identical.
    assert device_labels['segment_map'].dtype == tf.int32
    for key, value in labels.items():
      np.testing.assert_array_equal(device_labels[key][0], value, key)
    padded += int((~content & (image != 0).any(-1)).sum())
  # 'semantic_crop' and 'large_scale_jitter' training images have pixels
  # padded with 128 before the normalization (outside the pixel mask, nonzero
  # after it); no other has.
  assert (padded > 0) == (
      kind in ('semantic_crop', 'large_scale_jitter') and training)


def test_float_images_pass_the_device_step_unchanged():
  parser = _parser('none')
  image, labels = _parse(parser, _decoded(data_cfg.PANOPTIC))
  batch = {k: tf.constant(v[None]) for k, v in labels.items()}
  device_image, _ = maskformer_input.prepare_model_inputs(
      tf.constant(image[None]), batch, data_cfg.DataConfig())
  np.testing.assert_array_equal(device_image[0], image)


def test_segment_map_dtype_holds_the_slots():
  assert maskformer_input.segment_map_dtype(1) == tf.int8
  assert maskformer_input.segment_map_dtype(127) == tf.int8
  assert maskformer_input.segment_map_dtype(128) == tf.int16
  assert maskformer_input.segment_map_dtype(32767) == tf.int16
  assert maskformer_input.segment_map_dtype(32768) == tf.int32


def test_bfloat16_image():
  parser = segmentation_parser.Parser(
      output_size=[256, 256], dtype='bfloat16', eval_short_edge=150,
      eval_max_size=256, max_segments=60,
      augmentation_params=data_cfg.Augmentation(type='none'))
  image, _ = parser.parse_fn(False)(_decoded(data_cfg.PANOPTIC))
  assert image.dtype == tf.bfloat16


def test_invalid_options_are_rejected():
  small_canvas = segmentation_parser.Parser(output_size=[800, 800])
  with pytest.raises(ValueError, match='cannot hold'):  # detr max_size 1333.
    small_canvas.parse_fn(True)(dict(_decoded(data_cfg.PANOPTIC),
                                     augmentation_seed=tf.constant([1, 2])))
  with pytest.raises(ValueError, match='segment_overflow'):
    segmentation_parser.Parser(output_size=[1344, 1344],
                               segment_overflow='drop')
  with pytest.raises(ValueError, match='label_resize'):
    segmentation_parser.Parser(output_size=[1344, 1344], label_resize='linear')
  with pytest.raises(ValueError, match='label_type'):
    segmentation_parser.Parser(output_size=[1344, 1344], label_type='instance')
  with pytest.raises(ValueError, match='dtype'):
    segmentation_parser.Parser(output_size=[1344, 1344], dtype='float16')
  with pytest.raises(ValueError, match='pad_value'):
    _parser('semantic_crop', dtype='uint8', pad_value=127.5)
  with pytest.raises(ValueError, match='pad_value'):
    _parser('large_scale_jitter', dtype='uint8', pad_value=256)
