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

"""Model runs on the PyTorch model fixtures, cached across the test files."""
import functools

from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import model_checks

MODEL_FIXTURES = ('r50w16_enc', 'r50w16_fpn')


@functools.lru_cache(maxsize=None)
def model_run(fixture_dir: str,
              dtype: str = 'float32') -> model_checks.ModelRun:
  """The fixture's model with its weights, run on its images (cached).

  Args:
    fixture_dir: the model fixture folder.
    dtype: 'float32', or 'float64' (the exact mode).
  """
  return model_checks.run_model(_fixture(fixture_dir), dtype)


@functools.lru_cache(maxsize=None)
def _fixture(fixture_dir: str):
  return fixture_lib.load_model_fixture(fixture_dir)
