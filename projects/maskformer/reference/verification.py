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

"""Verifies the TF port against one reference fixture folder of any kind.

`verify_fixture` loads the folder (`fixture.load_fixture`) and collects the
checks and notes of its kind:

  * model folders: the model is built and run once (`model_parity.run_model`)
    and every suite of `MODEL_CHECK_SUITES` (a function `ModelRun ->
    List[Check | Note]`) compares the run with the reference: outputs,
    isolated modules, matchings and losses, inference;
  * standalone folders: `standalone_parity.standalone_checks`;
  * training folders: `training_parity.training_checks`.
"""
import os
from typing import Callable
from typing import List
from typing import Sequence
from typing import Union

from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import inference_parity
from projects.maskformer.reference import loss_parity
from projects.maskformer.reference import model_parity
from projects.maskformer.reference import standalone_parity
from projects.maskformer.reference import training_parity

CheckSuite = Callable[[model_parity.ModelRun], List[checks_lib.Result]]

MODEL_CHECK_SUITES: Sequence[CheckSuite] = (
    model_parity.model_output_checks,
    model_parity.isolated_module_checks,
    loss_parity.matching_and_loss_checks,
    inference_parity.inference_checks,
)


def verify_model_run(
    run: model_parity.ModelRun,
    suites: Sequence[CheckSuite] = MODEL_CHECK_SUITES) -> checks_lib.Report:
  """Runs check suites on a model run.

  Args:
    run: the fixture's model run.
    suites: the check suites to run.

  Returns:
    The report.

  Raises:
    fixture_lib.FixtureError: the fixture lacks what a suite needs.
  """
  report = checks_lib.Report(fixture=str(run.fixture.path))
  for suite in suites:
    report.add(suite(run))
  return report


def verify_fixture(
    path: Union[str, os.PathLike],
    suites: Sequence[CheckSuite] = MODEL_CHECK_SUITES) -> checks_lib.Report:
  """Runs every check that applies to a fixture folder.

  Args:
    path: a model, standalone or training fixture folder.
    suites: the check suites of a model folder.

  Returns:
    The report.

  Raises:
    fixture_lib.FixtureError: not a well-formed fixture folder.
    converter.CheckpointMismatchError: the weights do not fit the
      architecture.
  """
  fixture = fixture_lib.load_fixture(path)
  if isinstance(fixture, fixture_lib.ModelFixture):
    return verify_model_run(model_parity.run_model(fixture), suites)
  report = checks_lib.Report(fixture=str(fixture.path))
  if isinstance(fixture, fixture_lib.StandaloneFixture):
    report.add(standalone_parity.standalone_checks(fixture))
  else:
    report.add(training_parity.training_checks(fixture))
  return report
