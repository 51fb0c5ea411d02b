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

"""ADE20K-150 to TFRecord conversion on a tiny generated dataset."""
import json
import os
import subprocess
import sys

import conftest
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from projects.maskformer.conversion import loading
from projects.maskformer.conversion import tfrecords
from projects.maskformer.dataloaders import decoders

TOOL = conftest.REPO_ROOT / 'tools' / 'create_ade20k_tfrecord.py'
SIZES = {'ADE_val_00000001': (24, 32), 'ADE_val_00000002': (40, 30),
         'ADE_val_00000017': (33, 47)}


@pytest.fixture
def ade(tmp_path):
  """Images and labels in the ADEChallengeData2016 layout."""
  rng = np.random.default_rng(0)
  images, labels = tmp_path / 'images', tmp_path / 'annotations'
  images.mkdir()
  labels.mkdir()
  for stem, (h, w) in SIZES.items():
    Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8)).save(
        images / f'{stem}.jpg', quality=90)
    label = rng.choice([0, 1, 5, 77, 150], size=(h, w)).astype(np.uint8)
    Image.fromarray(label).save(labels / f'{stem}.png')
  return {'images': images, 'labels': labels}


def _convert(ade, prefix, **kwargs):
  return tfrecords.convert_ade20k(
      image_dir=str(ade['images']), label_dir=str(ade['labels']),
      output_prefix=str(prefix), num_shards=2, progress=False, **kwargs)


def _decode_all(prefix):
  decoder = decoders.SemanticTfExampleDecoder(num_classes=150)
  decoded = {}
  for path in tfrecords.shard_paths(str(prefix), 2):
    for record in tf.data.TFRecordDataset(path):
      example = decoder.decode(record)
      decoded[int(example['image_id'])] = {
          k: v.numpy() for k, v in example.items()}
  return decoded


def test_round_trip(ade, tmp_path):
  summary = _convert(ade, tmp_path / 'out' / 'val', num_workers=2)
  decoded = _decode_all(tmp_path / 'out' / 'val')
  assert sorted(decoded) == [1, 2, 17]
  expected_classes = 0
  for stem, (h, w) in SIZES.items():
    example = decoded[int(stem[-8:])]
    label = np.asarray(Image.open(ade['labels'] / f'{stem}.png')).astype(int)
    np.testing.assert_array_equal(example['segment_map'], label - 1)
    np.testing.assert_array_equal(
        example['image'],
        np.asarray(Image.open(ade['images'] / f'{stem}.jpg').convert('RGB')))
    assert example['image'].shape == (h, w, 3)
    np.testing.assert_array_equal(example['segment_classes'], np.arange(150))
    assert not example['segment_is_crowd'].any()
    expected_classes += len(set(np.unique(label)) - {0})
  assert summary.images == 3
  assert summary.segments == expected_classes
  with open(tfrecords.category_map_path(
      str(tmp_path / 'out' / 'val'))) as f:
    category_map = json.load(f)
  assert category_map['num_classes'] == 150
  assert category_map['categories'][0] == {'contiguous_id': 0,
                                           'label_value': 1}


def _missing_label(ade):
  os.remove(ade['labels'] / 'ADE_val_00000002.png')
  return 'missing_label', 'ADE_val_00000002.png'


def _label_out_of_range(ade):
  label = np.full((40, 30), 151, np.uint8)
  Image.fromarray(label).save(ade['labels'] / 'ADE_val_00000002.png')
  return 'label_out_of_range', 'ADE_val_00000002.png'


def _label_size_mismatch(ade):
  Image.fromarray(np.ones((10, 10), np.uint8)).save(
      ade['labels'] / 'ADE_val_00000002.png')
  return 'size_mismatch', 'ADE_val_00000002.png'


def _rgb_label(ade):
  Image.fromarray(np.ones((40, 30, 3), np.uint8)).save(
      ade['labels'] / 'ADE_val_00000002.png')
  return 'corrupt_png', 'ADE_val_00000002.png'


def _corrupt_image(ade):
  path = ade['images'] / 'ADE_val_00000002.jpg'
  path.write_bytes(path.read_bytes()[:100])
  return 'corrupt_image', 'ADE_val_00000002.jpg'


BAD_INPUTS = [_missing_label, _label_out_of_range, _label_size_mismatch,
              _rgb_label, _corrupt_image]


@pytest.mark.parametrize('break_input', BAD_INPUTS,
                         ids=[f.__name__[1:] for f in BAD_INPUTS])
def test_bad_input_fails_naming_the_file_and_leaves_nothing(
    ade, tmp_path, break_input):
  reason, file_name = break_input(ade)
  out = tmp_path / 'out'
  with pytest.raises(loading.ConversionError) as error:
    _convert(ade, out / 'val')
  assert error.value.reason == reason
  assert file_name in str(error.value)
  assert not out.exists() or os.listdir(out) == []
  summary = _convert(ade, out / 'val', skip_invalid=True)
  assert summary.images == 2 and dict(summary.skipped) == {reason: 1}


def test_empty_image_folder_is_an_error(tmp_path):
  (tmp_path / 'images').mkdir()
  with pytest.raises(loading.ConversionError, match='no .jpg'):
    tfrecords.convert_ade20k(
        str(tmp_path / 'images'), str(tmp_path), str(tmp_path / 'out' / 'x'),
        num_shards=1, progress=False)


def test_tool(ade, tmp_path):
  env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT))
  flags = [f'--image_dir={ade["images"]}', f'--label_dir={ade["labels"]}',
           '--num_shards=2', '--num_workers=0', '--noprogress']
  ok = subprocess.run(
      [sys.executable, str(TOOL), *flags,
       f'--output_prefix={tmp_path / "ok" / "val"}'],
      env=env, capture_output=True, text=True, timeout=300, check=False)
  assert ok.returncode == 0, ok.stderr
  assert 'images written:          3' in ok.stdout
  _label_out_of_range(ade)
  bad = subprocess.run(
      [sys.executable, str(TOOL), *flags,
       f'--output_prefix={tmp_path / "bad" / "val"}'],
      env=env, capture_output=True, text=True, timeout=300, check=False)
  conftest.assert_one_line_error(bad, 'ADE_val_00000002.png')
  assert os.listdir(tmp_path / 'bad') == []
