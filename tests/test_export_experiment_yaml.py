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

"""Tests of tools/export_experiment_yaml.py."""
import os
import subprocess
import sys

import conftest
from official.core import exp_factory
import yaml

from projects.maskformer import registry_imports  # noqa: F401

TOOL = conftest.REPO_ROOT / 'tools' / 'export_experiment_yaml.py'


def _run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, str(TOOL), *args], env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)


def test_writes_the_registered_experiment_with_overrides(tmp_path):
  output = tmp_path / 'exp.yaml'
  result = _run('--experiment=maskformer_synthetic_cpu',
                '--params_override=trainer.train_steps=7', f'--output={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  expected = exp_factory.get_exp_config('maskformer_synthetic_cpu')
  expected.override({'trainer': {'train_steps': 7}})
  assert yaml.safe_load(output.read_text()) == expected.as_dict()


def test_output_dir_writes_the_mirrors_byte_for_byte(tmp_path):
  result = _run(f'--output_dir={tmp_path / "configs"}')
  assert result.returncode == 0, result.stderr[-3000:]
  written = {p.name: p.read_bytes() for p in (tmp_path / 'configs').iterdir()}
  mirrors = {p.name: p.read_bytes()
             for p in (conftest.REPO_ROOT / 'configs').glob('*.yaml')}
  # MaskFormer's and Mask2Former's experiments, and nothing else registered.
  assert sorted(written) == sorted(mirrors) == sorted(
      f'{prefix}_{name}.yaml' for prefix, names in (
          ('maskformer', ('coco_panoptic_r50', 'coco_panoptic_r101',
                          'ade20k_semantic_r50', 'synthetic_cpu')),
          ('mask2former', ('coco_panoptic_r50', 'coco_instance_r50',
                           'ade20k_semantic_r50', 'synthetic_cpu')))
      for name in names)
  for name, text in written.items():
    assert text == mirrors[name], (
        f'configs/{name} is out of date: python '
        'tools/export_experiment_yaml.py --output_dir=configs')


def test_bad_input_is_reported(tmp_path):
  unknown = _run('--experiment=no_such_experiment',
                 f'--output={tmp_path / "x.yaml"}')
  assert unknown.returncode == 1
  assert 'no_such_experiment' in unknown.stderr
  bad_key = _run('--experiment=maskformer_synthetic_cpu',
                 '--params_override=task.no_such_key=1',
                 f'--output={tmp_path / "y.yaml"}')
  assert bad_key.returncode == 1 and 'no_such_key' in bad_key.stderr
  no_output = _run('--experiment=maskformer_synthetic_cpu')
  conftest.assert_one_line_error(
      no_output, 'error: missing required flag: --output')
  both = _run('--experiment=maskformer_synthetic_cpu',
              f'--output_dir={tmp_path / "all"}')
  conftest.assert_one_line_error(
      both, '--output_dir writes the registered experiments as they are: '
      'drop --experiment')
  assert not list(tmp_path.iterdir())
