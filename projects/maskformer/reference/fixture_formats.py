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

"""Fixture content in the project's formats.

`fixture` loads a reference folder as it is; this module turns what it
loaded into what the project's code takes: the manifest's architecture into
a `configs.model.MaskFormer` (a Mask2Former manifest's into a
`configs.mask2former.Mask2FormerModel`, its criterion settings into a
`configs.losses.PointSampledLosses`), loss weights into a
`configs.losses.Losses`,
NCHW arrays into NHWC, per-image ground truth into padded loss targets,
stored (query, target) index pairs into [B, T] matchings, and raw images
into the normalized, zero-padded batch (`docs/semantics.md`, section 10).
"""
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence

import numpy as np
import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.configs import mask2former as mask2former_cfg
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.reference import fixture as fixture_lib


def nchw_to_nhwc(array: np.ndarray) -> np.ndarray:
  """Moves the channel axis of a [B, C, H, W] array last."""
  array = np.asarray(array)
  if array.ndim != 4:
    raise ValueError(f'expected a 4-D NCHW array, got shape {array.shape}')
  return array.transpose(0, 2, 3, 1)


def nhwc_to_nchw(array: np.ndarray) -> np.ndarray:
  """Moves the channel axis of a [B, H, W, C] array after the batch axis."""
  array = np.asarray(array)
  if array.ndim != 4:
    raise ValueError(f'expected a 4-D NHWC array, got shape {array.shape}')
  return array.transpose(0, 3, 1, 2)


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
      raise fixture_lib.FixtureError(
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


def _torch_resnet(config: Mapping[str, Any]) -> model_cfg.Backbone:
  """The 'torch_resnet' backbone of a manifest's "depths" and "width"."""
  return model_cfg.Backbone(
      type='torch_resnet',
      torch_resnet=model_cfg.TorchResNet(
          depths=[int(d) for d in config['depths']],
          base_width=int(config['width'])))


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
    raise fixture_lib.FixtureError(
        f'unknown pixel_decoder {config["pixel_decoder"]!r}')
  if config['pixel_decoder'] == 'transformer_encoder' and (
      'enc_layers' not in config):
    raise fixture_lib.FixtureError('a transformer_encoder pixel decoder needs '
                                   '"enc_layers" in the manifest config')
  dropout = float(config['dropout'])
  return model_cfg.MaskFormer(
      num_classes=int(config['num_classes']),
      backbone=_torch_resnet(config),
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


def mask2former_model_config(config: Mapping[str, Any]
                             ) -> mask2former_cfg.Mask2FormerModel:
  """The `Mask2FormerModel` config of a Mask2Former manifest's architecture.

  Args:
    config: the manifest's "config" (width, depths, conv_dim, mask_dim,
      hidden_dim, nheads, dim_feedforward, enc_dim_feedforward, enc_layers,
      enc_n_points, dec_layers_cfg, num_queries, num_classes, dropout,
      enforce_input_project).

  Returns:
    The model config ('torch_resnet' backbone, 32 GroupNorm groups).
  """
  dropout = float(config['dropout'])
  return mask2former_cfg.Mask2FormerModel(
      num_classes=int(config['num_classes']),
      backbone=_torch_resnet(config),
      pixel_decoder=mask2former_cfg.MSDeformAttnPixelDecoder(
          conv_dim=int(config['conv_dim']), mask_dim=int(config['mask_dim']),
          num_layers=int(config['enc_layers']),
          num_heads=int(config['nheads']),
          num_points=int(config['enc_n_points']),
          dim_feedforward=int(config['enc_dim_feedforward']),
          dropout_rate=dropout),
      transformer_decoder=mask2former_cfg.MaskedTransformerDecoder(
          hidden_dim=int(config['hidden_dim']),
          num_queries=int(config['num_queries']),
          num_heads=int(config['nheads']),
          dim_feedforward=int(config['dim_feedforward']),
          dec_layers=int(config[fixture_lib.MASK2FORMER_CONFIG_KEY]),
          enforce_input_projection=bool(
              config.get('enforce_input_project', False))))


def point_sampled_losses_config(spec: Mapping[str, Any]
                                ) -> losses_cfg.PointSampledLosses:
  """Mask2Former's criterion settings from a manifest config or section.

  Args:
    spec: with `train_num_points`, `oversample_ratio`,
      `importance_sample_ratio` and the weights either as `class_weight`,
      `mask_weight`, `dice_weight`, `no_object_weight` (the model folder's
      config) or as `cost_weights` and `eos_coef` (the standalone
      matcher_criterion section); absent weights take the defaults.

  Returns:
    The `PointSampledLosses` config (matching costs weighted as the losses
    unless `cost_weights` says otherwise).
  """
  defaults = losses_cfg.PointSampledLosses()
  cost = spec.get('cost_weights', {})
  weights = {name: float(spec.get(f'{name}_weight', cost.get(
      f'cost_{name}', getattr(defaults, f'{name}_weight'))))
             for name in ('class', 'mask', 'dice')}
  return losses_cfg.PointSampledLosses(
      class_weight=weights['class'], mask_weight=weights['mask'],
      dice_weight=weights['dice'],
      cost_class_weight=float(cost.get('cost_class', weights['class'])),
      cost_mask_weight=float(cost.get('cost_mask', weights['mask'])),
      cost_dice_weight=float(cost.get('cost_dice', weights['dice'])),
      no_object_weight=float(spec.get('no_object_weight', spec.get(
          'eos_coef', defaults.no_object_weight))),
      train_num_points=int(spec['train_num_points']),
      oversample_ratio=float(spec['oversample_ratio']),
      importance_sample_ratio=float(spec['importance_sample_ratio']))
