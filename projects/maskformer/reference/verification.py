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

"""Verifies the TF port against one reference fixture folder.

`verify_fixture` loads a model fixture, runs the model once (`model_parity.
run_model`) and collects the checks of every suite in
`MODEL_CHECK_SUITES`. A suite is a function `ModelRun -> List[Check]`; new
comparisons (matchings, losses, inference) are added by appending a suite.
"""
import os
from typing import Callable
from typing import List
from typing import Sequence
from typing import Union

from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import model_parity

CheckSuite = Callable[[model_parity.ModelRun], List[checks_lib.Check]]

MODEL_CHECK_SUITES: Sequence[CheckSuite] = (
    model_parity.model_output_checks,
    model_parity.isolated_module_checks,
)


def verify_fixture(
    path: Union[str, os.PathLike],
    suites: Sequence[CheckSuite] = MODEL_CHECK_SUITES) -> checks_lib.Report:
  """Runs every check suite on a model fixture folder.

  Args:
    path: the fixture folder (manifest.json, weights.pkl, reference.npz).
    suites: the check suites to run.

  Returns:
    The report.

  Raises:
    fixture_lib.UnsupportedFixtureError: a training or standalone folder.
    fixture_lib.FixtureError: not a model fixture folder.
    converter.CheckpointMismatchError: the weights do not fit the manifest's
      architecture.
  """
  fixture = fixture_lib.load_model_fixture(path)
  run = model_parity.run_model(fixture)
  report = checks_lib.Report(fixture=str(fixture.path))
  for suite in suites:
    report.checks.extend(suite(run))
  return report
