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

"""Verification reports of the reference fixtures, cached across test files.

Model folders reuse the model runs of `model_fixture_runs`, so a session that
also runs the model tests builds each fixture model once.
"""
import functools
import pathlib

import model_fixture_runs

from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_checks


@functools.lru_cache(maxsize=None)
def report(fixture_dir: str) -> checks_lib.Report:
  """What tools/verify_reference.py reports for the folder (cached)."""
  if fixture_lib.fixture_kind(pathlib.Path(fixture_dir)) == fixture_lib.MODEL:
    run = model_fixture_runs.model_run(fixture_dir)
    float64_run = (model_fixture_runs.model_run(fixture_dir, 'float64')
                   if run.fixture.exact is not None else None)
    return fixture_checks.verify_model_run(run, float64_run=float64_run)
  return fixture_checks.verify_fixture(fixture_dir)
