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

"""Every tool answers user mistakes with one named line, exit 1, no traceback.

Each case runs a tool in a subprocess with a missing or corrupt input, an
unwritable output or a missing flag, and checks the exit status, that
stderr is exactly one line `error: ...` naming the problem (TensorFlow's
start-up log is quiet by default), and that nothing was written. The
processes start TensorFlow, so they run two at a time. Missing flags and
inputs of the converters, evaluation, prediction and YAML export are checked
the same way by those tools' own tests.
"""
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
from typing import Tuple

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Case:
  tool: str
  args: Tuple[str, ...]
  message: str
  # Paths (relative to the case's folder) that must not exist afterwards.
  absent: Tuple[str, ...] = ()


def _cases(coco):
  images, annotations, panoptic = (coco / 'images', coco / 'panoptic.json',
                                   coco / 'panoptic')
  coco_flags = (f'--image_dir={images}', f'--annotation_file={annotations}',
                f'--panoptic_dir={panoptic}', '--noprogress')
  # A regular file: nothing can be created below it, not even by root.
  blocked = 'blocker/out'
  return {
      'coco_tfrecord_images_without_annotations': Case(
          'create_coco_panoptic_tfrecord',
          coco_flags[:1] + ('--annotation_file={dir}/no_images.json',) +
          coco_flags[2:] + ('--output_prefix={dir}/out/val',),
          'no_images.json: there are no images to convert; nothing was '
          'written [empty_input]', ('out',)),
      'coco_tfrecord_unwritable_output': Case(
          'create_coco_panoptic_tfrecord',
          coco_flags + (f'--output_prefix={{dir}}/{blocked}/val',),
          'cannot write --output_prefix {dir}/blocker/out/val: {dir}/blocker '
          'is not a folder'),
      'checkpoint_empty_pickle': Case(
          'convert_pytorch_checkpoint',
          ('--source={dir}/empty.pkl', '--output={dir}/out/ckpt',
           '--backbone_only'),
          '{dir}/empty.pkl is not a readable pickle: it is empty or '
          'truncated', ('out',)),
      'checkpoint_unwritable_output': Case(
          'convert_pytorch_checkpoint',
          ('--source={dir}/empty.pkl', f'--output={{dir}}/{blocked}/ckpt'),
          'cannot write --output {dir}/blocker/out/ckpt: {dir}/blocker is '
          'not a folder'),
      'experiment_yaml_corrupt_config': Case(
          'export_experiment_yaml',
          ('--experiment=maskformer_synthetic_cpu',
           '--config_file={dir}/corrupt.yaml', '--output={dir}/out.yaml'),
          '--config_file {dir}/corrupt.yaml is not valid YAML',
          ('out.yaml',)),
      'saved_model_unwritable_output': Case(
          'export_saved_model',
          ('--experiment=maskformer_synthetic_cpu', '--checkpoint={dir}/ckpt',
           f'--export_dir={{dir}}/{blocked}'),
          'cannot write --export_dir {dir}/blocker/out'),
      'synthetic_coco_unwritable_output': Case(
          'make_synthetic_coco', (f'--output_dir={{dir}}/{blocked}',),
          'cannot write --output_dir {dir}/blocker/out'),
      'benchmark_input_missing_sample': Case(
          'benchmark_input', ('--sample_dir={dir}/absent',),
          '--sample_dir {dir}/absent is not a COCO panoptic sample folder'),
      'benchmark_mask2former_without_deep_supervision': Case(
          'benchmark', ('--architecture=mask2former', '--nodeep_supervision',
                        '--output_json={dir}/out.json',
                        '--markdown={dir}/out.md'),
          '--nodeep_supervision is not supported with '
          '--architecture=mask2former: Mask2Former always trains with deep '
          'supervision', ('out.json', 'out.md')),
      'benchmark_matcher_unknown_flag': Case(
          'benchmark_matcher', ('--no_such_flag=1',),
          "Unknown command line flag 'no_such_flag'"),
  }


def _run(case: Case, directory: pathlib.Path) -> subprocess.CompletedProcess:
  env = dict(os.environ)
  env.pop('TF_CPP_MIN_LOG_LEVEL', None)  # The tools' own default applies.
  args = [a.replace('{dir}', str(directory)) for a in case.args]
  return subprocess.run(
      [sys.executable, str(REPO_ROOT / 'tools' / f'{case.tool}.py'), *args],
      cwd=directory, env=env, capture_output=True, text=True, timeout=300,
      check=False)


@pytest.fixture(scope='module')
def runs(tmp_path_factory, coco_sample_dir):
  """Runs every case (two processes at a time); name -> (case, dir, result)."""
  cases = _cases(coco_sample_dir)
  directories = {}
  for name in cases:
    directory = tmp_path_factory.mktemp(name)
    (directory / 'blocker').write_text('a file, not a folder')
    (directory / 'empty.pkl').write_bytes(b'')
    (directory / 'corrupt.yaml').write_text('task: [unclosed\n')
    (directory / 'no_images.json').write_text(json.dumps(
        {'images': [], 'annotations': [], 'categories': json.loads(
            (coco_sample_dir / 'panoptic.json').read_text())['categories']}))
    directories[name] = directory
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    futures = {name: pool.submit(_run, case, directories[name])
               for name, case in cases.items()}
    return {name: (cases[name], directories[name], future.result())
            for name, future in futures.items()}


@pytest.mark.parametrize('name', sorted(_cases(pathlib.Path('coco'))))
def test_user_mistake_is_one_named_line(runs, name):
  case, directory, result = runs[name]
  assert 'Traceback' not in result.stderr, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith('error: '), result.stderr
  assert case.message.replace('{dir}', str(directory)) in lines[0]
  assert result.returncode == 1
  for path in case.absent:
    assert not (directory / path).exists(), path


@pytest.mark.parametrize('tool,expected', [
    ('convert_pytorch_checkpoint', (
        'source', 'output', 'backbone_only', 'naming', 'experiment',
        'config_file', 'params_override')),
    ('benchmark', ('architecture', 'deep_supervision', 'quick',
                   'output_json', 'markdown')),
])
def test_help_shows_every_flag_and_exits_0(tool, expected):
  result = subprocess.run(
      [sys.executable, str(REPO_ROOT / 'tools' / f'{tool}.py'), '--help'],
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  listed = {line.split(':')[0].strip().replace('[no]', '')
            for line in result.stdout.splitlines()
            if line.startswith('  --')}
  assert {f'--{name}' for name in expected} <= listed
  assert result.stderr == ''
