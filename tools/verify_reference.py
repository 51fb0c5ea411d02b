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

r"""Checks the TF MaskFormer or Mask2Former against a PyTorch fixture folder.

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

Mask2Former folders (fixtures/mask2former_reference/, recognised by their
manifest.json) are judged by the criteria of that README ("What parity
should mean"): with bound = max(10 * float32_error[key], 1e-6 * max(1,
reference_max_abs[key])) from the manifest,

  * a Mask2Former model folder (manifest.json whose config has
    dec_layers_cfg, weights.pkl, reference.npz): the manifest's
    architecture is built, the weights converted strictly and the images run
    in float32; the parameter count; within the bound backbone res2..res5,
    the encoder inputs and positional encodings, encoder layer 0's output,
    sampling locations and attention weights, the multi-scale and mask
    features, every head's class logits and the stored mask logits; the
    attention masks of decoder layers 0 and 1 identical; with the recorded
    points, every head's and image's cost matrix within the bound, our
    matching optimal and the reference's equally optimal, the 30 loss terms
    and the total within a relative 1e-5 with the reference matchings and
    1e-4 with ours; at the original size the panoptic segments identical and
    the map identical where both stored margins exceed 1e-4 (Mask2Former's
    rule: only pixels whose winning mask probability is >= 0.5 are painted),
    the semantic scores within 10 * float32_error and the argmax where the
    margin exceeds 1e-4 (also computed the ADE20K way, sem_late_*), the
    instance set keyed by (query, class) identical, scores within 1e-5,
    masks identical except where |mask logit| < 1e-4;
  * a Mask2Former standalone folder (manifest.json with the sections of
    msdeformattn.npz, points.npz, matcher_criterion.npz, postprocess.npz):
    the deformable-attention core cases and module and point_sample within
    the bound, the uncertainty point sampling identical given the stored
    draws (as sets at the top-k cut's near-ties), the matcher and criterion
    as above, and per post-processing case the panoptic, semantic and
    instance results as above.

They have no exact answers: --precisions=float64 lists them as skipped.

Folders with exact answers (the original run in float64:
reference_exact.npz or gradients_step0_exact.npz, with float32_error.json)
are judged by them (docs/semantics.md, section 11):

  * float64 identity: the model (and for training folders the step-0 train
    step) is also built and run in float64; every forward output must be
    within 2e-7 * max(1, max|exact|) of the exact answer, every step-0
    gradient within a relative L2 of 1e-6 (checks named 'float64.*' and
    'training.float64.*');
  * float32 accuracy: our float32 outputs against the exact answers within
    max(1e-4 * max(1, max|exact|), 5 * PyTorch's largest float32 error among
    outputs of the same kind), gradients within a relative L2 of
    max(1e-4, 5 * PyTorch's largest error in the same part); the
    comparisons with the float32 references are reported as notes.

The table's pytorch_err column is the original PyTorch float32 run's
distance from the exact answer, beside ours. Folders without exact answers
keep the float32 comparisons with their references.

With --pytorch_witness (model folders; needs torch and transformers, `pip
install ".[pytorch]"`), the `transformers` port of MaskFormer is loaded with
the same weights and run in float64, and notes report how far the reference
and our outputs are from that exact answer, in tolerances: a failure where
the reference itself is about as far off is float32 conditioning, not a
porting error (docs/numerics.md).

For each check it prints the error, its tolerance (docs/semantics.md) and
pass/fail, then informational notes (e.g. how many matched indices equal the
reference's).

Checks that do not apply to a folder (losses of a folder without ground
truth, the float64 identity of a folder without exact answers, ...) are
listed as skipped, with the reason; an entry that a check needs and that the
folder's format promises is an error.

Exit status: 0 if every check passes, 1 if any fails, 2 if FIXTURE_DIR
cannot be verified (not a fixture folder, missing or malformed files or
entries, weights that do not fit the architecture, or no check that
applies); 1 also for a mistake in the flags.
"""
import os
import pickle
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

from absl import app
from absl import flags
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_checks
from projects.maskformer.reference import transformers_witness

_JSON = flags.DEFINE_bool(
    'json', False, 'Print one JSON object {"fixture", "checks": [{"name", '
    '"max_abs_err", "tolerance", "passed", "pytorch_err"}], "notes": '
    '[{"name", "value"}], "skipped": [{"name", "reason"}], "passed"} instead '
    'of a table.')

_PYTORCH_WITNESS = flags.DEFINE_bool(
    'pytorch_witness', False, 'Model folders: also run the transformers port '
    'in float64 and report the reference\'s and our distance from it.')

_PRECISIONS = flags.DEFINE_list(
    'precisions', list(fixture_checks.PRECISIONS), 'Which runs to check: '
    'float32 (every float32 check) and/or float64 (the float64 identity of '
    'folders with exact answers).')

_CANVAS = flags.DEFINE_list(
    'canvas', None, 'HEIGHT,WIDTH: MaskFormer model folders also place each '
    'image alone (and all together) on a canvas of this size, computed '
    'padding-exactly (each image on its own region): the outputs cropped to '
    'the image must equal the image run at its own size, and the reference '
    'for images it computed unpadded, within 1e-4 * max(1, max|expected|) '
    '(checks canvas.*). At least the folder\'s padded input size.')

_INTRA_OP_THREADS = flags.DEFINE_integer(
    'intra_op_threads', 0, 'TensorFlow intra-op threads (0: its default, one '
    'per core). 1 changes the float32 rounding of the convolutions, which '
    'the float32 bounds must absorb.', lower_bound=0)

_EXIT_UNVERIFIABLE = 2


def _canvas():
  """--canvas as (height, width), or None."""
  if _CANVAS.value is None:
    return None
  try:
    canvas = tuple(int(s) for s in _CANVAS.value)
  except ValueError:
    canvas = ()
  if len(canvas) != 2 or min(canvas) < 1:
    raise app.UsageError(f'--canvas must be HEIGHT,WIDTH (two positive '
                         f'integers), got {",".join(_CANVAS.value)}')
  return canvas


def main(argv):
  if len(argv) != 2:
    raise app.UsageError('expected exactly one argument, FIXTURE_DIR; got '
                         f'{argv[1:]}')
  fixture_dir = argv[1]
  if _INTRA_OP_THREADS.value:
    tf.config.threading.set_intra_op_parallelism_threads(
        _INTRA_OP_THREADS.value)
  try:
    suites = tuple(fixture_checks.MODEL_CHECK_SUITES)
    if _PYTORCH_WITNESS.value:
      if not isinstance(fixture_lib.load_fixture(fixture_dir),
                        fixture_lib.ModelFixture):
        raise fixture_lib.FixtureError(
            '--pytorch_witness applies to model folders only')
      suites += (transformers_witness.witness_notes,)
    report = fixture_checks.verify_fixture(fixture_dir, suites,
                                         _PRECISIONS.value, _canvas())
  except (ValueError, fixture_lib.FixtureError, converter.CheckpointMismatchError,
          name_mapping.NamingError, pickle.UnpicklingError,
          transformers_witness.WitnessUnavailableError,
          FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return _EXIT_UNVERIFIABLE
  if not report.checks:
    print(f'error: no check applies to {fixture_dir} with --precisions='
          f'{",".join(_PRECISIONS.value)}: ' + '; '.join(
              f'{s.name}: {s.reason}' for s in report.skipped),
          file=sys.stderr)
    return _EXIT_UNVERIFIABLE
  print(report.to_json_string() if _JSON.value else report.to_text())
  return 0 if report.passed else 1


if __name__ == '__main__':
  cli.run(main)
