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

"""Tests of the `transformers` witness (skipped without torch/transformers).

The port, loaded with the r50w16_fpn fixture's weights, must reproduce the
fixture in float32 (the fixture was made with the same torch kernels): that
is the evidence that it computes the original's function, which makes its
float64 run a trustworthy exact answer.
"""
import os
import re
import subprocess
import sys

import model_fixture_runs
import numpy as np
import pytest

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import transformers_witness

pytest.importorskip('torch', reason='the PyTorch witness needs torch '
                    '(pip install ".[pytorch]")')
pytest.importorskip('transformers', reason='the PyTorch witness needs '
                    'transformers (pip install ".[pytorch]")')

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NOTE = re.compile(r'reference (\d+\.\d+) tol, ours (\d+\.\d+) tol from '
                   r'float64')


@pytest.fixture(scope='module')
def fpn_notes(reference_dir):
  run = model_fixture_runs.model_run(str(reference_dir / 'r50w16_fpn'))
  return {n.name: n.value for n in transformers_witness.witness_notes(run)}


def test_port_reproduces_the_fixture_in_float32(fpn_notes):
  worst = float(fpn_notes['witness.port_float32_vs_reference'].split()[0])
  assert worst <= 0.05


def test_every_output_gets_its_distances_from_float64(fpn_notes):
  outputs = [name[len('witness.'):] for name in fpn_notes
             if name != 'witness.port_float32_vs_reference']
  assert outputs[:5] == ['backbone_res2', 'backbone_res3', 'backbone_res4',
                         'backbone_res5', 'mask_features']
  assert {f'aux{j}_pred_logits' for j in range(5)} | {
      'pred_logits', 'pred_masks', 'aux4_pred_masks'} <= set(outputs)
  for output in outputs:
    reference, ours = map(float, _NOTE.fullmatch(
        fpn_notes[f'witness.{output}']).groups())
    # Exact answers sit far inside float32 error on the well-conditioned
    # outputs, the backbone and the mask features.
    if output.startswith(('backbone', 'mask_features')):
      assert reference < 0.1 and ours < 0.1, (output, reference, ours)


def test_unsupported_architecture_is_refused(reference_dir):
  fixture = fixture_lib.load_fixture(reference_dir / 'r50w16_enc')
  with pytest.raises(transformers_witness.WitnessUnavailableError,
                     match='FPN pixel decoder'):
    transformers_witness.build_port(
        fixture_formats.model_config(fixture.config))


def test_load_state_is_strict(reference_dir):
  fixture = fixture_lib.load_fixture(reference_dir / 'r50w16_fpn')
  port = transformers_witness.build_port(
      fixture_formats.model_config(fixture.config))
  state = converter.read_state_dict(fixture.weights_path)
  dropped = next(name for name in state if name.endswith('class_embed.bias'))
  del state[dropped]
  with pytest.raises(ValueError, match='missing'):
    transformers_witness.load_state(port, state, name_mapping.DETECTRON2)
  state[dropped] = np.zeros((3,), np.float32)
  with pytest.raises(ValueError, match='shape'):
    transformers_witness.load_state(port, state, name_mapping.DETECTRON2)


def test_tool_flag(reference_dir):
  def run(folder):
    return subprocess.run(
        [sys.executable, os.path.join(_ROOT, 'tools', 'verify_reference.py'),
         str(reference_dir / folder), '--pytorch_witness'],
        capture_output=True, text=True, check=False)

  standalone = run('standalone')
  assert standalone.returncode == 2
  assert 'model folders only' in standalone.stderr
  enc = run('r50w16_enc')
  assert enc.returncode == 2
  assert 'FPN pixel decoder' in enc.stderr
