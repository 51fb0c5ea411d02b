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

"""Tests of tools/evaluate_coco_panoptic.py on the real COCO sample."""
import contextlib
import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys

import conftest
import numpy as np
from official.core import task_factory
from PIL import Image
from pycocotools import coco
from pycocotools import cocoeval
from pycocotools import mask as mask_util
import pytest
import tensorflow as tf
import test_export_saved_model

from projects.maskformer.conversion import tfrecords
from projects.maskformer.evaluation import dataset_prediction

TOOL = conftest.REPO_ROOT / 'tools' / 'evaluate_coco_panoptic.py'


def _run(*args):
  env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT))
  return subprocess.run([sys.executable, str(TOOL), *args], env=env,
                        capture_output=True, text=True, timeout=120,
                        check=False)


@pytest.fixture
def files(coco_sample_dir, tmp_path):
  """Flags for the ground truth and an editable copy of it as predictions."""
  pred_folder = tmp_path / 'pred'
  shutil.copytree(coco_sample_dir / 'panoptic', pred_folder)
  with open(coco_sample_dir / 'panoptic.json') as f:
    content = json.load(f)
  predictions = {'annotations': [
      {'image_id': a['image_id'], 'file_name': a['file_name'],
       'segments_info': [{'id': s['id'], 'category_id': s['category_id']}
                         for s in a['segments_info']]}
      for a in content['annotations']]}
  pred_json = tmp_path / 'pred.json'
  with open(pred_json, 'w') as f:
    json.dump(predictions, f)
  return {'gt_json': coco_sample_dir / 'panoptic.json',
          'gt_folder': coco_sample_dir / 'panoptic',
          'pred_json': pred_json, 'pred_folder': pred_folder,
          'content': content, 'predictions': predictions}


def _flags(files, **overrides):
  values = {k: files[k] for k in ('gt_json', 'gt_folder', 'pred_json',
                                  'pred_folder')}
  values.update(overrides)
  return [f'--{k}={v}' for k, v in values.items()] + ['--noprogress']


def _rewrite_predictions(files, edit):
  edit(files['predictions'])
  with open(files['pred_json'], 'w') as f:
    json.dump(files['predictions'], f)


def test_ground_truth_against_itself(files, tmp_path):
  output = tmp_path / 'pq.json'
  result = _run(*_flags(files, output_json=output))
  assert result.returncode == 0, result.stderr
  assert result.stdout.splitlines() == [
      '          |    PQ     SQ     RQ     N',
      '--------------------------------------',
      'All       | 100.0  100.0  100.0     8',
      'Things    | 100.0  100.0  100.0     4',
      'Stuff     | 100.0  100.0  100.0     4',
  ]
  with open(output) as f:
    written = json.load(f)
  assert set(written) == {'All', 'Things', 'Stuff', 'per_class'}
  assert written['All'] == {'pq': 1.0, 'sq': 1.0, 'rq': 1.0, 'n': 8}
  assert len(written['per_class']) == 133
  assert written['per_class']['1'] == {'pq': 1.0, 'sq': 1.0, 'rq': 1.0}
  assert written['per_class']['2'] == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0}


def test_missed_segment_gives_the_coco_value(files, tmp_path):
  """One person of 26 non-crowd persons missed: PQ_person = 25 / 25.5."""
  image = files['predictions']['annotations'][0]
  missed = image['segments_info'][0]
  assert missed['category_id'] == 1
  path = files['pred_folder'] / image['file_name']
  rgb = np.array(Image.open(path))
  wide = rgb.astype(np.int64)
  ids = wide[..., 0] + 256 * wide[..., 1] + 65536 * wide[..., 2]
  rgb[ids == missed['id']] = 0
  Image.fromarray(rgb).save(path)
  _rewrite_predictions(files, lambda p: image['segments_info'].remove(missed))
  persons = sum(1 for a in files['content']['annotations']
                for s in a['segments_info']
                if s['category_id'] == 1 and not s['iscrowd'])
  assert persons == 26
  output = tmp_path / 'pq.json'
  result = _run(*_flags(files, output_json=output))
  assert result.returncode == 0, result.stderr
  with open(output) as f:
    written = json.load(f)
  person_pq = (persons - 1) / (persons - 1 + 0.5)
  assert written['per_class']['1']['pq'] == pytest.approx(person_pq)
  assert written['per_class']['1']['sq'] == pytest.approx(1.0)
  assert written['All']['pq'] == pytest.approx((7 + person_pq) / 8)
  assert written['Things']['pq'] == pytest.approx((3 + person_pq) / 4)
  assert written['Stuff']['pq'] == 1.0
  assert f'All       | {100 * (7 + person_pq) / 8:5.1f}' in result.stdout


def _drop_second_image(predictions):
  del predictions['annotations'][1]


def _unknown_category(predictions):
  predictions['annotations'][0]['segments_info'][0]['category_id'] = 999


def _segment_not_in_json(predictions):
  del predictions['annotations'][0]['segments_info'][0]


def _segment_not_in_png(predictions):
  predictions['annotations'][0]['segments_info'].append(
      {'id': 123, 'category_id': 1})


def _missing_png(predictions):
  predictions['annotations'][0]['file_name'] = 'absent.png'


@pytest.mark.parametrize('edit,message', [
    (_drop_second_image, 'has no prediction for image 439180'),
    (_unknown_category, 'unknown category_id 999'),
    (_segment_not_in_json, 'image 142238: segment id 3937500 is in the '
     'predicted PNG but not in the predicted segments_info'),
    (_segment_not_in_png, r'image 142238: predicted segment ids \[123\] are in '
     'the segments_info but not in the predicted PNG'),
    (_missing_png, 'absent.png does not exist'),
])
def test_inconsistent_predictions_fail_clearly(files, edit, message):
  _rewrite_predictions(files, edit)
  result = _run(*_flags(files))
  assert result.returncode == 1
  assert 'error:' in result.stderr
  assert re.search(message, result.stderr), result.stderr


def test_size_mismatch_fails_clearly(files):
  path = files['pred_folder'] / files['predictions']['annotations'][1][
      'file_name']
  Image.fromarray(np.array(Image.open(path))[:-1]).save(path)
  result = _run(*_flags(files))
  assert result.returncode == 1
  assert ('image 439180: the predicted panoptic map is (359, 640) but the '
          'ground truth is (360, 640)') in result.stderr


@pytest.mark.parametrize('flag,message', [
    ('pred_folder', 'prediction PNG folder {} does not exist'),
    ('gt_json', 'ground-truth JSON {} does not exist'),
])
def test_missing_inputs_fail_clearly(files, tmp_path, flag, message):
  absent = tmp_path / 'absent'
  result = _run(*_flags(files, **{flag: absent}))
  assert result.returncode == 1
  assert message.format(absent) in result.stderr


def test_invalid_json_fails_clearly(files):
  with open(files['pred_json'], 'w') as f:
    f.write('{"annotations": [')
  result = _run(*_flags(files))
  assert result.returncode == 1
  assert f'prediction JSON {files["pred_json"]} is not valid JSON' in (
      result.stderr)


def test_missing_flags_and_help():
  result = _run('--gt_json=x')
  assert result.returncode != 0
  assert 'missing required flags: --gt_folder, --pred_json, --pred_folder' in (
      result.stderr)
  result = _run('--help')  # absl prints the help and exits with status 1
  for flag in ('gt_json', 'gt_folder', 'pred_json', 'pred_folder',
               'instance_json', 'instance_ap', 'output_json', 'progress'):
    assert f'--{flag}' in result.stdout or f'--[no]{flag}' in result.stdout


def _run_model_mode(coco_sample_dir, tmp_path, *extra_flags):
  """The tool in model mode on the sample, with a random tiny model.

  Returns:
    (the finished process, the --output_dir).
  """
  tfrecords.convert_coco_panoptic(
      str(coco_sample_dir / 'panoptic.json'),
      str(coco_sample_dir / 'images'), str(coco_sample_dir / 'panoptic'),
      str(tmp_path / 'val'), num_shards=1, progress=False)
  experiment = test_export_saved_model.write_experiment(tmp_path,
                                                        coco_sample_dir)
  output_dir = tmp_path / 'eval'
  result = subprocess.run(
      [sys.executable, str(TOOL), '--experiment=maskformer_synthetic_cpu',
       f'--config_file={experiment.config_file}',
       f'--params_override=task.validation_data.input_path={tmp_path}/val-*,'
       'task.validation_data.parser.max_segments=100',
       f'--checkpoint={experiment.checkpoint}', f'--output_dir={output_dir}',
       f'--gt_json={coco_sample_dir / "panoptic.json"}',
       f'--gt_folder={coco_sample_dir / "panoptic"}', '--noprogress',
       *extra_flags],
      env=dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT)),
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return result, output_dir


def _image_sizes(coco_sample_dir):
  with open(coco_sample_dir / 'panoptic.json') as f:
    return {i['id']: (i['height'], i['width'])
            for i in json.load(f)['images']}


def _predicted_pngs(output_dir):
  """{image id: (segments_info, the PNG's segment-id map)}."""
  with open(output_dir / 'predictions.json') as f:
    annotations = json.load(f)['annotations']
  pngs = {}
  for annotation in annotations:
    rgb = np.asarray(Image.open(output_dir / 'predictions' /
                                annotation['file_name']), np.int64)
    pngs[annotation['image_id']] = (
        annotation['segments_info'],
        rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2])
  return pngs


def test_model_mode_batched_canvas_gives_the_per_image_predictions(
    coco_sample_dir, tmp_path):
  """The default (--padding=exact_canvas): both images in one batch on the
  64 x 64 canvas, each computed on its own region (43 x 64, 36 x 64), give
  the PNGs, segments and PQ of --padding=per_image (one image at a time at
  its own shape, the original's evaluation).

  The random model's panoptic map has near-ties that float32 rounding
  decides: measured 2026-12-05 (Intel Xeon), 0 of the 230,400 pixels differ
  with oneDNN on and 1 with it off. So the maps may differ in at most 10
  pixels (a plumbing error, such as the padding reaching the image or the
  whole-canvas upsampling, moves thousands); the numbers themselves are
  compared with float32 tolerances in tests/test_padding_exact.py.
  """
  runs = {}
  for padding in ('exact_canvas', 'per_image'):
    folder = tmp_path / padding
    folder.mkdir()
    output_json = folder / 'pq.json'
    result, output_dir = _run_model_mode(
        coco_sample_dir, folder, f'--padding={padding}',
        f'--output_json={output_json}')
    with open(output_json) as f:
      runs[padding] = (result, _predicted_pngs(output_dir), json.load(f))
  canvas, per_image = runs['exact_canvas'], runs['per_image']
  assert 'predicting batches of 8 on the 64x64 canvas' in canvas[0].stdout
  assert 'predicting one image at a time' in per_image[0].stdout
  sizes = _image_sizes(coco_sample_dir)
  assert sorted(canvas[1]) == sorted(per_image[1]) == sorted(sizes)
  differing = 0
  for image_id, (segments, ids) in canvas[1].items():
    assert ids.shape == sizes[image_id]
    expected_segments, expected_ids = per_image[1][image_id]
    # The same segments; scores differ by float32 rounding only.
    assert [(s['id'], s['category_id']) for s in segments] == [
        (s['id'], s['category_id']) for s in expected_segments]
    assert segments
    assert [s['score'] for s in segments] == pytest.approx(
        [s['score'] for s in expected_segments], rel=1e-5, abs=1e-7)
    differing += int(np.sum(ids != expected_ids))
  assert differing <= 10
  for metric in ('pq', 'sq', 'rq'):
    assert canvas[2]['All'][metric] == pytest.approx(
        per_image[2]['All'][metric], abs=1e-3)
  assert re.search(r'All\s+\|?\s*[\d.]+', canvas[0].stdout)
  assert not (tmp_path / 'exact_canvas' / 'eval' / 'instances.json').exists()


def _sample_segments(coco_sample_dir):
  """Every thing segment of the sample: (image_id, category name, iscrowd,
  category_id, bool [H, W] mask), decoded here from the PNGs."""
  with open(coco_sample_dir / 'panoptic.json') as f:
    content = json.load(f)
  categories = {c['id']: c for c in content['categories']}
  segments = []
  for annotation in content['annotations']:
    rgb = np.asarray(Image.open(coco_sample_dir / 'panoptic' /
                                annotation['file_name']).convert('RGB'),
                     np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]
    for s in annotation['segments_info']:
      category = categories[s['category_id']]
      if category['isthing']:
        segments.append((annotation['image_id'], category['name'],
                         s['iscrowd'], s['category_id'], ids == s['id']))
  return segments


def _result(image_id, category_id, mask, score):
  rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
  return {'image_id': image_id, 'category_id': category_id,
          'segmentation': {'size': rle['size'],
                           'counts': rle['counts'].decode('ascii')},
          'score': score}


def _run_instances(coco_sample_dir, tmp_path, results):
  instance_json = tmp_path / 'instances.json'
  instance_json.write_text(json.dumps(results))
  output = tmp_path / 'ap.json'
  run = _run(f'--gt_json={coco_sample_dir / "panoptic.json"}',
             f'--gt_folder={coco_sample_dir / "panoptic"}',
             f'--instance_json={instance_json}', f'--output_json={output}')
  assert run.returncode == 0, run.stderr
  with open(output) as f:
    return run.stdout, json.load(f)


def test_instance_ground_truth_against_itself(coco_sample_dir, tmp_path):
  """Every non-crowd thing segment predicted: AP 100. Crowd regions are COCO
  ignore regions: predicting them as well changes nothing."""
  segments = _sample_segments(coco_sample_dir)
  results = [_result(i, c, m, 1.0 if not crowd else 0.5)
             for i, _, crowd, c, m in segments]
  assert sum(crowd for _, _, crowd, _, _ in segments) == 3
  stdout, ap = _run_instances(coco_sample_dir, tmp_path, results)
  assert (ap['AP'], ap['AP50'], ap['AP75']) == (1.0, 1.0, 1.0)
  assert 'mask AP of 43 instances on 2 images (43 ground-truth thing ' \
      'segments)' in stdout
  assert stdout.splitlines()[-2].split() == [
      'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl']
  assert stdout.splitlines()[-1].split()[:3] == ['100.0'] * 3


def test_instance_perturbation_gives_the_hand_computed_ap(coco_sample_dir,
                                                          tmp_path):
  """One horse of 11 missed, one truck false positive ranked first.

  Masks are the ground truth's, so every IoU is 1 or 0 and AP50 = AP75 = AP.
  Four categories have non-crowd instances: person (26), sports ball (1),
  truck (2), horse (11). COCO interpolates precision at the 101 recall
  thresholds 0, 0.01, ..., 1:
    * horse: recall reaches 10/11 = 0.909 at precision 1: thresholds 0..0.90
      are met (91 of 101), the rest have precision 0: 91 / 101;
    * truck: the false positive ranks first; after it the two hits have
      precision 1/2 and 2/3; the best precision at any recall >= r is 2/3 for
      every threshold: 2 / 3;
    * person, sports ball: 1.
  """
  segments = [s for s in _sample_segments(coco_sample_dir) if not s[2]]
  counts = {}
  for _, name, _, _, _ in segments:
    counts[name] = counts.get(name, 0) + 1
  assert counts == {'person': 26, 'sports ball': 1, 'truck': 2, 'horse': 11}
  horses = [s for s in segments if s[1] == 'horse']
  truck_id = next(c for _, name, _, c, _ in segments if name == 'truck')
  results = [_result(i, c, m, 0.9) for i, _, _, c, m in segments
             if m is not horses[0][4]]
  results.append(_result(horses[0][0], truck_id, horses[0][4], 1.0))
  _, ap = _run_instances(coco_sample_dir, tmp_path, results)
  expected = (1.0 + 1.0 + 2.0 / 3.0 + 91.0 / 101.0) / 4.0
  for name in ('AP', 'AP50', 'AP75'):
    assert ap[name] == pytest.approx(expected, abs=1e-12), name


@pytest.mark.parametrize('edit,message', [
    (lambda r: r[0].update(image_id=7), 'result 0: image_id 7 is not in the '
     'ground truth'),
    (lambda r: r[0].pop('score'), 'result 0 lacks score'),
    (lambda r: r[0]['segmentation'].update(size=[4, 4]),
     r'result 0: mask size \[4, 4\] is not the size'),
])
def test_instance_mode_bad_results_fail_clearly(coco_sample_dir, tmp_path,
                                                edit, message):
  segment = _sample_segments(coco_sample_dir)[0]
  results = [_result(segment[0], segment[3], segment[4], 1.0)]
  edit(results)
  instance_json = tmp_path / 'instances.json'
  instance_json.write_text(json.dumps(results))
  run = _run(f'--gt_json={coco_sample_dir / "panoptic.json"}',
             f'--gt_folder={coco_sample_dir / "panoptic"}',
             f'--instance_json={instance_json}')
  assert run.returncode == 1
  assert re.fullmatch(f'error: {instance_json}: {message}.*\n', run.stderr)
  conflict = _run(f'--gt_json={coco_sample_dir / "panoptic.json"}',
                  f'--gt_folder={coco_sample_dir / "panoptic"}',
                  f'--instance_json={instance_json}', '--pred_json=x')
  assert conflict.returncode == 1
  assert 'excludes --pred_json/--pred_folder and --experiment' in (
      conflict.stderr)


def _cocoeval_stats(coco_sample_dir, results):
  """COCOeval's mask AP of `results`, against ground truth built here.

  The ground truth: every thing segment of the sample's PNGs (decoded by
  `_sample_segments`), crowd segments with iscrowd 1.
  """
  with open(coco_sample_dir / 'panoptic.json') as f:
    content = json.load(f)
  annotations = []
  for k, (image_id, _, crowd, category_id, mask) in enumerate(
      _sample_segments(coco_sample_dir)):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    annotations.append({'id': k + 1, 'image_id': image_id,
                        'category_id': category_id, 'iscrowd': crowd,
                        'segmentation': rle, 'area': float(mask.sum()),
                        'bbox': [float(v) for v in mask_util.toBbox(rle)]})
  with contextlib.redirect_stdout(io.StringIO()):
    ground_truth = coco.COCO()
    ground_truth.dataset = {
        'images': content['images'], 'annotations': annotations,
        'categories': [c for c in content['categories'] if c['isthing']]}
    ground_truth.createIndex()
    evaluation = cocoeval.COCOeval(
        ground_truth, ground_truth.loadRes(copy.deepcopy(results)),
        iouType='segm')
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
  return [float(v) for v in evaluation.stats[:6]]


def test_model_mode_instance_ap_is_cocoeval_of_the_model_instances(
    coco_sample_dir, tmp_path):
  """--instance_ap: the model's thing instances, each at its image's size,
  written in COCO's results format and scored with the AP that pycocotools'
  COCOeval gives them against the sample's thing segments; PQ as before."""
  output_json = tmp_path / 'metrics.json'
  result, output_dir = _run_model_mode(coco_sample_dir, tmp_path,
                                       '--instance_ap',
                                       f'--output_json={output_json}')
  with open(output_dir / 'instances.json') as f:
    instances = json.load(f)
  with open(coco_sample_dir / 'panoptic.json') as f:
    things = {c['id'] for c in json.load(f)['categories'] if c['isthing']}
  sizes = _image_sizes(coco_sample_dir)
  # Up to the post-processor's 100 (query, class) pairs per image, stuff
  # pairs dropped.
  assert 0 < len(instances) <= 100 * len(sizes)
  for instance in instances:
    assert instance['image_id'] in sizes
    assert instance['segmentation']['size'] == list(
        sizes[instance['image_id']])
    assert instance['category_id'] in things
    assert 0.0 <= instance['score'] <= 1.0
  assert (f'wrote {len(instances)} instance predictions to '
          f'{output_dir / "instances.json"}') in result.stdout
  with open(output_json) as f:
    metrics = json.load(f)
  assert set(metrics) >= {'All', 'Things', 'Stuff', 'per_class',
                          'instance_ap'}
  names = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl']
  assert [metrics['instance_ap'][n] for n in names] == pytest.approx(
      _cocoeval_stats(coco_sample_dir, instances), abs=1e-12)
  assert result.stdout.splitlines()[-2].split() == names


def test_instance_ap_needs_model_mode(files):
  result = _run(*_flags(files), '--instance_ap')
  assert result.returncode == 1
  assert result.stderr == ('error: --instance_ap needs model mode '
                           '(--experiment); score an instance results file '
                           'with --instance_json\n')


def _half_person_dataset(coco_sample_dir, folder):
  """One 64 x 64 image: a person on the left half, a banner on the right.

  Returns:
    (ground-truth JSON, PNG folder, TFRecord pattern).
  """
  for name in ('images', 'panoptic'):
    (folder / name).mkdir()
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(
      folder / 'images' / 'half.jpg')
  ids = np.ones((64, 64), np.uint8)
  ids[:, 32:] = 2  # segment id 2, the banner
  Image.fromarray(np.stack([ids, 0 * ids, 0 * ids], -1)).save(
      folder / 'panoptic' / 'half.png')
  with open(coco_sample_dir / 'panoptic_coco_categories.json') as f:
    categories = json.load(f)
  segments = [{'id': 1, 'category_id': 1, 'iscrowd': 0, 'area': 2048,
               'bbox': [0, 0, 32, 64]},
              {'id': 2, 'category_id': 92, 'iscrowd': 0, 'area': 2048,
               'bbox': [32, 0, 32, 64]}]
  gt_json = folder / 'panoptic.json'
  gt_json.write_text(json.dumps({
      'images': [{'id': 1, 'file_name': 'half.jpg', 'height': 64,
                  'width': 64}],
      'annotations': [{'image_id': 1, 'file_name': 'half.png',
                       'segments_info': segments}],
      'categories': categories}))
  tfrecords.convert_coco_panoptic(
      str(gt_json), str(folder / 'images'), str(folder / 'panoptic'),
      str(folder / 'val'), num_shards=1, progress=False)
  return gt_json, folder / 'panoptic', f'{folder}/val-*'


def test_instance_predictions_of_a_known_model_give_the_hand_computed_ap(
    coco_sample_dir, tmp_path):
  """A stand-in model whose query 0 is a person on the left half of the
  image, query 1 "no object" with an empty mask.

  Through the task's post-processing (Mask2Former's instance inference: the
  top 100 of the 2 x 133 (query, class) pairs, stuff pairs dropped), the
  person pair ranks first with the exact left half (the +-30 logits change
  sign at column 32 after the bilinear upsampling), so it matches the one
  ground-truth thing at IoU 1; every other person pair has an empty mask
  and score 0, ranked after it; other classes have no ground truth. Hence
  AP = AP50 = AP75 = 1, and APm = 1 (area 2048, between 32^2 and 96^2)
  while APs and APl are undefined (-1).
  """
  gt_json, gt_folder, records = _half_person_dataset(coco_sample_dir,
                                                     tmp_path)
  params = test_export_saved_model.tiny_experiment(
      test_export_saved_model.write_category_map(coco_sample_dir, tmp_path))
  params.task.validation_data.input_path = records
  params.task.validation_data.global_batch_size = 1
  task = task_factory.get_task(params.task)
  person = next(c['contiguous_id'] for c in task.categories
                if c['category_id'] == 1)
  num_classes = params.task.model.num_classes

  def model(images, training, valid_sizes):
    # The evaluation data is padding-exact: the 64 x 64 image is its region.
    assert not training
    tf.debugging.assert_equal(valid_sizes, tf.constant([[64, 64]]))
    height, width = images.shape[1] // 4, images.shape[2] // 4
    logits = np.zeros((1, 2, num_classes + 1), np.float32)
    logits[0, 0, person] = logits[0, 1, num_classes] = 30.0
    masks = np.full((1, 2, height, width), -30.0, np.float32)
    masks[0, 0, :64 // 4, :32 // 4] = 30.0
    return {'pred_logits': tf.constant(logits),
            'pred_masks': tf.constant(masks)}

  instance_json = tmp_path / 'instances.json'
  summary = dataset_prediction.write_panoptic_predictions(
      task, model, str(tmp_path / 'pred'), str(tmp_path / 'pred.json'),
      show_progress=False, instance_json=str(instance_json))
  with open(instance_json) as f:
    instances = json.load(f)
  assert summary['instances'] == len(instances) > 1
  first = instances[0]
  assert (first['image_id'], first['category_id']) == (1, 1)
  # Class probability ~1 times the mean mask probability: sigmoid(30) inside,
  # down to sigmoid(7.5) in the column next to the boundary.
  assert first['score'] == pytest.approx(1.0, abs=1e-4)
  assert mask_util.area(first['segmentation']) == 2048
  assert list(mask_util.toBbox(first['segmentation'])) == [0, 0, 32, 64]
  assert all(mask_util.area(r['segmentation']) in (0, 2048)
             for r in instances)

  output = tmp_path / 'ap.json'
  run = _run(f'--gt_json={gt_json}', f'--gt_folder={gt_folder}',
             f'--instance_json={instance_json}', f'--output_json={output}')
  assert run.returncode == 0, run.stderr
  with open(output) as f:
    assert json.load(f) == pytest.approx(
        {'AP': 1.0, 'AP50': 1.0, 'AP75': 1.0, 'APs': -1.0, 'APm': 1.0,
         'APl': -1.0}, abs=1e-12)
