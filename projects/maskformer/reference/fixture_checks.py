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

"""Every check of one fixture folder of any kind, collected in a report.

`verify_fixture` loads the folder (`fixture.load_fixture`) and collects the
checks and notes of its kind:

  * model folders: the model is built and run once in float32
    (`model_checks.run_model`) and every suite of `MODEL_CHECK_SUITES` (a
    function `ModelRun -> List[Check | Note]`) compares the run with the
    reference: outputs, isolated modules, matchings and losses, inference.
    Where the folder has exact answers, the model is also built and run in
    float64 and the suites of `FLOAT64_CHECK_SUITES` check the float64
    identity: forward outputs, losses with the stored matchings, semantic
    scores;
  * standalone folders: `standalone_checks.standalone_checks`;
  * training folders: `training_checks.training_checks`;
  * Mask2Former model folders: the model is built and run once in float32
    (`m2f_model_checks.run_model`) and judged by the suites of
    `m2f_model_checks.SUITES` with the fixtures' README criteria;
  * Mask2Former standalone folders: `m2f_standalone_checks.all_checks`.

Mask2Former folders are judged by the float32 criteria of their README:
with 'float64' in the precisions they list the float64 identity as skipped
(also where a folder has exact answers: not implemented for Mask2Former).
"""
import functools
import os
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence
from typing import Union

from projects.maskformer.reference import canvas_checks
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import inference_checks
from projects.maskformer.reference import loss_checks
from projects.maskformer.reference import m2f_model_checks
from projects.maskformer.reference import m2f_standalone_checks
from projects.maskformer.reference import model_checks
from projects.maskformer.reference import standalone_checks
from projects.maskformer.reference import training_checks

CheckSuite = Callable[[model_checks.ModelRun], List[checks_lib.Result]]

MODEL_CHECK_SUITES: Sequence[CheckSuite] = (
    model_checks.model_output_checks,
    model_checks.isolated_module_checks,
    loss_checks.matching_and_loss_checks,
    inference_checks.inference_checks,
)

FLOAT64_CHECK_SUITES: Sequence[CheckSuite] = (
    model_checks.float64_output_checks,
    loss_checks.float64_loss_checks,
    inference_checks.float64_semantic_checks,
)

FLOAT32 = 'float32'
FLOAT64 = model_checks.FLOAT64
PRECISIONS = (FLOAT32, FLOAT64)


def verify_model_run(
    run: model_checks.ModelRun,
    suites: Sequence[CheckSuite] = MODEL_CHECK_SUITES,
    float64_run: Optional[model_checks.ModelRun] = None,
    float64_suites: Sequence[CheckSuite] = FLOAT64_CHECK_SUITES
) -> checks_lib.Report:
  """Runs check suites on a float32 model run (and a float64 one).

  Args:
    run: the fixture's float32 model run, or None (float64 checks only).
    suites: the check suites of the float32 run.
    float64_run: the fixture's float64 model run, or None.
    float64_suites: the check suites of the float64 run.

  Returns:
    The report.

  Raises:
    fixture_lib.FixtureError: the fixture lacks what a suite needs.
  """
  fixture = (run or float64_run).fixture
  report = checks_lib.Report(fixture=str(fixture.path))
  if run is not None:
    for suite in suites:
      report.add(suite(run))
  if float64_run is not None:
    for suite in float64_suites:
      report.add(suite(float64_run))
  return report


def _no_exact_answers(fixture_path) -> checks_lib.Skipped:
  return checks_lib.Skipped(
      'float64', f'{fixture_path} has no exact answers '
      f'({fixture_lib.REFERENCE_EXACT} or {fixture_lib.GRADIENTS_EXACT} with '
      f'{fixture_lib.FLOAT32_ERROR}): the float64 identity is not checked')


def verify_mask2former_run(run: m2f_model_checks.Mask2FormerRun,
                           canvas: Optional[Sequence[int]] = None
                           ) -> checks_lib.Report:
  """The report of a Mask2Former model run (`m2f_model_checks.SUITES`, and
  `canvas_checks` on `canvas` if given)."""
  report = checks_lib.Report(fixture=str(run.fixture.path))
  for suite in m2f_model_checks.SUITES:
    report.add(suite(run))
  if canvas is not None:
    report.add(canvas_checks.mask2former_canvas_checks(run, canvas))
  return report


def _verify_mask2former(fixture, precisions: Sequence[str],
                        canvas: Optional[Sequence[int]] = None
                        ) -> checks_lib.Report:
  """The float32 checks of a Mask2Former folder (module docstring)."""
  report = checks_lib.Report(fixture=str(fixture.path))
  if FLOAT32 in precisions:
    if isinstance(fixture, fixture_lib.Mask2FormerModelFixture):
      report = verify_mask2former_run(m2f_model_checks.run_model(fixture),
                                      canvas)
    else:
      report.add(m2f_standalone_checks.all_checks(fixture))
  if FLOAT64 in precisions:
    has_exact = (fixture.path / fixture_lib.REFERENCE_EXACT).exists()
    report.add([checks_lib.Skipped('float64', (
        f'{fixture_lib.REFERENCE_EXACT} is there, but the Mask2Former float64 '
        'identity is not implemented' if has_exact else
        'Mask2Former folders have no exact answers') +
        ': judged by the float32 criteria of their README')])
  return report


def verify_fixture(
    path: Union[str, os.PathLike],
    suites: Sequence[CheckSuite] = MODEL_CHECK_SUITES,
    precisions: Sequence[str] = PRECISIONS,
    canvas: Optional[Sequence[int]] = None) -> checks_lib.Report:
  """Runs every check that applies to a fixture folder.

  Args:
    path: a model, standalone or training fixture folder (MaskFormer or
      Mask2Former).
    suites: the check suites of a model folder's float32 run.
    precisions: which runs to check, of 'float32' and 'float64'; the float64
      run applies only to folders with exact answers (model and training).
    canvas: None, or a (height, width): model folders then also get
      `canvas_checks` (each image alone on that canvas, padding-exact) with
      the float32 run.

  Returns:
    The report.

  Raises:
    fixture_lib.FixtureError: not a well-formed fixture folder.
    converter.CheckpointMismatchError: the weights do not fit the
      architecture.
    ValueError: no or unknown precisions; a canvas for a folder that has
      no model images, without the float32 run, or smaller than the
      folder's padded input.
  """
  unknown = set(precisions) - set(PRECISIONS)
  if unknown or not precisions:
    raise ValueError(f'precisions must be a non-empty subset of {PRECISIONS}, '
                     f'got {tuple(precisions)}')
  fixture = fixture_lib.load_fixture(path)
  if canvas is not None:
    if not isinstance(fixture, (fixture_lib.ModelFixture,
                                fixture_lib.Mask2FormerModelFixture)):
      raise ValueError('a canvas applies to model folders only')
    if FLOAT32 not in precisions:
      raise ValueError('the canvas checks need the float32 run')
    canvas_checks.check_canvas_holds(
        canvas, fixture.arrays['padded_normalized_images'].shape[2:])
    suites = tuple(suites) + (functools.partial(
        canvas_checks.maskformer_canvas_checks, canvas=canvas),)
  if isinstance(fixture, (fixture_lib.Mask2FormerModelFixture,
                          fixture_lib.Mask2FormerStandaloneFixture)):
    return _verify_mask2former(fixture, precisions, canvas)
  if isinstance(fixture, fixture_lib.ModelFixture):
    run = (model_checks.run_model(fixture) if FLOAT32 in precisions
           else None)
    float64_run = (model_checks.run_model(fixture, FLOAT64)
                   if FLOAT64 in precisions and fixture.exact is not None
                   else None)
    report = checks_lib.Report(fixture=str(fixture.path))
    if run is not None or float64_run is not None:
      report = verify_model_run(run, suites, float64_run)
    if FLOAT64 in precisions and fixture.exact is None:
      report.add([_no_exact_answers(fixture.path)])
    return report
  report = checks_lib.Report(fixture=str(fixture.path))
  if isinstance(fixture, fixture_lib.StandaloneFixture):
    if FLOAT32 in precisions:
      report.add(standalone_checks.standalone_checks(fixture))
    if FLOAT64 in precisions:
      report.add([checks_lib.Skipped(
          'float64', 'standalone folders have no exact answers')])
  else:
    report.add(training_checks.training_checks(fixture, precisions))
    if FLOAT64 in precisions and fixture.float32_error is None:
      report.add([_no_exact_answers(fixture.path)])
  return report
