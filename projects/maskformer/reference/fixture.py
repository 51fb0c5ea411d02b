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

A model fixture folder holds `manifest.json` (with the architecture under
`config`), `weights.pkl` (a detectron2-style checkpoint, current or legacy
names) and `reference.npz` (PyTorch outputs, NCHW). This module loads it,
turns the manifest's architecture into a `configs.model.MaskFormer`, and
converts NCHW arrays to NHWC. Training and standalone (matcher, criterion,
post-processing) folders are recognized and refused with
`UnsupportedFixtureError`.
"""
import dataclasses
import json
import pathlib
from typing import Any
from typing import Dict
from typing import Mapping

import numpy as np

from projects.maskformer.configs import model as model_cfg

MANIFEST = 'manifest.json'
WEIGHTS = 'weights.pkl'
REFERENCE = 'reference.npz'

# Manifest `config` keys every model fixture must have.
_REQUIRED_CONFIG_KEYS = (
    'width', 'depths', 'pixel_decoder', 'conv_dim', 'mask_dim', 'hidden_dim',
    'nheads', 'dim_feedforward', 'dec_layers', 'dropout', 'num_queries',
    'num_classes')


class FixtureError(ValueError):
  """The folder is not a well-formed model fixture."""


class UnsupportedFixtureError(FixtureError):
  """The folder is a kind of fixture that is not verified yet."""


@dataclasses.dataclass
class ModelFixture:
  """A loaded model fixture.

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


def nchw_to_nhwc(array: np.ndarray) -> np.ndarray:
  """Moves the channel axis of a [B, C, H, W] array last."""
  array = np.asarray(array)
  if array.ndim != 4:
    raise ValueError(f'expected a 4-D NCHW array, got shape {array.shape}')
  return array.transpose(0, 2, 3, 1)


def _refuse_other_kinds(path: pathlib.Path):
  if (path / 'trajectory.json').exists():
    raise UnsupportedFixtureError(
        f'{path} is a training fixture (trajectory.json): verifying training '
        'runs is not implemented yet; pass a model fixture folder (with '
        f'{MANIFEST}, {WEIGHTS} and {REFERENCE})')
  if (path / 'matcher_criterion.npz').exists() or (
      path / 'postprocess.npz').exists():
    raise UnsupportedFixtureError(
        f'{path} holds standalone matcher/criterion/post-processing '
        'fixtures: verifying them is not implemented yet; pass a model '
        f'fixture folder (with {MANIFEST}, {WEIGHTS} and {REFERENCE})')


def load_model_fixture(path) -> ModelFixture:
  """Loads a model fixture folder.

  Args:
    path: the folder.

  Returns:
    The fixture.

  Raises:
    UnsupportedFixtureError: a training or standalone fixture folder.
    FixtureError: not a folder, missing files, or a malformed manifest.
  """
  path = pathlib.Path(path)
  if not path.is_dir():
    raise FixtureError(f'{path} is not a directory')
  _refuse_other_kinds(path)
  missing = [n for n in (MANIFEST, WEIGHTS, REFERENCE)
             if not (path / n).is_file()]
  if missing:
    raise FixtureError(f'{path} is not a model fixture folder: missing '
                       f'{", ".join(missing)}')
  try:
    manifest = json.loads((path / MANIFEST).read_text())
  except json.JSONDecodeError as e:
    raise FixtureError(f'{path / MANIFEST} is not valid JSON: {e}') from e
  config = manifest.get('config') if isinstance(manifest, dict) else None
  if not isinstance(config, dict):
    raise FixtureError(f'{path / MANIFEST} has no "config" object')
  absent = [k for k in _REQUIRED_CONFIG_KEYS if k not in config]
  if absent:
    raise FixtureError(f'{path / MANIFEST}: "config" lacks {absent}')
  with np.load(path / REFERENCE) as npz:
    arrays = {name: npz[name] for name in npz.files}
  return ModelFixture(path=path, manifest=manifest, arrays=arrays)


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
