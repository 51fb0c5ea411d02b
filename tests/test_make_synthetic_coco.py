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

"""Tests of tools/make_synthetic_coco.py (the demo's embedded dataset)."""
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import conftest
import numpy as np
import pytest
import tensorflow as tf

TOOL = conftest.REPO_ROOT / 'tools' / 'make_synthetic_coco.py'


def _run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, str(TOOL), *args], env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)


def _digest(root: pathlib.Path):
  return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  out = tmp_path_factory.mktemp('syn') / 'coco'
  result = _run(f'--output_dir={out}', '--num_train=6', '--num_val=2',
                '--image_size=96', '--crowd_probability=0.3', '--seed=3')
  assert result.returncode == 0, result.stderr[-3000:]
  return out


def test_same_seed_gives_identical_bytes(dataset, tmp_path):
  again = tmp_path / 'coco'
  result = _run(f'--output_dir={again}', '--num_train=6', '--num_val=2',
                '--image_size=96', '--crowd_probability=0.3', '--seed=3')
  assert result.returncode == 0, result.stderr[-3000:]
  assert _digest(dataset) == _digest(again)


@pytest.mark.parametrize('split,num_images', [('train', 6), ('val', 2)])
def test_annotations_agree_with_pngs(dataset, split, num_images):
  with open(dataset / 'annotations' / f'panoptic_{split}2017.json') as f:
    data = json.load(f)
  category_ids = {c['id'] for c in data['categories']}
  assert {c['isthing'] for c in data['categories']} == {0, 1}
  assert len(data['images']) == len(data['annotations']) == num_images
  for image, ann in zip(data['images'], data['annotations']):
    assert image['id'] == ann['image_id']
    pixels = tf.io.decode_jpeg(tf.io.read_file(
        str(dataset / f'{split}2017' / image['file_name']))).numpy()
    assert pixels.shape == (image['height'], image['width'], 3)
    rgb = tf.io.decode_png(tf.io.read_file(str(
        dataset / 'annotations' / f'panoptic_{split}2017' /
        ann['file_name']))).numpy().astype(np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 256 ** 2 * rgb[..., 2]
    present = set(np.unique(ids).tolist()) - {0}
    assert present == {s['id'] for s in ann['segments_info']}
    for segment in ann['segments_info']:
      assert segment['category_id'] in category_ids
      assert segment['area'] == int((ids == segment['id']).sum()) > 0
      rows, cols = np.nonzero(ids == segment['id'])
      assert segment['bbox'] == [cols.min(), rows.min(),
                                 cols.max() - cols.min() + 1,
                                 rows.max() - rows.min() + 1]


def test_refuses_to_overwrite_without_flag(dataset):
  result = _run(f'--output_dir={dataset}', '--num_train=1', '--num_val=0')
  assert result.returncode != 0
  assert 'not empty' in result.stderr and '--overwrite' in result.stderr


@pytest.mark.parametrize('flag,message', [
    ('--image_size=16', '--image_size must be >= 64'),
    ('--crowd_probability=1.5', '--crowd_probability must be in [0, 1]'),
    ('--max_things=0', '--max_things must be >= 1'),
])
def test_bad_flags_are_rejected(tmp_path, flag, message):
  result = _run(f'--output_dir={tmp_path / "x"}', flag)
  assert result.returncode != 0
  assert message in result.stderr
  assert not (tmp_path / 'x').exists()
