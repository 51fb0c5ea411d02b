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

"""Checks against a fixture, and the report that collects them.

A `Check` records one compared quantity: its name, the error measured, the
tolerance it had to meet, and whether it passed. A `Note` records a measured
figure that is reported for information and never fails (e.g. how many
matched indices equal the reference's). A `Report` holds the checks and notes
of one fixture and renders them as a text table or as the JSON object
`{"fixture": ..., "checks": [{"name", "max_abs_err", "tolerance",
"passed", "pytorch_err"}], "notes": [{"name", "value"}], "skipped":
[{"name", "reason"}], "passed": bool}`. A `Skipped` records checks that do
not apply to the folder (e.g. losses of a folder without ground truth), with
the reason, so that nothing is left out silently; an entry that a check
needs and that the folder's format promises is an error instead
(`fixture.FixtureError`).

Where the fixture has exact (float64) answers, a check compares our output
with the exact answer, and `pytorch_err` is the original PyTorch float32
run's distance from the same exact answer (`float32_error.json`), so that
the two distances can be read side by side; it is null elsewhere.
"""
import dataclasses
import json
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Union

import numpy as np

# The fixtures' float32 tolerance: 1e-4 * max(1, max|reference|).
RELATIVE_TOLERANCE = 1e-4
# The float64 identity bound: our float64 run against the exact answers,
# 2e-7 * max(1, max|exact|) (the exact answers are stored rounded to float32,
# a relative 6e-8).
FLOAT64_RELATIVE_TOLERANCE = 2e-7
# The Mask2Former fixtures' float32 rule (their README, "What parity should
# mean"): ten times PyTorch's own float32 error (float32 vs float64) of the
# key, at least 1e-6 * max(1, max|reference|).
PYTORCH_ERROR_MULTIPLE = 10.0
FLOOR_RELATIVE = 1e-6


@dataclasses.dataclass(frozen=True)
class Check:
  """One compared quantity.

  Attributes:
    name: what was compared, e.g. 'aux3_pred_logits'.
    max_abs_err: the error: max |ours - reference| (inf if the shapes differ
      or ours has non-finite values where the reference has finite ones); for
      `compare_elementwise_relative` max |ours - reference| / max(1,
      |reference|), for `compare_l2` the L2 norm of the difference, for
      `compare_count` the number of mismatches.
    tolerance: the largest error allowed.
    passed: max_abs_err <= tolerance.
    detail: optional note (e.g. a shape mismatch); not part of the JSON.
    pytorch_err: for a comparison with an exact answer, the original
      PyTorch float32 output's error from it in the same measure; else None.
  """
  name: str
  max_abs_err: float
  tolerance: float
  passed: bool
  detail: str = ''
  pytorch_err: Optional[float] = None

  def to_json(self) -> Dict[str, Any]:
    return {'name': self.name, 'max_abs_err': self.max_abs_err,
            'tolerance': self.tolerance, 'passed': self.passed,
            'pytorch_err': self.pytorch_err}


def scaled_tolerance(reference: np.ndarray,
                     relative: float = RELATIVE_TOLERANCE) -> float:
  """`relative * max(1, max|reference|)`."""
  reference = np.asarray(reference, np.float64)
  peak = float(np.max(np.abs(reference))) if reference.size else 0.0
  return relative * max(1.0, peak)


def pytorch_error_bound(float32_error: float,
                        reference_max_abs: float) -> float:
  """`max(10 * float32_error, 1e-6 * max(1, reference_max_abs))`."""
  return max(PYTORCH_ERROR_MULTIPLE * float(float32_error),
             FLOOR_RELATIVE * max(1.0, float(reference_max_abs)))


def compare(name: str, actual: Any, reference: Any,
            tolerance: float) -> Check:
  """Compares two arrays elementwise against an absolute tolerance.

  Args:
    name: the check's name.
    actual: our values (array-like).
    reference: the reference values (array-like).
    tolerance: the largest allowed |actual - reference|.

  Returns:
    The check; a shape mismatch fails with an infinite error.
  """
  actual = np.asarray(actual, np.float64)
  reference = np.asarray(reference, np.float64)
  if actual.shape != reference.shape:
    return Check(name, float('inf'), tolerance, False,
                 f'shape {list(actual.shape)} != reference '
                 f'{list(reference.shape)}')
  if not actual.size:
    return Check(name, 0.0, tolerance, True)
  error = np.abs(actual - reference)
  error = np.where(np.isnan(error), np.inf, error)
  max_error = float(np.max(error))
  return Check(name, max_error, tolerance, max_error <= tolerance)


def compare_scaled(name: str, actual: Any, reference: Any,
                   relative: float = RELATIVE_TOLERANCE) -> Check:
  """`compare` with tolerance `relative * max(1, max|reference|)`."""
  return compare(name, actual, reference, scaled_tolerance(reference,
                                                           relative))


def compare_exact(name: str, actual: float, expected: float) -> Check:
  """Checks that two numbers (e.g. parameter counts) are equal."""
  error = abs(float(actual) - float(expected))
  return Check(name, error, 0.0, error == 0.0,
               f'{actual} vs reference {expected}')


def compare_relative(name: str, actual: float, reference: float,
                     relative: float) -> Check:
  """Checks a scalar: |actual - reference| <= relative * |reference|."""
  actual, reference = float(actual), float(reference)
  error = abs(actual - reference)
  if np.isnan(error):
    error = float('inf')
  tolerance = relative * abs(reference)
  return Check(name, error, tolerance, error <= tolerance,
               f'{actual!r} vs reference {reference!r}')


def compare_elementwise_relative(name: str, actual: Any, reference: Any,
                                 relative: float) -> Check:
  """Checks |actual - reference| <= relative * max(1, |reference|) everywhere.

  Args:
    name: the check's name.
    actual: our values (array-like).
    reference: the reference values (array-like).
    relative: the relative tolerance.

  Returns:
    The check, with the error in units of max(1, |reference|): max over the
    elements of |actual - reference| / max(1, |reference|), against
    `relative`. A shape mismatch fails with an infinite error.
  """
  actual = np.asarray(actual, np.float64)
  reference = np.asarray(reference, np.float64)
  if actual.shape != reference.shape:
    return Check(name, float('inf'), relative, False,
                 f'shape {list(actual.shape)} != reference '
                 f'{list(reference.shape)}')
  if not actual.size:
    return Check(name, 0.0, relative, True)
  error = np.abs(actual - reference) / np.maximum(1.0, np.abs(reference))
  error = float(np.max(np.where(np.isnan(error), np.inf, error)))
  return Check(name, error, relative, error <= relative)


def compare_l2(name: str, actual: Any, reference: Any,
               relative: float) -> Check:
  """Checks ||actual - reference||_2 <= relative * ||reference||_2.

  Args:
    name: the check's name.
    actual: our values (array-like).
    reference: the reference values (array-like, same shape).
    relative: the relative tolerance.

  Returns:
    The check (error: the L2 norm of the difference, computed in float64).
  """
  actual = np.asarray(actual, np.float64)
  reference = np.asarray(reference, np.float64)
  if actual.shape != reference.shape:
    return Check(name, float('inf'), 0.0, False,
                 f'shape {list(actual.shape)} != reference '
                 f'{list(reference.shape)}')
  error = float(np.linalg.norm((actual - reference).ravel()))
  if np.isnan(error):
    error = float('inf')
  reference_norm = float(np.linalg.norm(reference.ravel()))
  return Check(name, error, relative * reference_norm,
               error <= relative * reference_norm,
               f'||reference|| = {reference_norm:.3g}')


def compare_count(name: str, mismatches: int, total: int) -> Check:
  """Checks that none of `total` compared items (pixels, entries) differ."""
  return Check(name, float(mismatches), 0.0, mismatches == 0,
               f'{mismatches} of {total} differ')


@dataclasses.dataclass(frozen=True)
class Note:
  """A measured figure reported for information; it never fails.

  Attributes:
    name: what was measured, e.g. 'matching.aux4.img0.identical_indices'.
    value: the figure, as text (e.g. '9/17').
  """
  name: str
  value: str

  def to_json(self) -> Dict[str, Any]:
    return {'name': self.name, 'value': self.value}


@dataclasses.dataclass(frozen=True)
class Skipped:
  """Checks that do not apply to a folder; listed, never passed silently.

  Attributes:
    name: the checks left out, e.g. 'loss' or 'postprocess.case7.semantic'.
    reason: why they do not apply (what the folder lacks).
  """
  name: str
  reason: str

  def to_json(self) -> Dict[str, Any]:
    return {'name': self.name, 'reason': self.reason}


Result = Union[Check, Note, Skipped]


@dataclasses.dataclass
class Report:
  """The checks of one fixture.

  Attributes:
    fixture: the fixture directory.
    checks: the checks, in the order they were made.
    notes: the informational figures, in the order they were made.
    skipped: the checks that do not apply, with the reasons.
  """
  fixture: str
  checks: List[Check] = dataclasses.field(default_factory=list)
  notes: List[Note] = dataclasses.field(default_factory=list)
  skipped: List[Skipped] = dataclasses.field(default_factory=list)

  def add(self, results: Iterable[Result]) -> None:
    """Appends each result to `checks`, `notes` or `skipped`, in order."""
    for result in results:
      if isinstance(result, Note):
        self.notes.append(result)
      elif isinstance(result, Skipped):
        self.skipped.append(result)
      else:
        self.checks.append(result)

  @property
  def passed(self) -> bool:
    """True if there is at least one check and every check passed."""
    return bool(self.checks) and all(c.passed for c in self.checks)

  def failures(self) -> List[Check]:
    return [c for c in self.checks if not c.passed]

  def to_json(self) -> Dict[str, Any]:
    return {'fixture': self.fixture,
            'checks': [c.to_json() for c in self.checks],
            'notes': [n.to_json() for n in self.notes],
            'skipped': [s.to_json() for s in self.skipped],
            'passed': self.passed}

  def to_json_string(self) -> str:
    """The JSON object as a string (non-finite errors as `Infinity`)."""
    return json.dumps(self.to_json(), indent=1)

  def to_text(self) -> str:
    """A table with one line per check, then the notes, then a verdict."""
    width = max([len('check')] + [len(c.name) for c in self.checks])
    lines = [f'fixture: {self.fixture}',
             f'{"check":<{width}}  {"max_abs_err":>11}  {"tolerance":>11}  '
             f'{"pytorch_err":>11}  result']
    for c in self.checks:
      pytorch = ('-' if c.pytorch_err is None else f'{c.pytorch_err:.3e}')
      line = (f'{c.name:<{width}}  {c.max_abs_err:11.3e}  '
              f'{c.tolerance:11.3e}  {pytorch:>11}  '
              f'{"PASS" if c.passed else "FAIL"}')
      if c.detail and not c.passed:
        line += f'  ({c.detail})'
      lines.append(line)
    if self.notes:
      lines.append('notes:')
      lines.extend(f'  {n.name}: {n.value}' for n in self.notes)
    if self.skipped:
      lines.append('skipped (do not apply to this folder):')
      lines.extend(f'  {s.name}: {s.reason}' for s in self.skipped)
    failed = len(self.failures())
    lines.append('(max_abs_err: ours against the exact answer where the '
                 'fixture has one, else against its float32 reference; '
                 'pytorch_err: the original float32 run against the exact '
                 'answer)')
    lines.append(f'{len(self.checks)} checks, {failed} failed, '
                 f'{len(self.skipped)} skipped: '
                 f'{"PASS" if self.passed else "FAIL"}')
    return '\n'.join(lines)
