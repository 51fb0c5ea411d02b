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

"""Shared pytest fixtures: where the reference material lives.

The project's tests read the PyTorch reference outputs and the COCO sample from
`../shared` beside the checkout, or from the directory named by the
environment variable `MASKFORMER_SHARED_DIR`. Tests that need it are skipped,
with the path that was looked up, when it is absent.
"""
import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DIR_ENV = 'MASKFORMER_SHARED_DIR'

# The tools keep TensorFlow's C++ log off unless TF_CPP_MIN_LOG_LEVEL says
# otherwise; the tests assert their output line by line, so they and the
# tools they start run with it off whatever the caller's environment says
# (at level 2, error-level lines such as a CPU machine's failed CUDA probe
# still appear).
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'


def shared_dir_path() -> pathlib.Path:
  """The shared material's location (it may not exist)."""
  override = os.environ.get(SHARED_DIR_ENV)
  if override:
    return pathlib.Path(override).expanduser().resolve()
  return (REPO_ROOT.parent / 'shared').resolve()


def _require(path: pathlib.Path) -> pathlib.Path:
  if not path.exists():
    pytest.skip(f'shared reference material not found at {path}; set '
                f'{SHARED_DIR_ENV} to the directory holding fixtures/ and '
                'data/')
  return path


def assert_one_line_error(result, message: str) -> None:
  """A tool's run failed with exit 1 and one line `error: ...` with message."""
  assert 'Traceback' not in result.stderr, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
  assert message in lines[0], result.stderr
  assert result.returncode == 1


@pytest.fixture(scope='session')
def shared_dir() -> pathlib.Path:
  """`../shared` (or `$MASKFORMER_SHARED_DIR`); skips the test if absent."""
  return _require(shared_dir_path())


@pytest.fixture(scope='session')
def reference_dir(shared_dir) -> pathlib.Path:
  """The PyTorch reference outputs, `fixtures/maskformer_reference/`."""
  return _require(shared_dir / 'fixtures' / 'maskformer_reference')


@pytest.fixture(scope='session')
def m2f_reference_dir(shared_dir) -> pathlib.Path:
  """The PyTorch Mask2Former outputs, `fixtures/mask2former_reference/`."""
  return _require(shared_dir / 'fixtures' / 'mask2former_reference')


@pytest.fixture(scope='session')
def coco_sample_dir(shared_dir) -> pathlib.Path:
  """The two real COCO val2017 images, `data/coco_panoptic_sample/`."""
  return _require(shared_dir / 'data' / 'coco_panoptic_sample')
