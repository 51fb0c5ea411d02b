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

"""Smoke tests of `tools/benchmark.py` in --quick mode (a tiny model).

The side-by-side runs (MaskFormer, and Mask2Former with
`--architecture=mask2former`) need the optional `pytorch` extra (torch,
transformers, safetensors) and are skipped without it. The TF-only run hides
torch from the tool (a stub package that fails to import), so it runs
everywhere, CI included, and checks that the TF columns are still measured.
"""
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL = REPO_ROOT / 'tools' / 'benchmark.py'
BEGIN = '<!-- tools/benchmark.py: begin -->'
END = '<!-- tools/benchmark.py: end -->'
M2F_BEGIN = '<!-- tools/benchmark.py --architecture=mask2former: begin -->'
M2F_END = '<!-- tools/benchmark.py --architecture=mask2former: end -->'
BEFORE = '# Benchmarks\n\nText of another tool, kept as it is.\n\n'
AFTER = '\n\n## A later section\n\nAlso kept.\n'
# float32 outputs of the same weights: differences come from the summation
# order only (about 1e-6 relative here); a conversion error is O(1).
PARITY_RTOL = 1e-4


def _skip_without_pytorch():
  for module in ('torch', 'transformers', 'safetensors'):
    if importlib.util.find_spec(module) is None:
      pytest.skip(f'{module} is not installed (the optional `pytorch` '
                  'extra: pip install -e .[pytorch])')


def _run_tool(tmp_path, extra_args, env_updates=None, markers=(BEGIN, END),
              before=BEFORE):
  markdown = tmp_path / 'benchmarks.md'
  begin, end = markers
  markdown.write_text(before + begin + '\nstale table\n' + end + AFTER)
  output = tmp_path / 'results.json'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', **(env_updates or {}))
  completed = subprocess.run(
      [sys.executable, str(TOOL), '--quick', f'--markdown={markdown}',
       f'--output_json={output}'] + extra_args,
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
      check=False)
  assert completed.returncode == 0, completed.stderr[-4000:]
  return markdown.read_text(), json.loads(output.read_text())


def _check_section(text, markers=(BEGIN, END), before=BEFORE):
  """Only the tool's section changed; returns the section."""
  begin, end = markers
  assert text.count(begin) == 1 and text.count(end) == 1
  assert text.startswith(before + begin)
  assert text.endswith(end + AFTER)
  section = text[text.index(begin):text.index(end)]
  assert 'stale table' not in section
  assert '### Forward and train step' in section
  assert '| forward | 1 |' in section and '| forward | 2 |' in section
  assert 'not measured: no GPU' in section
  return section


def _check_results(report, implementations, sweep_implementations):
  assert report['gpu'] == {'status': 'not measured: no GPU'}
  assert report['settings']['implementations'] == implementations
  assert report['versions']['tensorflow']
  main = [c for c in report['cases'] if c['table'] == 'main']
  assert [(c['kind'], c['batch']) for c in main] == [
      ('forward', 1), ('forward', 2), ('train', 2)]
  for case in report['cases']:
    expected = (implementations if case['table'] in ('main', 'targets') else
                sweep_implementations)
    assert sorted(case['results']) == sorted(expected), case
    for result in case['results'].values():
      assert result['status'] == 'ok', result
      assert len(result['times_s']) == report['settings']['repeats']
      assert 0 < result['min_s'] <= result['median_s']
      if 'oneDNN off' in result['memory_method']:
        assert result['peak_memory_mib'] is None  # TF_ENABLE_ONEDNN_OPTS=0
      else:
        assert result['peak_memory_mib'] is not None
        assert result['peak_memory_mib'] >= 0
      assert result['memory_method'], result
  # First calls are reported for the first workload of every shape.
  for impl in implementations:
    assert main[0]['results'][impl]['first_call_s'] > 0
  assert main[0]['forward_gflops_per_image'] > 0
  return main


def _check_parity(parity, implementations):
  for impl in implementations:
    for key in ('pred_logits', 'pred_masks'):
      scale = max(1.0, parity[f'{key}_max_abs'])
      assert parity[f'{impl}_{key}_max_abs_diff'] <= PARITY_RTOL * scale, (
          impl, key, parity)


def test_quick_side_by_side(tmp_path):
  _skip_without_pytorch()
  text, report = _run_tool(tmp_path, [])
  section = _check_section(text)
  implementations = ['tf_xla', 'tf_graph', 'torch']
  _check_results(report, implementations, ['tf_xla', 'torch'])
  assert report['versions']['torch'] and report['versions']['transformers']
  assert report['threads']['torch'] == report['threads']['tf_intra_op']
  # The same weights: every source tensor converted, outputs equal.
  assert 'transformers names' in report['conversion']
  _check_parity(report['parity'], ('tf_xla', 'tf_graph'))
  assert '**Parity**' in section and 'TF XLA / PyTorch' in section
  sweeps = report['sweeps']
  assert [k[2] for k in sweeps['sizes']] == [64, 96]
  assert [k[3] for k in sweeps['queries']] == [8, 16]
  assert [k[4] for k in sweeps['targets']] == [0, 4]
  for name in ('image size', 'queries', 'targets/image'):
    assert f'| {name} |' in section
  goal = section[section.index('**Goal**'):]
  assert re.search(r'forward batch 1: [\d.]+ median, [\d.]+ min \((met|not '
                   r'met|met by one statistic only)\)', goal), goal


def test_quick_mask2former_side_by_side(tmp_path):
  _skip_without_pytorch()
  # The MaskFormer section of the same file is kept as it is.
  maskformer_section = BEGIN + '\nMaskFormer table\n' + END + '\n\n'
  before = BEFORE + maskformer_section
  # The CPU default (TF graph) against PyTorch, one size / query / target
  # count beyond the main table: the train step's XLA compilation is the
  # slowest part of a full quick run.
  text, report = _run_tool(
      tmp_path, ['--architecture=mask2former',
                 '--implementations=tf_graph,torch', '--sizes=64',
                 '--queries=8', '--targets=4'],
      markers=(M2F_BEGIN, M2F_END), before=before)
  section = _check_section(text, (M2F_BEGIN, M2F_END), before)
  _check_results(report, ['tf_graph', 'torch'], ['torch'])
  assert report['settings']['experiment'] == 'mask2former_ade20k_semantic_r50'
  assert report['settings']['deep_supervision'] is True
  assert 'transformers names' in report['conversion']
  counts = report['trainable_parameters']
  assert counts['tf'] == counts['torch'] > 0, counts
  _check_parity(report['parity'], ('tf_graph',))
  assert '## TF Mask2Former vs PyTorch' in section
  assert (f'trainable parameters: TF {counts["tf"]:,}, PyTorch '
          f'{counts["torch"]:,}') in section
  assert 'deep supervision on both sides' in section


def test_quick_tf_only_without_torch(tmp_path):
  # A `torch` that fails to import, as on a machine without the extra.
  stub = tmp_path / 'stub' / 'torch'
  stub.mkdir(parents=True)
  (stub / '__init__.py').write_text(
      "raise ModuleNotFoundError('hidden by the test', name='torch')\n")
  python_path = os.pathsep.join(
      [str(stub.parent)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
  text, report = _run_tool(
      tmp_path, ['--implementations=tf_graph', '--sizes=64', '--queries=8',
                 '--targets=4'], {'PYTHONPATH': python_path})
  section = _check_section(text)
  _check_results(report, ['tf_graph'], ['tf_graph'])
  assert 'torch is not installed' in report['pytorch']
  assert report['parity'] == {}
  assert 'torch' not in report['versions']
  assert 'Parity**: not measured' in section
  assert 'torch is not installed' in section
