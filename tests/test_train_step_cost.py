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

"""tools/train_step_cost.py: help, user mistakes, and a small measured run."""
import json
import os
import subprocess
import sys

import conftest

TOOL = conftest.REPO_ROOT / 'tools' / 'train_step_cost.py'


def _run(*args, onednn='1'):
  """The tool; its memory figures need oneDNN on (its allocator statistics)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3',
             TF_ENABLE_ONEDNN_OPTS=onednn)
  return subprocess.run([sys.executable, str(TOOL), *args], env=env,
                        capture_output=True, text=True, timeout=900,
                        check=False)


def test_help_lists_every_flag():
  result = _run('--help')
  assert result.returncode == 0, result.stderr
  for name in ('experiment', 'canvas', 'canvas_width', 'batch',
               'max_segments', 'targets', 'input_path', 'precision',
               'compile', 'split', 'steps', 'output_json'):
    assert f'--{name}' in result.stdout, name


def test_user_mistakes_are_one_line_errors():
  conftest.assert_one_line_error(
      _run('--experiment=no_such_experiment'), 'no_such_experiment')
  conftest.assert_one_line_error(
      _run('--experiment=maskformer_synthetic_cpu', '--max_segments=4',
           '--targets=5'), '--targets=5 exceeds max_segments=4')
  conftest.assert_one_line_error(_run('--canvas=64'),
                                 'missing required flag: --experiment')
  conftest.assert_one_line_error(
      _run('--experiment=maskformer_synthetic_cpu', '--canvas_width=64'),
      '--canvas_width needs --canvas')
  conftest.assert_one_line_error(
      _run('--experiment=maskformer_synthetic_cpu', onednn='0'),
      'keeps no statistics with oneDNN off')


def test_small_run_reports_state_peak_split_and_time(tmp_path):
  output = tmp_path / 'cost.json'
  result = _run('--experiment=maskformer_synthetic_cpu', '--canvas=64',
                '--canvas_width=96', '--batch=2', '--max_segments=8',
                '--targets=3', '--steps=1', '--split',
                f'--output_json={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(output.read_text())
  assert report['canvas'] == [64, 96] and report['batch'] == 2
  assert report['valid_targets_per_image'] == [3, 3]
  assert 0 < report['state_mib'] < report['peak_mib']
  assert list(report['split_mib']) == [
      'backbone', 'pixel decoder', 'predictor', 'matcher, loss, optimizer']
  assert 0 < report['step_s']['min'] <= report['step_s']['median']
  assert 'peak of the train step' in result.stdout
