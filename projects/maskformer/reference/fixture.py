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

"""Loading of PyTorch reference fixture folders, in the project's formats.

Three kinds of folder (`docs/semantics.md`, section 10):

  * model: `manifest.json` (the architecture under `config`, the losses, the
    panoptic segments), `weights.pkl` (a detectron2-style checkpoint, current
    or legacy names) and `reference.npz` (PyTorch outputs, NCHW);
  * standalone: `matcher_criterion.{npz,json}` and/or `postprocess.{npz,json}`
    (the matcher, criterion and post-processing on random inputs);
  * training: `trajectory.json` (architecture, optimizer, per-step losses),
    `batch.npz`, `weights_initial.pkl`, `gradients.npz`,
    `matchings_step0.npz`, `weights_final.pkl` (and `after_training.npz`).

Model and training folders may also hold the exact answers (ibid.): the original run in float64, `reference_exact.npz` (model) or
`gradients_step0_exact.npz` (training), always with `float32_error.json`,
PyTorch's own float32 distance from them. The two go together.

Besides loading, this module turns fixture content into the project's
formats: the manifest's architecture into a `configs.model.MaskFormer`, loss
weights into a `configs.losses.Losses`, NCHW arrays into NHWC, per-image
ground truth into padded loss targets, stored (query, target) index pairs
into [B, T] matchings, and raw images into the normalized, zero-padded batch.
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
import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.dataloaders import maskformer_input

MODEL = 'model'
STANDALONE = 'standalone'
TRAINING = 'training'

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

# Manifest `config` keys every model architecture must have.
_REQUIRED_CONFIG_KEYS = (
    'width', 'depths', 'pixel_decoder', 'conv_dim', 'mask_dim', 'hidden_dim',
    'nheads', 'dim_feedforward', 'dec_layers', 'dropout', 'num_queries',
    'num_classes')


class FixtureError(ValueError):
  """The folder is not a well-formed fixture."""


@dataclasses.dataclass
class ModelFixture:
  """A loaded model fixture.

  Attributes:
    path: the folder.
    manifest: the parsed manifest.json.
    arrays: the reference arrays (reference.npz), as stored (NCHW).
    exact: the exact answers (reference_exact.npz, NCHW), or None.
    float32_error: the parsed float32_error.json (present with `exact`).
  """
  path: pathlib.Path
  manifest: Dict[str, Any]
  arrays: Mapping[str, np.ndarray]
  exact: Optional[Mapping[str, np.ndarray]] = None
  float32_error: Optional[Dict[str, Any]] = None

  @property
  def weights_path(self) -> pathlib.Path:
    return self.path / WEIGHTS

  @property
  def config(self) -> Dict[str, Any]:
    """The manifest's architecture (`manifest["config"]`)."""
    return self.manifest['config']


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


Fixture = Union[ModelFixture, StandaloneFixture, TrainingFixture]


def nchw_to_nhwc(array: np.ndarray) -> np.ndarray:
  """Moves the channel axis of a [B, C, H, W] array last."""
  array = np.asarray(array)
  if array.ndim != 4:
    raise ValueError(f'expected a 4-D NCHW array, got shape {array.shape}')
  return array.transpose(0, 2, 3, 1)


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
  """Which kind of fixture a folder holds: MODEL, STANDALONE or TRAINING.

  Raises:
    FixtureError: not a folder, or none of the kinds' files are there.
  """
  if not path.is_dir():
    raise FixtureError(f'{path} is not a directory')
  if (path / TRAJECTORY).exists():
    return TRAINING
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
  return load_model_fixture(path)


def layer_key(layer: int) -> str:
  """A fixture's name of a layer in the criterion's order: final, aux0, ..."""
  return 'final' if layer == 0 else f'aux{layer - 1}'


def per_image(arrays: Mapping[str, np.ndarray],
              name: str) -> List[np.ndarray]:
  """`arrays[f'{name}_0']`, `arrays[f'{name}_1']`, ... while they exist."""
  result = []
  while f'{name}_{len(result)}' in arrays:
    result.append(arrays[f'{name}_{len(result)}'])
  return result


def padded_targets(masks: Sequence[np.ndarray], classes: Sequence[np.ndarray],
                   padded_size: Sequence[int], num_slots: int
                   ) -> Dict[str, np.ndarray]:
  """Loss targets from per-image ground truth, zero-padded.

  Args:
    masks: per image, a bool [n_b, h_b, w_b] array (at the image's own size).
    classes: per image, an int [n_b] array of contiguous class ids.
    padded_size: (H, W), the padded batch size (>= every h_b, w_b).
    num_slots: T >= every n_b.

  Returns:
    A dict with 'masks' (bool [B, T, H, W]), 'classes' (int32 [B, T]) and
    'valid' (bool [B, T]).

  Raises:
    FixtureError: inconsistent counts or sizes.
  """
  height, width = (int(s) for s in padded_size)
  padded = np.zeros((len(masks), num_slots, height, width), bool)
  padded_classes = np.zeros((len(masks), num_slots), np.int32)
  valid = np.zeros((len(masks), num_slots), bool)
  for b, (image_masks, image_classes) in enumerate(zip(masks, classes)):
    count, mask_height, mask_width = image_masks.shape
    if (count != len(image_classes) or count > num_slots or
        mask_height > height or mask_width > width):
      raise FixtureError(
          f'image {b}: {count} masks of {mask_height}x{mask_width} and '
          f'{len(image_classes)} classes do not fit {num_slots} slots of '
          f'{height}x{width}')
    padded[b, :count, :mask_height, :mask_width] = image_masks
    padded_classes[b, :count] = image_classes
    valid[b, :count] = True
  return {'masks': padded, 'classes': padded_classes, 'valid': valid}


def stored_matching(arrays: Mapping[str, np.ndarray], prefix: str,
                    num_images: int, num_slots: int) -> Optional[np.ndarray]:
  """A stored matching as an int32 [B, T] query-for-target array.

  Args:
    arrays: the fixture arrays.
    prefix: the key prefix of image b, with a `{b}` field, e.g.
      'match_final_img{b}' (keys `<prefix>_src`, `<prefix>_tgt`: the query and
      target indices of the matched pairs).
    num_images: B.
    num_slots: T.

  Returns:
    The matching, -1 for unmatched targets; None if any key is absent.
  """
  keys = [(prefix.format(b=b) + '_src', prefix.format(b=b) + '_tgt')
          for b in range(num_images)]
  if not all(src in arrays and tgt in arrays for src, tgt in keys):
    return None
  matching = np.full((num_images, num_slots), -1, np.int32)
  for b, (src, tgt) in enumerate(keys):
    matching[b, arrays[tgt]] = arrays[src]
  return matching


def losses_config(spec: Mapping[str, Any]) -> losses_cfg.Losses:
  """The criterion's settings for a fixture's weights (defaults otherwise).

  Args:
    spec: a manifest or json with any of `loss_weights` ({'ce', 'mask',
      'dice', 'eos_coef'}), `cost_weights` ({'cost_class', 'cost_mask',
      'cost_dice'}) and `eos_coef`. As in the original, the matching cost
      weighs masks and dice like the losses unless `cost_weights` says
      otherwise.

  Returns:
    The `Losses` config.
  """
  defaults = losses_cfg.Losses()
  loss = spec.get('loss_weights', {})
  cost = spec.get('cost_weights', {})
  mask = float(loss.get('mask', defaults.mask_weight))
  dice = float(loss.get('dice', defaults.dice_weight))
  return losses_cfg.Losses(
      class_weight=float(loss.get('ce', defaults.class_weight)),
      mask_weight=mask,
      dice_weight=dice,
      cost_class_weight=float(cost.get('cost_class',
                                       defaults.cost_class_weight)),
      cost_mask_weight=float(cost.get('cost_mask', mask)),
      cost_dice_weight=float(cost.get('cost_dice', dice)),
      no_object_weight=float(loss.get('eos_coef', spec.get(
          'eos_coef', defaults.no_object_weight))))


def normalized_padded_images(images: Sequence[np.ndarray],
                             size_divisibility: int = 0,
                             dtype: Any = np.float32) -> np.ndarray:
  """The model input of a batch, as the fixtures were made.

  Each uint8 RGB image is normalized with the pixel mean and std of
  `maskformer_input.normalize_image`, then zero-padded bottom/right to the
  batch maximum rounded up to a multiple of `size_divisibility` (detectron2's
  `ImageList.from_tensors`). The float64 input of the exact mode is
  normalized in float64, constants included, as the exact answers were made.

  Args:
    images: per image, a uint8 [h_b, w_b, 3] array.
    size_divisibility: 0 (no rounding) or the multiple.
    dtype: np.float32 or np.float64.

  Returns:
    A [B, H, W, 3] array of `dtype`.
  """
  height = max(image.shape[0] for image in images)
  width = max(image.shape[1] for image in images)
  if size_divisibility > 0:
    height = -(-height // size_divisibility) * size_divisibility
    width = -(-width // size_divisibility) * size_divisibility
  batch = np.zeros((len(images), height, width, 3), dtype)
  for b, image in enumerate(images):
    normalized = maskformer_input.normalize_image(
        tf.constant(image, tf.as_dtype(dtype))).numpy()
    batch[b, :image.shape[0], :image.shape[1]] = normalized
  return batch


def model_config(config: Mapping[str, Any]) -> model_cfg.MaskFormer:
  """The `MaskFormer` config of a manifest's architecture.

  Args:
    config: the manifest's "config" (keys as written by the fixture
      generator: width, depths, pixel_decoder, conv_dim, mask_dim,
      hidden_dim, nheads, dim_feedforward, enc_layers, dec_layers, dropout,
      num_queries, num_classes; optional enforce_input_proj,
      deep_supervision).

  Returns:
    The model config ('torch_resnet' backbone).

  Raises:
    FixtureError: unknown pixel decoder type, or no encoder depth for the
      "+6 Enc" decoder.
  """
  if config['pixel_decoder'] not in ('fpn', 'transformer_encoder'):
    raise FixtureError(f'unknown pixel_decoder {config["pixel_decoder"]!r}')
  if config['pixel_decoder'] == 'transformer_encoder' and (
      'enc_layers' not in config):
    raise FixtureError('a transformer_encoder pixel decoder needs '
                       '"enc_layers" in the manifest config')
  dropout = float(config['dropout'])
  return model_cfg.MaskFormer(
      num_classes=int(config['num_classes']),
      backbone=model_cfg.Backbone(
          type='torch_resnet',
          torch_resnet=model_cfg.TorchResNet(
              depths=[int(d) for d in config['depths']],
              base_width=int(config['width']))),
      pixel_decoder=model_cfg.PixelDecoder(
          type=config['pixel_decoder'],
          conv_dim=int(config['conv_dim']),
          mask_dim=int(config['mask_dim']),
          transformer_encoder=model_cfg.TransformerEncoder(
              num_layers=int(config.get('enc_layers', 0)),
              num_heads=int(config['nheads']),
              dim_feedforward=int(config['dim_feedforward']),
              dropout_rate=dropout)),
      transformer_predictor=model_cfg.TransformerPredictor(
          hidden_dim=int(config['hidden_dim']),
          num_queries=int(config['num_queries']),
          num_heads=int(config['nheads']),
          dim_feedforward=int(config['dim_feedforward']),
          dropout_rate=dropout,
          num_decoder_layers=int(config['dec_layers']),
          enforce_input_projection=bool(
              config.get('enforce_input_proj', False)),
          deep_supervision=bool(config.get('deep_supervision', True))))
