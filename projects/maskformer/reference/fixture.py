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

"""Loading of PyTorch reference fixture folders.

Three kinds of MaskFormer folder (`docs/semantics.md`, section 10):

  * model: `manifest.json` (the architecture under `config`, the losses, the
    panoptic segments), `weights.pkl` (a detectron2-style checkpoint, current
    or legacy names) and `reference.npz` (PyTorch outputs, NCHW);
  * standalone: `matcher_criterion.{npz,json}` and/or `postprocess.{npz,json}`
    (the matcher, criterion and post-processing on random inputs);
  * training: `trajectory.json` (architecture, optimizer, per-step losses),
    `batch.npz`, `weights_initial.pkl`, `gradients.npz`,
    `matchings_step0.npz`, `weights_final.pkl` (and `after_training.npz`).

Model and training folders may also hold the exact answers (the same
section): the original run in float64, `reference_exact.npz` (model) or
`gradients_step0_exact.npz` (training), always with `float32_error.json`,
PyTorch's own float32 distance from them. The two go together.

Two kinds of Mask2Former folder (`fixtures/mask2former_reference/README.md`),
each with one `manifest.json`:

  * model: `manifest.json` whose `config` has Mask2Former's
    `dec_layers_cfg` (`MASK_FORMER.DEC_LAYERS`), `weights.pkl` and
    `reference.npz`;
  * standalone: `manifest.json` with one section per part present among
    `msdeformattn`, `points`, `matcher_criterion` and `postprocess`, and the
    part's `.npz`.

This module checks that a folder is well formed and loads it as it is;
`fixture_formats` turns the loaded content into the project's formats.
"""
import dataclasses
import json
import pathlib
import re
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Union

import numpy as np

MODEL = 'model'
STANDALONE = 'standalone'
TRAINING = 'training'
MASK2FORMER_MODEL = 'mask2former model'
MASK2FORMER_STANDALONE = 'mask2former standalone'

MANIFEST = 'manifest.json'
WEIGHTS = 'weights.pkl'
REFERENCE = 'reference.npz'
REFERENCE_EXACT = 'reference_exact.npz'
GRADIENTS_EXACT = 'gradients_step0_exact.npz'
FLOAT32_ERROR = 'float32_error.json'
MATCHER_CRITERION = 'matcher_criterion'
POSTPROCESS = 'postprocess'
TRAJECTORY = 'trajectory.json'
TRAINING_FILES = (TRAJECTORY, 'batch.npz', 'weights_initial.pkl',
                  'gradients.npz', 'matchings_step0.npz', 'weights_final.pkl')
# The optimizer settings a trajectory.json must give.
OPTIMIZER_KEYS = ('lr', 'betas', 'eps', 'weight_decay',
                  'backbone_lr_multiplier', 'full_model_grad_clip_norm')

# The parts of a Mask2Former standalone folder: `<part>.npz` and the
# manifest section `<part>`.
MASK2FORMER_PARTS = ('msdeformattn', 'points', MATCHER_CRITERION, POSTPROCESS)
# The manifest `config` key that marks a Mask2Former model folder.
MASK2FORMER_CONFIG_KEY = 'dec_layers_cfg'

# What the checks of a Mask2Former model folder read from its manifest.
_MASK2FORMER_MANIFEST_KEYS = (
    'config', 'float32_error', 'reference_max_abs', 'num_params',
    'thing_classes', 'prediction_heads', 'losses_unweighted', 'loss_total',
    'optimal_assignment_cost', 'panoptic_segments_info')

# Manifest `config` keys every model architecture must have.
_REQUIRED_CONFIG_KEYS = (
    'width', 'depths', 'pixel_decoder', 'conv_dim', 'mask_dim', 'hidden_dim',
    'nheads', 'dim_feedforward', 'dec_layers', 'dropout', 'num_queries',
    'num_classes')


class FixtureError(ValueError):
  """The folder is not a well-formed fixture."""


@dataclasses.dataclass
class _ModelFolder:
  """A model folder: its manifest, reference arrays and weights.

  Attributes:
    path: the folder.
    manifest: the parsed manifest.json.
    arrays: the reference arrays (reference.npz), as stored (NCHW).
  """
  path: pathlib.Path
  manifest: Dict[str, Any]
  arrays: Mapping[str, np.ndarray]

  @property
  def weights_path(self) -> pathlib.Path:
    return self.path / WEIGHTS

  @property
  def config(self) -> Dict[str, Any]:
    """The manifest's architecture (`manifest["config"]`)."""
    return self.manifest['config']


@dataclasses.dataclass
class ModelFixture(_ModelFolder):
  """A loaded MaskFormer model fixture (see `_ModelFolder`).

  Attributes:
    exact: the exact answers (reference_exact.npz, NCHW), or None.
    float32_error: the parsed float32_error.json (present with `exact`).
  """
  exact: Optional[Mapping[str, np.ndarray]] = None
  float32_error: Optional[Dict[str, Any]] = None


@dataclasses.dataclass
class StandalonePart:
  """One standalone fixture file pair, e.g. `postprocess.{npz,json}`.

  Attributes:
    meta: the parsed json.
    arrays: the npz arrays.
  """
  meta: Dict[str, Any]
  arrays: Mapping[str, np.ndarray]


@dataclasses.dataclass
class StandaloneFixture:
  """A loaded standalone fixture (at least one part is present).

  Attributes:
    path: the folder.
    matcher_criterion: `matcher_criterion.{npz,json}`, if present.
    postprocess: `postprocess.{npz,json}`, if present.
  """
  path: pathlib.Path
  matcher_criterion: Optional[StandalonePart]
  postprocess: Optional[StandalonePart]


@dataclasses.dataclass
class TrainingFixture:
  """A loaded training-run fixture.

  Attributes:
    path: the folder.
    trajectory: the parsed trajectory.json (`config`, `steps`, `optimizer`,
      `loss_weights`, `history`).
    batch: batch.npz (`image_i`, `gt_masks_i`, `gt_classes_i`).
    matchings_step0: matchings_step0.npz (`match_{layer}_img{b}_{src|tgt}`).
    float32_error: the parsed float32_error.json if the folder has the exact
      step-0 gradients (gradients_step0_exact.npz), else None.
  """
  path: pathlib.Path
  trajectory: Dict[str, Any]
  batch: Mapping[str, np.ndarray]
  matchings_step0: Mapping[str, np.ndarray]
  float32_error: Optional[Dict[str, Any]] = None

  @property
  def config(self) -> Dict[str, Any]:
    """The architecture (`trajectory["config"]`)."""
    return self.trajectory['config']

  @property
  def steps(self) -> int:
    return len(self.trajectory['history'])

  @property
  def weights_initial_path(self) -> pathlib.Path:
    return self.path / 'weights_initial.pkl'

  @property
  def weights_final_path(self) -> pathlib.Path:
    return self.path / 'weights_final.pkl'

  def gradients(self) -> List[Dict[str, np.ndarray]]:
    """Per step, {PyTorch parameter name: gradient} from gradients.npz.

    Raises:
      FixtureError: a key that is not `step<k>/<name>` with k < steps, or a
        step without gradients.
    """
    return self._per_step_gradients(self.path / 'gradients.npz', self.steps)

  def exact_gradients(self) -> Dict[str, np.ndarray]:
    """{PyTorch parameter name: exact step-0 gradient}.

    Raises:
      FixtureError: the folder has no exact gradients, or a key that is not
        `step0/<name>`.
    """
    if self.float32_error is None:
      raise FixtureError(f'{self.path} has no {GRADIENTS_EXACT}')
    return self._per_step_gradients(self.path / GRADIENTS_EXACT, 1)[0]

  @staticmethod
  def _per_step_gradients(source: pathlib.Path,
                          steps: int) -> List[Dict[str, np.ndarray]]:
    per_step = [{} for _ in range(steps)]
    for key, value in read_npz(source).items():
      match = re.fullmatch(r'step(\d+)/(.+)', key)
      if not match or int(match[1]) >= steps:
        raise FixtureError(f'{source}: unexpected key {key!r} (expected '
                           f'step<k>/<parameter name>, k < {steps})')
      per_step[int(match[1])][match[2]] = value
    empty = [k for k, gradients in enumerate(per_step) if not gradients]
    if empty:
      raise FixtureError(f'{source} has no gradients for steps {empty}')
    return per_step


@dataclasses.dataclass
class Mask2FormerModelFixture(_ModelFolder):
  """A loaded Mask2Former model fixture (see `_ModelFolder`); its manifest
  also holds the losses, inference results, and `float32_error` and
  `reference_max_abs` per output key."""


@dataclasses.dataclass
class Mask2FormerStandaloneFixture:
  """A loaded Mask2Former standalone fixture (at least one part present).

  Attributes:
    path: the folder.
    manifest: the parsed manifest.json.
    parts: for each part present (`MASK2FORMER_PARTS`), its manifest section
      and npz arrays.
  """
  path: pathlib.Path
  manifest: Dict[str, Any]
  parts: Dict[str, StandalonePart]


Fixture = Union[ModelFixture, StandaloneFixture, TrainingFixture,
                Mask2FormerModelFixture, Mask2FormerStandaloneFixture]


def read_json(path: pathlib.Path) -> Any:
  """Parses a json file; FixtureError if it is missing or malformed."""
  if not path.is_file():
    raise FixtureError(f'{path} does not exist')
  try:
    return json.loads(path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise FixtureError(f'{path} is not valid JSON: {e}') from e


def read_npz(path: pathlib.Path) -> Dict[str, np.ndarray]:
  """Reads every array of an npz file; FixtureError if it is not one."""
  if not path.is_file():
    raise FixtureError(f'{path} does not exist')
  try:
    with np.load(path, allow_pickle=False) as npz:
      return {name: npz[name] for name in npz.files}
  except (OSError, ValueError) as e:
    raise FixtureError(f'{path} is not a readable .npz file: {e}') from e


def require(mapping: Mapping[str, Any], keys: Sequence[str],
            source: pathlib.Path) -> None:
  """Raises FixtureError naming `source` if any of `keys` is absent."""
  absent = [k for k in keys if k not in mapping]
  if absent:
    raise FixtureError(f'{source} lacks {absent}')


def fixture_kind(path: pathlib.Path) -> str:
  """Which kind of fixture a folder holds: MODEL, STANDALONE, TRAINING,
  MASK2FORMER_MODEL or MASK2FORMER_STANDALONE.

  Raises:
    FixtureError: not a folder, or none of the kinds' files are there.
  """
  if not path.is_dir():
    raise FixtureError(f'{path} is not a directory')
  if (path / TRAJECTORY).exists():
    return TRAINING
  mask2former = _mask2former_kind(path)
  if mask2former:
    return mask2former
  if any((path / f'{part}.npz').exists() or (path / f'{part}.json').exists()
         for part in (MATCHER_CRITERION, POSTPROCESS)):
    return STANDALONE
  if any((path / name).exists() for name in (MANIFEST, WEIGHTS, REFERENCE)):
    return MODEL
  raise FixtureError(
      f'{path} is not a fixture folder: expected a model fixture ({MANIFEST}, '
      f'{WEIGHTS}, {REFERENCE}), a standalone fixture '
      f'({MATCHER_CRITERION}.npz/.json and/or {POSTPROCESS}.npz/.json) or a '
      f'training fixture ({", ".join(TRAINING_FILES)})')


def _mask2former_kind(path: pathlib.Path) -> Optional[str]:
  """MASK2FORMER_MODEL or MASK2FORMER_STANDALONE by the manifest, or None.

  A model folder's manifest config has `MASK2FORMER_CONFIG_KEY`; a
  standalone folder has a manifest (MaskFormer's standalone folders have
  none) with a section of a part whose npz is there.
  """
  if not (path / MANIFEST).is_file():
    return None
  manifest = read_json(path / MANIFEST)
  if not isinstance(manifest, dict):
    return None
  config = manifest.get('config')
  if isinstance(config, dict) and MASK2FORMER_CONFIG_KEY in config:
    return MASK2FORMER_MODEL
  if not (path / WEIGHTS).exists() and any(
      isinstance(manifest.get(part), dict) and (path / f'{part}.npz').exists()
      for part in MASK2FORMER_PARTS):
    return MASK2FORMER_STANDALONE
  return None


def load_mask2former_model_fixture(path) -> Mask2FormerModelFixture:
  """Loads a Mask2Former model folder.

  Raises:
    FixtureError: missing files, or a manifest without the per-key float32
      errors and magnitudes the tolerances come from.
  """
  path = pathlib.Path(path)
  missing = [n for n in (MANIFEST, WEIGHTS, REFERENCE)
             if not (path / n).is_file()]
  if missing:
    raise FixtureError(f'{path} is not a Mask2Former model folder: missing '
                       f'{", ".join(missing)}')
  manifest = read_json(path / MANIFEST)
  require(manifest, _MASK2FORMER_MANIFEST_KEYS, path / MANIFEST)
  arrays = read_npz(path / REFERENCE)
  require(arrays, ['padded_normalized_images', 'image_sizes', 'original_sizes',
                   'pred_logits', 'pred_masks'], path / REFERENCE)
  return Mask2FormerModelFixture(path=path, manifest=manifest, arrays=arrays)


def load_mask2former_standalone_fixture(path) -> Mask2FormerStandaloneFixture:
  """Loads a Mask2Former standalone folder (any subset of the parts).

  Raises:
    FixtureError: a part with a manifest section but no npz (or the
      reverse), or no part at all.
  """
  path = pathlib.Path(path)
  manifest = read_json(path / MANIFEST)
  parts = {}
  for part in MASK2FORMER_PARTS:
    present = [isinstance(manifest.get(part), dict),
               (path / f'{part}.npz').is_file()]
    if any(present) and not all(present):
      raise FixtureError(
          f'{path}: the part {part!r} needs both its {MANIFEST} section and '
          f'{part}.npz; only the '
          f'{"section" if present[0] else "npz"} is there')
    if all(present):
      parts[part] = StandalonePart(meta=manifest[part],
                                   arrays=read_npz(path / f'{part}.npz'))
  if not parts:
    raise FixtureError(f'{path} is not a Mask2Former standalone folder')
  return Mask2FormerStandaloneFixture(path=path, manifest=manifest,
                                      parts=parts)


def _check_config(config: Any, source: pathlib.Path) -> None:
  if not isinstance(config, dict):
    raise FixtureError(f'{source} has no "config" object')
  absent = [k for k in _REQUIRED_CONFIG_KEYS if k not in config]
  if absent:
    raise FixtureError(f'{source}: "config" lacks {absent}')


def load_model_fixture(path) -> ModelFixture:
  """Loads a model fixture folder.

  Args:
    path: the folder.

  Returns:
    The fixture.

  Raises:
    FixtureError: not a folder, missing files, or a malformed manifest.
  """
  path = pathlib.Path(path)
  if not path.is_dir():
    raise FixtureError(f'{path} is not a directory')
  missing = [n for n in (MANIFEST, WEIGHTS, REFERENCE)
             if not (path / n).is_file()]
  if missing:
    raise FixtureError(f'{path} is not a model fixture folder: missing '
                       f'{", ".join(missing)}')
  manifest = read_json(path / MANIFEST)
  _check_config(manifest.get('config') if isinstance(manifest, dict) else None,
                path / MANIFEST)
  arrays = read_npz(path / REFERENCE)
  require(arrays, expected_model_outputs(manifest['config']), path / REFERENCE)
  float32_error = _float32_error(path, REFERENCE_EXACT)
  exact = None
  if float32_error is not None:
    exact = read_npz(path / REFERENCE_EXACT)
    require(float32_error, ['keys'], path / FLOAT32_ERROR)
    require(float32_error['keys'], list(exact),
            path / f'{FLOAT32_ERROR} "keys"')
    absent = [k for k in exact if k not in arrays]
    if absent:
      raise FixtureError(f'{path / REFERENCE_EXACT} has {absent}, which '
                         f'{REFERENCE} lacks')
  return ModelFixture(path=path, manifest=manifest, arrays=arrays,
                      exact=exact, float32_error=float32_error)


def expected_model_outputs(config: Mapping[str, Any]) -> List[str]:
  """The reference.npz entries every model folder of `config` must have.

  The input and the forward outputs: backbone res2..res5, mask features, the
  "+6 Enc" encoder output (for that decoder), the final logits and masks and,
  with deep supervision (the default), every auxiliary layer's logits.
  Ground truth, matchings and inference results are optional groups: checks
  that need an absent group are reported as skipped.
  """
  names = (['padded_normalized_images'] +
           [f'backbone_res{level}' for level in '2345'] +
           ['mask_features', 'pred_logits', 'pred_masks'])
  if config['pixel_decoder'] == 'transformer_encoder':
    names.append('transformer_encoder_output')
  if config.get('deep_supervision', True):
    names += [f'aux{j}_pred_logits' for j in range(int(config['dec_layers']) - 1)]
  return names


def _float32_error(path: pathlib.Path,
                   exact_file: str) -> Optional[Dict[str, Any]]:
  """float32_error.json if the folder has exact answers, else None.

  Raises:
    FixtureError: only one of `exact_file` and float32_error.json is there,
      or the json is not an object.
  """
  present = [(path / name).is_file() for name in (exact_file, FLOAT32_ERROR)]
  if not any(present):
    return None
  if not all(present):
    raise FixtureError(f'{path}: {exact_file} and {FLOAT32_ERROR} go '
                       f'together; only '
                       f'{exact_file if present[0] else FLOAT32_ERROR} is '
                       'there')
  float32_error = read_json(path / FLOAT32_ERROR)
  if not isinstance(float32_error, dict):
    raise FixtureError(f'{path / FLOAT32_ERROR} is not a JSON object')
  return float32_error


def _check_matcher_criterion(part: StandalonePart, path: pathlib.Path):
  """The predictions, and the targets of every image, are there."""
  arrays = part.arrays
  source = path / f'{MATCHER_CRITERION}.npz'
  require(arrays, ['pred_logits', 'pred_masks'], source)
  num_images = arrays['pred_logits'].shape[0]
  require(arrays, [f'tgt_{kind}_{b}' for b in range(num_images)
                   for kind in ('masks', 'classes')], source)
  if not isinstance(part.meta, dict):
    raise FixtureError(f'{path / MATCHER_CRITERION}.json is not an object')


def _check_postprocess(part: StandalonePart, path: pathlib.Path):
  """The thing classes, and each case's thresholds, inputs and results."""
  meta = part.meta
  source = path / f'{POSTPROCESS}.json'
  if not isinstance(meta, dict):
    raise FixtureError(f'{source} is not a JSON object')
  require(meta, ['thing_classes', 'cases'], source)
  for c, case in enumerate(meta['cases']):
    require(case, ['object_mask_threshold', 'overlap_threshold',
                   'segments_info'], path / f'{POSTPROCESS}.json case {c}')
    require(part.arrays, [f'logits_{c}', f'masks_{c}', f'panoptic_{c}'],
            path / f'{POSTPROCESS}.npz')


def load_standalone_fixture(path) -> StandaloneFixture:
  """Loads a standalone fixture folder (either part may be absent).

  Raises:
    FixtureError: a part with only one of its two files, unreadable files or
      missing entries.
  """
  path = pathlib.Path(path)
  parts = {}
  for part in (MATCHER_CRITERION, POSTPROCESS):
    present = [(path / f'{part}.{ext}').is_file() for ext in ('npz', 'json')]
    if any(present) and not all(present):
      raise FixtureError(f'{path}: {part}.npz and {part}.json go together; '
                         f'only {part}.{"npz" if present[0] else "json"} is '
                         'there')
    parts[part] = StandalonePart(
        meta=read_json(path / f'{part}.json'),
        arrays=read_npz(path / f'{part}.npz')) if all(present) else None
  if parts[MATCHER_CRITERION] is not None:
    _check_matcher_criterion(parts[MATCHER_CRITERION], path)
  if parts[POSTPROCESS] is not None:
    _check_postprocess(parts[POSTPROCESS], path)
  if not any(parts.values()):
    raise FixtureError(f'{path} is not a standalone fixture folder')
  return StandaloneFixture(path=path,
                           matcher_criterion=parts[MATCHER_CRITERION],
                           postprocess=parts[POSTPROCESS])


def load_training_fixture(path) -> TrainingFixture:
  """Loads a training fixture folder (gradients are read on demand).

  Raises:
    FixtureError: missing files or a malformed trajectory.json.
  """
  path = pathlib.Path(path)
  missing = [n for n in TRAINING_FILES if not (path / n).is_file()]
  if missing:
    raise FixtureError(f'{path} is not a complete training fixture folder: '
                       f'missing {", ".join(missing)}')
  trajectory = read_json(path / TRAJECTORY)
  if not isinstance(trajectory, dict):
    raise FixtureError(f'{path / TRAJECTORY} is not a JSON object')
  _check_config(trajectory.get('config'), path / TRAJECTORY)
  require(trajectory, ['optimizer', 'history'], path / TRAJECTORY)
  require(trajectory['optimizer'], OPTIMIZER_KEYS,
          path / f'{TRAJECTORY} "optimizer"')
  if not trajectory['history'] or not all(
      isinstance(h, dict) and 'total' in h for h in trajectory['history']):
    raise FixtureError(f'{path / TRAJECTORY}: "history" must be a non-empty '
                       'list of per-step objects with a "total"')
  float32_error = _float32_error(path, GRADIENTS_EXACT)
  if float32_error is not None:
    require(float32_error, ['gradients_rel_l2', 'losses_step0'],
            path / FLOAT32_ERROR)
  return TrainingFixture(path=path, trajectory=trajectory,
                         batch=read_npz(path / 'batch.npz'),
                         matchings_step0=read_npz(path / 'matchings_step0.npz'),
                         float32_error=float32_error)


def load_fixture(path) -> Fixture:
  """Loads a fixture folder of any kind (see `fixture_kind`).

  Raises:
    FixtureError: the folder is not a well-formed fixture.
  """
  path = pathlib.Path(path)
  kind = fixture_kind(path)
  if kind == TRAINING:
    return load_training_fixture(path)
  if kind == STANDALONE:
    return load_standalone_fixture(path)
  if kind == MASK2FORMER_MODEL:
    return load_mask2former_model_fixture(path)
  if kind == MASK2FORMER_STANDALONE:
    return load_mask2former_standalone_fixture(path)
  return load_model_fixture(path)
