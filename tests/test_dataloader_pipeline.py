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

"""The input pipeline end to end: real sample, TFDS sources, tf.data features."""
import json
from unittest import mock

import numpy as np
from official.modeling import hyperparams
from PIL import Image
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
import yaml

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.conversion import tfrecords
from projects.maskformer.dataloaders import decoders
from projects.maskformer.dataloaders import input_pipeline
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.dataloaders import segmentation_parser

MEAN = np.array(maskformer_input.MEAN_RGB)
STD = np.array(maskformer_input.STDDEV_RGB)


def _ids(rgb):
  rgb = rgb.astype(np.int64)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


@pytest.fixture(scope='module')
def coco(coco_sample_dir, tmp_path_factory):
  """The real sample as TFRecords (2 shards) and its ground truth."""
  prefix = tmp_path_factory.mktemp('coco') / 'val'
  tfrecords.convert_coco_panoptic(
      str(coco_sample_dir / 'panoptic.json'),
      str(coco_sample_dir / 'images'), str(coco_sample_dir / 'panoptic'),
      str(prefix), num_shards=2, progress=False)
  with open(coco_sample_dir / 'panoptic.json') as f:
    truth = json.load(f)
  contiguous = {c['id']: i for i, c in enumerate(
      sorted(truth['categories'], key=lambda c: c['id']))}
  images = {}
  for info in truth['images']:
    annotation = next(a for a in truth['annotations']
                      if a['image_id'] == info['id'])
    images[info['id']] = {
        'jpeg': (coco_sample_dir / 'images' / info['file_name']).read_bytes(),
        'rgb': np.asarray(Image.open(
            coco_sample_dir / 'images' / info['file_name']).convert('RGB')),
        'png': np.asarray(Image.open(
            coco_sample_dir / 'panoptic' / annotation['file_name'])),
        'segments': annotation['segments_info'],
        'classes': [contiguous[s['category_id']]
                    for s in annotation['segments_info']],
    }
  return {'pattern': f'{prefix}-*-of-*', 'images': images}


def _eval_config(**kwargs):
  params = data_cfg.coco_panoptic_data(is_training=False,
                                       global_batch_size=1)
  params.parser.groundtruth_padded_size = [640, 640]
  params.override(kwargs, is_strict=False)
  return params


def _collect(dataset):
  out = []
  for image, labels in dataset:
    for b in range(image.shape[0]):
      out.append((image[b].numpy(),
                  {k: v[b].numpy() for k, v in labels.items()}))
  return out


def _check_eval_example(image, labels, truth):
  """Checks an evaluation example of the real sample against PIL and JSON."""
  rgb, png, segments = truth['rgb'], truth['png'], truth['segments']
  h, w = rgb.shape[:2]
  scale = 800 / min(h, w)
  if max(h, w) * scale > 1333:
    scale = 1333 / max(h, w)
  size = (int(h * scale + 0.5), int(w * scale + 0.5))
  np.testing.assert_allclose(labels['image_info'][:2], [[h, w], size])
  np.testing.assert_allclose(labels['image_info'][2],
                             [size[0] / h, size[1] / w], rtol=1e-6)
  # Original resolution: every segment mask exactly.
  groundtruth = labels['groundtruth_segment_map']
  ids = _ids(png)
  for slot, segment in enumerate(segments):
    np.testing.assert_array_equal(groundtruth[:h, :w] == slot,
                                  ids == segment['id'])
  assert (groundtruth[h:] == -1).all() and (groundtruth[:, w:] == -1).all()
  # Evaluation size: the original's resize (PIL NEAREST) exactly.
  resized_ids = _ids(np.asarray(Image.fromarray(png).resize(
      (size[1], size[0]), Image.NEAREST)))
  for slot, segment in enumerate(segments):
    np.testing.assert_array_equal(
        labels['segment_map'][:size[0], :size[1]] == slot,
        resized_ids == segment['id'])
  assert (labels['segment_map'][size[0]:] == -1).all()
  # Image: PIL bilinear to +-1 level, normalized, zero padding.
  expected = np.asarray(Image.fromarray(rgb).resize(
      (size[1], size[0]), Image.BILINEAR)).astype(float)
  restored = image[:size[0], :size[1]] * STD + MEAN
  assert np.abs(restored - expected).max() <= 1 + 1e-3
  assert (image[size[0]:] == 0).all() and (image[:, size[1]:] == 0).all()
  np.testing.assert_array_equal(labels['pixel_mask'][:size[0], :size[1]],
                                True)
  assert labels['pixel_mask'].sum() == size[0] * size[1]
  # Per-slot lists.
  n = len(segments)
  np.testing.assert_array_equal(labels['segment_classes'][:n],
                                truth['classes'])
  np.testing.assert_array_equal(labels['segment_is_crowd'][:n],
                                [bool(s['iscrowd']) for s in segments])
  np.testing.assert_array_equal(labels['segment_valid'],
                                np.arange(100) < n)


def test_evaluation_pipeline_on_the_real_sample(coco):
  params = _eval_config(input_path=coco['pattern'])
  examples = _collect(input_pipeline.build_input(params))
  assert sorted(int(labels['image_id']) for _, labels in examples) == sorted(
      coco['images'])
  for image, labels in examples:
    assert image.shape == (1344, 1344, 3)
    _check_eval_example(image, labels, coco['images'][int(labels['image_id'])])


@pytest.mark.parametrize('divisibility', [0, 32])
def test_evaluation_padded_only_to_the_size_divisibility(coco, divisibility):
  """The original's evaluation input: each image alone, no canvas."""
  params = _eval_config(input_path=coco['pattern'])
  params.parser.eval_padding = data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY
  params.parser.size_divisibility = divisibility
  examples = _collect(input_pipeline.build_input(params))
  assert len(examples) == len(coco['images'])
  for image, labels in examples:
    content = [int(round(s)) for s in labels['image_info'][1]]
    if divisibility:
      expected = [-(-s // divisibility) * divisibility for s in content]
    else:
      expected = content
    assert list(image.shape[:2]) == expected
    assert list(labels['pixel_mask'].shape) == expected
    assert list(labels['segment_map'].shape) == expected
    # Everything else exactly as on the canvas: the checks of the canvas
    # pipeline hold on the image's own padded size.
    _check_eval_example(image, labels,
                        coco['images'][int(labels['image_id'])])


def test_evaluation_without_canvas_needs_batches_of_one(coco):
  params = _eval_config(input_path=coco['pattern'], global_batch_size=2)
  params.parser.eval_padding = data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY
  with pytest.raises(ValueError, match='per-replica batch size must be 1'):
    input_pipeline.build_input(params)
  params.parser.eval_padding = 'bucket'
  with pytest.raises(ValueError, match='eval_padding'):
    input_pipeline.build_parser(params)


def test_deterministic_training_batches(coco):
  def read(seed):
    params = data_cfg.coco_panoptic_data(
        coco['pattern'], is_training=True, global_batch_size=2)
    params.override({'seed': seed, 'deterministic': True,
                     'parser': {'output_size': [320, 320],
                                'augmentation': {'type': 'large_scale_jitter'}}})
    return _collect(input_pipeline.build_input(params).take(3))

  first, again, other = read(3), read(3), read(4)
  for (image_a, labels_a), (image_b, labels_b) in zip(first, again):
    np.testing.assert_array_equal(image_a, image_b)
    for key in labels_a:
      np.testing.assert_array_equal(labels_a[key], labels_b[key])
  assert any(not np.array_equal(a[1]['segment_map'], b[1]['segment_map'])
             for a, b in zip(first, other))


def test_per_replica_sharding_splits_the_files(coco):
  seen = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2,
                                         input_pipeline_id=pipeline_id,
                                         num_replicas_in_sync=2)
    params = _eval_config(input_path=coco['pattern'], global_batch_size=2)
    ids = [int(labels['image_id']) for _, labels in _collect(
        input_pipeline.build_input(params, input_context=context))]
    assert len(ids) == 1  # Per-replica batch 1, one shard each.
    seen.extend(ids)
  assert sorted(seen) == sorted(coco['images'])


def _tfds_coco_examples(coco, encoded):
  for image_id, truth in sorted(coco['images'].items()):
    ids = _ids(truth['png'])
    yield {
        'image': truth['jpeg'] if encoded else truth['rgb'],
        'image/filename': f'{image_id:012d}.jpg',
        'image/id': image_id,
        'panoptic_image': truth['png'],
        'panoptic_image/filename': f'{image_id:012d}.png',
        'panoptic_objects': {
            'id': np.array([s['id'] for s in truth['segments']], np.int64),
            'area': np.array([(ids == s['id']).sum()
                              for s in truth['segments']], np.int64),
            'bbox': np.zeros([len(truth['segments']), 4], np.float32),
            'label': np.array(truth['classes'], np.int64),
            'is_crowd': np.array([bool(s['iscrowd'])
                                  for s in truth['segments']]),
        },
    }


def _mock_tfds(examples_fn, encoded_image=False):
  def as_dataset(self, *args, **kwargs):
    del args, kwargs
    signature = self.info.features.get_tensor_spec()
    if encoded_image:
      signature['image'] = tf.TensorSpec([], tf.string)
    return tf.data.Dataset.from_generator(examples_fn,
                                          output_signature=signature)

  return [tfds.testing.mock_data(as_dataset_fn=as_dataset),
          mock.patch.object(tfds.core.DatasetBuilder, 'is_prepared',
                            return_value=True)]


@pytest.mark.parametrize('encoded', [False, True],
                         ids=['decoded_by_tfds', 'skip_decoding'])
def test_tfds_coco_panoptic_matches_the_original(coco, encoded):
  patches = _mock_tfds(lambda: _tfds_coco_examples(coco, encoded), encoded)
  with patches[0], patches[1]:
    params = _eval_config(tfds_name='coco/2017_panoptic',
                          tfds_split='validation')
    from_tfds = _collect(input_pipeline.build_input(params))
  for image, labels in from_tfds:
    _check_eval_example(image, labels, coco['images'][int(labels['image_id'])])


@pytest.fixture
def ade(tmp_path):
  rng = np.random.default_rng(1)
  (tmp_path / 'images').mkdir()
  (tmp_path / 'labels').mkdir()
  examples = []
  for i, (h, w) in enumerate([(60, 80), (90, 50)], start=1):
    image = rng.integers(0, 256, (h, w, 3), np.uint8)
    label = rng.choice([0, 3, 9, 150], size=(h, w)).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / 'images' / f'ADE_{i:08d}.png')
    Image.fromarray(label).save(tmp_path / 'labels' / f'ADE_{i:08d}.png')
    examples.append({'image': image,
                     'annotation': np.stack([label, label // 2, label], -1)})
  tfrecords.convert_ade20k(
      str(tmp_path / 'images'), str(tmp_path / 'labels'),
      str(tmp_path / 'out' / 'val'), num_shards=1, progress=False)
  return {'pattern': str(tmp_path / 'out' / 'val-*-of-*'),
          'examples': examples}


def _ade_config(**kwargs):
  params = data_cfg.ade20k_semantic_data(is_training=False,
                                               global_batch_size=1)
  params.override(dict(kwargs, parser={'output_size': [128, 128],
                                       'eval_short_edge': 64,
                                       'eval_max_size': 128}),
                  is_strict=False)
  return params


def test_tfds_scene_parse150_matches_the_tfrecords(ade):
  from_records = _collect(input_pipeline.build_input(
      _ade_config(input_path=ade['pattern'])))
  patches = _mock_tfds(lambda: iter(ade['examples']))
  with patches[0], patches[1]:
    from_tfds = _collect(input_pipeline.build_input(
        _ade_config(tfds_name='scene_parse150', tfds_split='test')))
  assert len(from_records) == len(from_tfds) == 2
  for (image_a, labels_a), (image_b, labels_b) in zip(from_records, from_tfds):
    np.testing.assert_array_equal(image_a, image_b)
    assert labels_b['image_id'] == -1
    for key in labels_a:
      if key != 'image_id':
        np.testing.assert_array_equal(labels_a[key], labels_b[key])
  for (_, labels), example in zip(from_records, ade['examples']):
    classes = sorted(set(np.unique(example['annotation'][..., 0])) - {0})
    n = labels['segment_valid'].sum()
    assert list(labels['segment_classes'][:n]) == [c - 1 for c in classes]


def test_unprepared_tfds_dataset_is_a_clear_error(tmp_path):
  params = _eval_config(tfds_name='coco/2017_panoptic',
                        tfds_split='validation', tfds_data_dir=str(tmp_path))
  with pytest.raises(ValueError, match='not prepared'):
    input_pipeline.build_input(params)


@pytest.mark.parametrize('override,message', [
    ({'tfds_name': 'cityscapes'}, 'not supported'),
    ({'tfds_name': 'scene_parse150'}, 'semantic labels'),
    ({'decoder': {'label_type': 'depth'}}, 'label_type'),
])
def test_decoder_choice_errors(override, message):
  params = _eval_config(input_path='unused')
  if 'tfds_name' in override:
    params.input_path = ''
  params.override(override, is_strict=False)
  with pytest.raises(ValueError, match=message):
    input_pipeline.build_decoder(params)


def test_config_presets_and_overrides():
  coco = data_cfg.coco_panoptic_data('x-*', is_training=True)
  assert coco.parser.augmentation.type == 'detr_panoptic'
  assert coco.parser.augmentation.detr_panoptic.short_edges == list(
      range(480, 801, 32))
  assert coco.parser.output_size == [1344, 1344]
  assert coco.decoder.num_classes == 133
  # Training batches leave the normalization to the device; evaluation
  # batches, which `evaluation.dataset_prediction` feeds straight to the
  # model, are normalized.
  assert coco.parser.dtype == 'uint8'
  assert data_cfg.coco_panoptic_data(
      is_training=False).parser.dtype == 'float32'
  ade = data_cfg.ade20k_semantic_data(is_training=True)
  assert ade.parser.dtype == 'uint8'
  assert data_cfg.ade20k_semantic_data(
      is_training=False).parser.dtype == 'float32'
  assert ade.parser.label_resize == 'torch'
  assert ade.parser.augmentation.semantic_crop.crop_size == [512, 512]
  assert ade.decoder.label_type == 'semantic'
  ade.override({'parser': {'max_segments': 50, 'segment_overflow':
                           'keep_largest'}})
  assert ade.parser.max_segments == 50
  assert isinstance(input_pipeline.build_parser(ade),
                    segmentation_parser.Parser)


def test_panoptic_ids_to_segment_map():
  ids = tf.constant([[0, 5, 900000], [7, 5, 3]], tf.int32)
  segment_map = decoders.panoptic_ids_to_segment_map(
      ids, tf.constant([900000, 5, 3], tf.int32))
  np.testing.assert_array_equal(segment_map, [[-1, 1, 0], [-1, 1, 2]])
  empty = decoders.panoptic_ids_to_segment_map(ids, tf.zeros([0], tf.int32))
  np.testing.assert_array_equal(empty, -np.ones((2, 3)))


@pytest.mark.parametrize(
    'kind', ['detr_panoptic', 'semantic_crop', 'large_scale_jitter', 'none'])
def test_every_augmentation_type_survives_a_yaml_round_trip(kind, tmp_path):
  config = data_cfg.DataConfig()
  config.override({'parser': {'augmentation': {'type': kind}}})
  path = tmp_path / 'data.yaml'
  path.write_text(yaml.safe_dump(config.as_dict()))
  restored = hyperparams.override_params_dict(data_cfg.DataConfig(),
                                              str(path), is_strict=True)
  assert restored.parser.augmentation.type == kind
  assert restored.as_dict() == config.as_dict()
