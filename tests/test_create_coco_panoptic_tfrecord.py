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

"""COCO panoptic to TFRecord conversion: round trip on the real sample, errors."""
import json
import os
import shutil
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

TOOL = conftest.REPO_ROOT / 'tools' / 'create_coco_panoptic_tfrecord.py'


def _png_ids(path):
  """Panoptic ids of a PNG, computed with PIL and numpy only."""
  rgb = np.asarray(Image.open(path).convert('RGB')).astype(np.int64)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def _convert(sample, prefix, **kwargs):
  return tfrecords.convert_coco_panoptic(
      annotation_file=str(sample['json']), image_dir=str(sample['images']),
      panoptic_dir=str(sample['panoptic']), output_prefix=str(prefix),
      num_shards=kwargs.pop('num_shards', 2), progress=False, **kwargs)


def _decode_all(prefix, num_shards=2):
  decoder = decoders.PanopticTfExampleDecoder()
  decoded = {}
  for path in tfrecords.shard_paths(str(prefix), num_shards):
    for record in tf.data.TFRecordDataset(path):
      example = decoder.decode(record)
      decoded[int(example['image_id'])] = {
          k: v.numpy() for k, v in example.items()}
  return decoded


@pytest.fixture
def sample(coco_sample_dir, tmp_path):
  """A writable copy of the real COCO panoptic sample."""
  root = tmp_path / 'coco'
  shutil.copytree(coco_sample_dir, root)
  for path in root.rglob('*'):
    path.chmod(0o755 if path.is_dir() else 0o644)
  return {'root': root, 'json': root / 'panoptic.json',
          'images': root / 'images', 'panoptic': root / 'panoptic'}


@pytest.fixture(scope='module')
def converted(coco_sample_dir, tmp_path_factory):
  """The real sample converted once with 2 workers into 2 shards."""
  out = tmp_path_factory.mktemp('converted')
  summary = tfrecords.convert_coco_panoptic(
      annotation_file=str(coco_sample_dir / 'panoptic.json'),
      image_dir=str(coco_sample_dir / 'images'),
      panoptic_dir=str(coco_sample_dir / 'panoptic'),
      output_prefix=str(out / 'val'), num_shards=2, num_workers=2,
      progress=False)
  return out / 'val', summary


def test_round_trip_reproduces_every_segment_mask(converted, coco_sample_dir):
  prefix, summary = converted
  with open(coco_sample_dir / 'panoptic.json') as f:
    truth = json.load(f)
  contiguous = {c['id']: i for i, c in enumerate(
      sorted(truth['categories'], key=lambda c: c['id']))}
  decoded = _decode_all(prefix)
  assert sorted(decoded) == sorted(i['id'] for i in truth['images'])
  num_segments = num_crowd = 0
  for annotation in truth['annotations']:
    example = decoded[annotation['image_id']]
    ids = _png_ids(coco_sample_dir / 'panoptic' / annotation['file_name'])
    segments = annotation['segments_info']
    assert example['segment_map'].shape == ids.shape
    for slot, segment in enumerate(segments):
      np.testing.assert_array_equal(example['segment_map'] == slot,
                                    ids == segment['id'])
    np.testing.assert_array_equal(example['segment_map'] == -1, ids == 0)
    np.testing.assert_array_equal(
        example['segment_classes'],
        [contiguous[s['category_id']] for s in segments])
    np.testing.assert_array_equal(example['segment_is_crowd'],
                                  [bool(s['iscrowd']) for s in segments])
    num_segments += len(segments)
    num_crowd += sum(s['iscrowd'] for s in segments)
  assert summary.images == 2
  assert summary.segments == num_segments == 50
  assert summary.crowd_segments == num_crowd > 0
  assert dict(summary.skipped) == {}


def test_round_trip_keeps_image_pixels_and_sizes(converted, coco_sample_dir):
  prefix, _ = converted
  with open(coco_sample_dir / 'panoptic.json') as f:
    images = {i['id']: i for i in json.load(f)['images']}
  for image_id, example in _decode_all(prefix).items():
    info = images[image_id]
    pixels = np.asarray(Image.open(
        coco_sample_dir / 'images' / info['file_name']).convert('RGB'))
    assert example['image'].shape == (info['height'], info['width'], 3)
    # The JPEGs decode exactly as PIL (the original's reader) decodes them.
    np.testing.assert_array_equal(example['image'], pixels)


def test_extra_fields_and_category_map(converted, coco_sample_dir):
  prefix, _ = converted
  with open(coco_sample_dir / 'panoptic_coco_categories.json') as f:
    reference = sorted(json.load(f), key=lambda c: c['id'])
  with open(tfrecords.category_map_path(str(prefix))) as f:
    category_map = json.load(f)
  assert category_map['num_classes'] == 133
  assert [c['category_id'] for c in category_map['categories']] == [
      c['id'] for c in reference]
  assert [c['contiguous_id'] for c in category_map['categories']] == list(
      range(133))
  assert [c['isthing'] for c in category_map['categories']] == [
      c['isthing'] for c in reference]
  with open(coco_sample_dir / 'panoptic.json') as f:
    truth = json.load(f)
  files = {i['id']: i['file_name'] for i in truth['images']}
  for path in tfrecords.shard_paths(str(prefix), 2):
    for record in tf.data.TFRecordDataset(path):
      feature = tf.train.Example.FromString(record.numpy()).features.feature
      image_id = feature['image/id'].int64_list.value[0]
      annotation = next(a for a in truth['annotations']
                        if a['image_id'] == image_id)
      ids = _png_ids(coco_sample_dir / 'panoptic' / annotation['file_name'])
      assert feature['image/filename'].bytes_list.value[0].decode() == (
          files[image_id])
      assert list(feature['image/panoptic/segment_category_ids']
                  .int64_list.value) == [
                      s['category_id'] for s in annotation['segments_info']]
      assert list(feature['image/panoptic/segment_areas'].int64_list.value) == [
          int((ids == s['id']).sum()) for s in annotation['segments_info']]


def test_shards_do_not_depend_on_the_number_of_workers(converted, sample,
                                                       tmp_path):
  prefix, _ = converted
  _convert(sample, tmp_path / 'serial', num_workers=0)
  for a, b in zip(tfrecords.shard_paths(str(prefix), 2),
                  tfrecords.shard_paths(str(tmp_path / 'serial'),
                                                  2)):
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
      assert fa.read() == fb.read()


def test_area_zero_segment_absent_from_png_is_kept(sample, tmp_path):
  with open(sample['json']) as f:
    content = json.load(f)
  content['annotations'][0]['segments_info'].append(
      {'id': 12345678, 'category_id': 1, 'iscrowd': 0, 'area': 0,
       'bbox': [0, 0, 0, 0]})
  with open(sample['json'], 'w') as f:
    json.dump(content, f)
  summary = _convert(sample, tmp_path / 'out')
  assert summary.empty_segments == 1
  image_id = content['annotations'][0]['image_id']
  example = _decode_all(tmp_path / 'out')[image_id]
  last = len(content['annotations'][0]['segments_info']) - 1
  assert example['segment_classes'].shape == (last + 1,)
  assert not (example['segment_map'] == last).any()


def _edit_json(sample, edit):
  with open(sample['json']) as f:
    content = json.load(f)
  edit(content)
  with open(sample['json'], 'w') as f:
    json.dump(content, f)


def _first_png(sample):
  with open(sample['json']) as f:
    return sample['panoptic'] / json.load(f)['annotations'][0]['file_name']


def _first_image(sample):
  with open(sample['json']) as f:
    return sample['images'] / json.load(f)['images'][0]['file_name']


def _remove_image(sample):
  os.remove(_first_image(sample))
  return 'missing_image', _first_image(sample).name


def _remove_png(sample):
  os.remove(_first_png(sample))
  return 'missing_png', _first_png(sample).name


def _unlisted_png_segment(sample):
  png = _first_png(sample)
  rgb = np.array(Image.open(png))
  rgb[:3, :3] = [7, 7, 7]  # id 7 + 7 * 256 + 7 * 65536, not in the JSON.
  Image.fromarray(rgb).save(png)
  return 'segment_not_in_json', png.name


def _json_segment_missing_from_png(sample):
  _edit_json(sample, lambda c: c['annotations'][0]['segments_info'].append(
      {'id': 999, 'category_id': 1, 'iscrowd': 0, 'area': 10}))
  return 'segment_not_in_png', _first_png(sample).name


def _unknown_category(sample):
  _edit_json(sample, lambda c: c['annotations'][0]['segments_info'][0].update(
      category_id=250))
  return 'unknown_category', 'panoptic.json'


def _corrupt_image(sample):
  path = _first_image(sample)
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 3])
  return 'corrupt_image', path.name


def _corrupt_png(sample):
  _first_png(sample).write_bytes(b'\x89PNG\r\n\x1a\nthis is not a png')
  return 'corrupt_png', _first_png(sample).name


def _size_mismatch(sample):
  _edit_json(sample, lambda c: c['images'][0].update(height=100))
  return 'size_mismatch', _first_image(sample).name


def _no_annotation(sample):
  _edit_json(sample, lambda c: c['annotations'].pop(0))
  return 'no_annotation', None


BAD_INPUTS = [_remove_image, _remove_png, _unlisted_png_segment,
              _json_segment_missing_from_png, _unknown_category,
              _corrupt_image, _corrupt_png, _size_mismatch, _no_annotation]


@pytest.mark.parametrize('break_input', BAD_INPUTS,
                         ids=[f.__name__[1:] for f in BAD_INPUTS])
def test_bad_input_fails_naming_the_file_and_leaves_nothing(
    sample, tmp_path, break_input):
  reason, file_name = break_input(sample)
  out = tmp_path / 'out'
  with pytest.raises(loading.ConversionError) as error:
    _convert(sample, out / 'train')
  assert error.value.reason == reason
  if file_name:
    assert file_name in str(error.value)
  assert not out.exists() or os.listdir(out) == []


@pytest.mark.parametrize('break_input', [_remove_png, _unknown_category],
                         ids=['missing_png', 'unknown_category'])
def test_skip_invalid_counts_reasons_and_writes_the_rest(sample, tmp_path,
                                                         break_input):
  reason, _ = break_input(sample)
  summary = _convert(sample, tmp_path / 'out', skip_invalid=True,
                     num_workers=2)
  assert summary.images == 1
  assert dict(summary.skipped) == {reason: 1}
  assert reason in summary.report()
  # One image left: one shard, not an empty second one.
  assert summary.shard_files == tfrecords.shard_paths(
      str(tmp_path / 'out'), 1)
  assert len(_decode_all(tmp_path / 'out', num_shards=1)) == 1


def _shards(directory):
  return sorted(p.name for p in directory.iterdir() if p.suffix == '.tfrecord')


def test_fewer_images_than_shards_give_no_empty_shard(sample, tmp_path):
  summary = _convert(sample, tmp_path / 'val', num_shards=8, num_workers=2)
  assert summary.shard_sizes == [1, 1]
  assert _shards(tmp_path) == ['val-00000-of-00002.tfrecord',
                               'val-00001-of-00002.tfrecord']
  assert len(_decode_all(tmp_path / 'val', num_shards=2)) == 2


def test_converting_again_with_another_shard_count_replaces_the_shards(
    sample, tmp_path):
  _convert(sample, tmp_path / 'val', num_shards=2)
  (tmp_path / 'val-other.tfrecord').write_bytes(b'not a shard of the prefix')
  summary = _convert(sample, tmp_path / 'val', num_shards=1)
  assert summary.removed_files == [str(tmp_path / f'val-0000{i}-of-00002'
                                                   '.tfrecord') for i in (0, 1)]
  assert 'replaced:                2 shards' in summary.report()
  assert _shards(tmp_path) == ['val-00000-of-00001.tfrecord',
                               'val-other.tfrecord']
  # The documented pattern reads every image exactly once.
  pattern = str(tmp_path / 'val-*-of-*')
  image_ids = [
      int(decoders.PanopticTfExampleDecoder().decode(r)['image_id'])
      for r in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern))]
  assert sorted(image_ids) == [142238, 439180]


def test_empty_input_is_an_error_and_changes_nothing(sample, tmp_path):
  _convert(sample, tmp_path / 'val', num_shards=2)
  before = sorted(os.listdir(tmp_path))
  _edit_json(sample, lambda c: c.update(images=[], annotations=[]))
  with pytest.raises(loading.ConversionError) as error:
    _convert(sample, tmp_path / 'val', num_shards=1)
  assert error.value.reason == 'empty_input'
  assert str(sample['json']) in str(error.value)
  assert sorted(os.listdir(tmp_path)) == before


def test_every_image_skipped_is_an_error(sample, tmp_path):
  _edit_json(sample, lambda c: [
      s.update(category_id=250) for a in c['annotations']
      for s in a['segments_info'][:1]])
  with pytest.raises(loading.ConversionError) as error:
    _convert(sample, tmp_path / 'out' / 'val', skip_invalid=True)
  assert error.value.reason == 'empty_output'
  assert 'all 2 images were skipped' in str(error.value)
  assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')


def _run_tool(*args):
  env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT))
  return subprocess.run([sys.executable, str(TOOL), *args], env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)


def test_tool_converts_and_reports_errors(sample, tmp_path):
  flags = [f'--image_dir={sample["images"]}',
           f'--annotation_file={sample["json"]}',
           f'--panoptic_dir={sample["panoptic"]}',
           '--num_shards=2', '--num_workers=0', '--noprogress']
  ok = _run_tool(*flags, f'--output_prefix={tmp_path / "ok" / "val"}')
  assert ok.returncode == 0, ok.stderr
  assert 'images written:          2' in ok.stdout
  assert 'crowd segments:          3' in ok.stdout
  assert sorted(os.listdir(tmp_path / 'ok')) == [
      'categories_val.json', 'val-00000-of-00002.tfrecord',
      'val-00001-of-00002.tfrecord']

  _, png_name = _remove_png(sample)
  bad = _run_tool(*flags, f'--output_prefix={tmp_path / "bad" / "val"}')
  conftest.assert_one_line_error(
      bad, f'{png_name}: label PNG not found; nothing was written '
      '[missing_png]')
  assert os.listdir(tmp_path / 'bad') == []

  missing_flag = _run_tool('--image_dir=x')
  conftest.assert_one_line_error(
      missing_flag, 'error: missing required flags: --annotation_file, '
      '--panoptic_dir, --output_prefix')
