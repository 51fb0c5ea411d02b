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

FIXTURE_DIR is any folder in the reference fixtures' format:

  * a model folder (manifest.json, weights.pkl with current or legacy names,
    reference.npz): the manifest's architecture is built, the weights are
    converted strictly and the images run in float32; then the parameter
    count, backbone features, mask features, encoder output, logits and masks
    of every layer (end to end and per head module), the matchings of every
    decoder layer and image (ours optimal for our cost, the reference's
    equally optimal), all loss terms and the total with the reference and
    with our matchings, and the panoptic and semantic inference results;
  * a standalone folder (matcher_criterion.{npz,json} and/or
    postprocess.{npz,json}): matching costs, optimal costs, matchings, loss
    terms, panoptic maps and segments, semantic scores;
  * a training folder (trajectory.json, batch.npz, weights_initial.pkl,
    gradients.npz, matchings_step0.npz, weights_final.pkl): step-0 loss and
    gradients with the reference matchings, the optimizer replay of the
    reference gradients, and the free-running training loop (the task's
    train_step) against the loss trajectory.

With --pytorch_witness (model folders; needs torch and transformers, `pip
install ".[pytorch]"`), the `transformers` port of MaskFormer is loaded with
the same weights and run in float64, and notes report how far the reference
and our outputs are from that exact answer, in tolerances: a failure where
the reference itself is about as far off is float32 conditioning, not a
porting error (docs/numerics.md).

For each check it prints the error, the tolerance of the fixtures' README and
pass/fail, then informational notes (e.g. how many matched indices equal the
reference's).

Exit status: 0 if every check passes, 1 if any fails, 2 if FIXTURE_DIR
cannot be verified (not a fixture folder, missing or malformed files, or
weights that do not fit the architecture).
"""
import os
import pickle
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app
from absl import flags

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import transformers_witness
from projects.maskformer.reference import verification

_JSON = flags.DEFINE_bool(
    'json', False, 'Print one JSON object {"fixture", "checks": [{"name", '
    '"max_abs_err", "tolerance", "passed"}], "notes": [{"name", "value"}], '
    '"passed"} instead of a table.')

_PYTORCH_WITNESS = flags.DEFINE_bool(
    'pytorch_witness', False, 'Model folders: also run the transformers port '
    'in float64 and report the reference\'s and our distance from it.')

_EXIT_UNVERIFIABLE = 2


def main(argv):
  if len(argv) != 2:
    raise app.UsageError('expected exactly one argument, FIXTURE_DIR; got '
                         f'{argv[1:]}')
  fixture_dir = argv[1]
  try:
    suites = tuple(verification.MODEL_CHECK_SUITES)
    if _PYTORCH_WITNESS.value:
      if not isinstance(fixture_lib.load_fixture(fixture_dir),
                        fixture_lib.ModelFixture):
        raise fixture_lib.FixtureError(
            '--pytorch_witness applies to model folders only')
      suites += (transformers_witness.witness_notes,)
    report = verification.verify_fixture(fixture_dir, suites)
  except (fixture_lib.FixtureError, converter.CheckpointMismatchError,
          name_mapping.NamingError, pickle.UnpicklingError,
          transformers_witness.WitnessUnavailableError,
          FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return _EXIT_UNVERIFIABLE
  print(report.to_json_string() if _JSON.value else report.to_text())
  return 0 if report.passed else 1


if __name__ == '__main__':
  app.run(main)
