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

r"""Checks the TF MaskFormer against a PyTorch reference fixture folder.

Usage:
  python tools/verify_reference.py FIXTURE_DIR [--json]

FIXTURE_DIR is a model fixture folder: manifest.json (the architecture under
"config"), weights.pkl (a detectron2-style checkpoint, current or legacy
names) and reference.npz (the PyTorch outputs, NCHW). The tool builds the
manifest's architecture, converts weights.pkl strictly, runs the fixture's
images in float32 and prints, for every output it can compare (parameter
count, backbone features, mask features, encoder output, logits, masks, every
auxiliary layer, and each head module run on the reference's own inputs),
the max abs error, the tolerance (1e-4 * max(1, max|reference|)) and
pass/fail.

Exit status: 0 if every check passes, 1 if any fails, 2 if FIXTURE_DIR
cannot be verified (not a model fixture, a training or standalone fixture,
or weights that do not fit the architecture).
"""
import sys

from absl import app
from absl import flags

from projects.maskformer.checkpoints import converter
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import verification

_JSON = flags.DEFINE_bool(
    'json', False, 'Print one JSON object {"fixture", "checks": [{"name", '
    '"max_abs_err", "tolerance", "passed"}], "passed"} instead of a table.')

_EXIT_UNVERIFIABLE = 2


def main(argv):
  if len(argv) != 2:
    raise app.UsageError('expected exactly one argument, FIXTURE_DIR; got '
                         f'{argv[1:]}')
  fixture_dir = argv[1]
  try:
    report = verification.verify_fixture(fixture_dir)
  except (fixture_lib.FixtureError, converter.CheckpointMismatchError,
          FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return _EXIT_UNVERIFIABLE
  print(report.to_json_string() if _JSON.value else report.to_text())
  return 0 if report.passed else 1


if __name__ == '__main__':
  app.run(main)
