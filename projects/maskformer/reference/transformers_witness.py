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

"""A second witness: the `transformers` (PyTorch) port of MaskFormer.

The fixtures' tolerance, 1e-4 * max(1, max|reference|), can be smaller than
the float32 rounding error of the original PyTorch code itself on
ill-conditioned random-weight models (docs/numerics.md). This module builds
the `transformers` port (an optional dependency: torch and transformers,
`pip install .[pytorch]`), loads a fixture's weights into it strictly and
evaluates it in float64, which gives the exact answer to well below the
tolerance. `witness_notes` then reports, for every end-to-end output, how far
the reference (PyTorch float32) and our float32 outputs are from it, in units
of the tolerance: a check that fails while the reference itself is about as
far from the exact answer is a conditioning problem, not a porting error.

The port computes the original's function where it matters here
(`docs/semantics.md`, section 12, lists its differences): its
auxiliary predictions differ, so every layer's prediction is recomputed from
the raw decoder layer outputs with the original's rule (the shared final
LayerNorm, the class head and the mask MLP, masks by dot product with the
mask features). It has no transformer-encoder pixel decoder and always
projects the predictor input only when the channel counts differ, so only
FPN models with a `torch_resnet` backbone and no enforced input projection
are supported.

`build_mask2former_port` builds the `transformers` Mask2Former
(`Mask2FormerForUniversalSegmentation`) of a Mask2Former model config, for
the conversion tests and the model benchmark (`tools/benchmark.py
--architecture=mask2former`).
"""
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional

import numpy as np

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.configs import mask2former as mask2former_cfg
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.modeling import resnet
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import model_checks

# Buffers of the port that have no counterpart in MaskFormer checkpoints.
_PORT_ONLY_BUFFERS = ('num_batches_tracked', 'criterion.empty_weight')


class WitnessUnavailableError(RuntimeError):
  """torch / transformers are missing or the architecture has no port."""


def _import_port():
  """Returns (torch, transformers) or raises WitnessUnavailableError."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise WitnessUnavailableError(
        f'the PyTorch witness needs torch and transformers ({e}); install '
        'them with `pip install ".[pytorch]"`') from e
  return torch, transformers


def build_port(config: model_cfg.MaskFormer):
  """The `transformers` MaskFormer with `config`'s architecture (eval mode).

  Args:
    config: a MaskFormer model config with a 'torch_resnet' backbone and an
      'fpn' pixel decoder.

  Returns:
    A `transformers.MaskFormerForInstanceSegmentation` with random weights.

  Raises:
    WitnessUnavailableError: torch/transformers are missing or the port
      cannot express the architecture.
  """
  _, transformers = _import_port()
  if config.pixel_decoder.type != 'fpn' or config.pixel_decoder.num_groups != 32:
    raise WitnessUnavailableError(
        'the port has only the FPN pixel decoder with GroupNorm(32); got '
        f'{config.pixel_decoder.type!r} with {config.pixel_decoder.num_groups}'
        ' groups')
  predictor = config.transformer_predictor
  if predictor.enforce_input_projection:
    raise WitnessUnavailableError('the port cannot enforce an input projection')
  backbone_config = _resnet_config(transformers, config.backbone)
  decoder_config = dict(
      model_type='detr', d_model=predictor.hidden_dim,
      decoder_layers=predictor.num_decoder_layers,
      decoder_attention_heads=predictor.num_heads,
      decoder_ffn_dim=predictor.dim_feedforward,
      encoder_layers=1, encoder_ffn_dim=predictor.dim_feedforward,
      encoder_attention_heads=predictor.num_heads,
      num_queries=predictor.num_queries, dropout=predictor.dropout_rate,
      attention_dropout=predictor.dropout_rate,
      activation_dropout=predictor.dropout_rate, auxiliary_loss=False,
      use_timm_backbone=False, backbone_config=None)
  port_config = transformers.MaskFormerConfig(
      backbone_config=backbone_config, decoder_config=decoder_config,
      fpn_feature_size=config.pixel_decoder.conv_dim,
      mask_feature_size=config.pixel_decoder.mask_dim,
      num_labels=config.num_classes, use_auxiliary_loss=False)
  port_config._attn_implementation = 'eager'  # pylint: disable=protected-access
  port_config.decoder_config._attn_implementation = 'eager'  # pylint: disable=protected-access
  port = transformers.MaskFormerForInstanceSegmentation(port_config)
  port.eval()
  return port


def _resnet_config(transformers, backbone: model_cfg.Backbone):
  """The `transformers.ResNetConfig` of a 'torch_resnet' backbone config.

  Raises:
    WitnessUnavailableError: another backbone type.
  """
  if backbone.type != 'torch_resnet':
    raise WitnessUnavailableError(f'the port has no {backbone.type!r} backbone')
  resnet_config = backbone.torch_resnet
  width = resnet_config.base_width
  return transformers.ResNetConfig(
      num_channels=3, embedding_size=width,
      hidden_sizes=[4 * width * 2**i for i in range(4)],
      depths=list(resnet_config.depths or
                  resnet.RESNET_DEPTHS[resnet_config.model_id]),
      layer_type='bottleneck', hidden_act='relu',
      downsample_in_first_stage=False, downsample_in_bottleneck=False,
      out_features=['stage1', 'stage2', 'stage3', 'stage4'])


def build_mask2former_port(
    config: mask2former_cfg.Mask2FormerModel,
    losses: Optional[losses_cfg.PointSampledLosses] = None):
  """The `transformers` Mask2Former with `config`'s architecture (eval mode).

  The port hard-codes what our config leaves open: GroupNorm(32) in the
  pixel decoder, 4 sampling points per head and level, one head count for
  the pixel decoder and the transformer decoder, one dropout rate for both,
  and matching costs equal to the loss weights.

  Args:
    config: a Mask2Former model config with a 'torch_resnet' backbone.
    losses: the criterion (point sampling, weights, "no object" weight);
      None: the port's defaults, which are the original's.

  Returns:
    A `transformers.Mask2FormerForUniversalSegmentation` with random weights
    and the eager attention; its loss always has the auxiliary terms of
    every earlier head (`transformer_decoder.dec_layers` - 1 of them). Its
    `use_auxiliary_loss` stays on: without it (or `output_hidden_states`)
    its forward fails (transformers 5.x).

  Raises:
    WitnessUnavailableError: torch/transformers are missing or the port
      cannot express the architecture or the criterion.
  """
  _, transformers = _import_port()
  pixel_decoder = config.pixel_decoder
  decoder = config.transformer_decoder
  fixed = {'pixel_decoder.num_groups': (pixel_decoder.num_groups, 32),
           'pixel_decoder.num_points': (pixel_decoder.num_points, 4),
           'pixel_decoder.num_heads': (pixel_decoder.num_heads,
                                       decoder.num_heads)}
  if losses is not None:
    fixed.update({
        f'losses.cost_{term}_weight': (getattr(losses, f'cost_{term}_weight'),
                                       getattr(losses, f'{term}_weight'))
        for term in ('class', 'mask', 'dice')})
  unsupported = {name: got for name, (got, needed) in fixed.items()
                 if got != needed}
  if unsupported:
    raise WitnessUnavailableError(
        f'the port cannot express {unsupported}: it has GroupNorm(32), 4 '
        'points, one head count for both decoders and matching costs equal '
        'to the loss weights')
  criterion = {} if losses is None else dict(
      class_weight=losses.class_weight, mask_weight=losses.mask_weight,
      dice_weight=losses.dice_weight, no_object_weight=losses.no_object_weight,
      train_num_points=losses.train_num_points,
      oversample_ratio=losses.oversample_ratio,
      importance_sample_ratio=losses.importance_sample_ratio)
  port_config = transformers.Mask2FormerConfig(
      backbone_config=_resnet_config(transformers, config.backbone),
      feature_size=pixel_decoder.conv_dim,
      mask_feature_size=pixel_decoder.mask_dim,
      encoder_feedforward_dim=pixel_decoder.dim_feedforward,
      encoder_layers=pixel_decoder.num_layers,
      hidden_dim=decoder.hidden_dim, decoder_layers=decoder.dec_layers,
      num_attention_heads=decoder.num_heads,
      dim_feedforward=decoder.dim_feedforward,
      dropout=pixel_decoder.dropout_rate, pre_norm=False,
      enforce_input_projection=decoder.enforce_input_projection,
      common_stride=4, num_queries=decoder.num_queries,
      num_labels=config.num_classes, **criterion)
  port_config._attn_implementation = 'eager'  # pylint: disable=protected-access
  return transformers.Mask2FormerForUniversalSegmentation(port_config).eval()


def load_state(port, state: Mapping[str, np.ndarray], naming: str) -> None:
  """Loads a checkpoint of any supported naming into the port, strictly.

  Both sides are brought to the converter's canonical names
  (`name_mapping.to_canonical`), so every naming the converter reads works.

  Args:
    port: a model from `build_port`.
    state: name -> array in PyTorch layouts.
    naming: one of `name_mapping.NAMINGS`.

  Raises:
    name_mapping.NamingError: a name of `state` is not understood.
    ValueError: tensors missing on either side or with other shapes.
  """
  torch, _ = _import_port()
  port_state = {k: v.detach().numpy() for k, v in port.state_dict().items()}
  wanted = name_mapping.to_canonical(port_state, name_mapping.TRANSFORMERS)
  given = name_mapping.to_canonical(state, naming)
  missing = sorted(set(wanted.tensors) - set(given.tensors))
  unexpected = sorted(set(given.tensors) - set(wanted.tensors))
  if missing or unexpected:
    raise ValueError(f'checkpoint does not fit the port: missing {missing}, '
                     f'unexpected {unexpected}')
  new_state = {}
  for name, tensor in wanted.tensors.items():
    value = np.asarray(given.tensors[name].value)
    parts = (np.split(value, len(tensor.sources), axis=0)
             if len(tensor.sources) > 1 else [value])
    for source, part in zip(tensor.sources, parts):
      if tuple(port_state[source].shape) != part.shape:
        raise ValueError(f'{name} -> {source}: shape {part.shape}, the port '
                         f'has {tuple(port_state[source].shape)}')
      new_state[source] = torch.from_numpy(np.ascontiguousarray(part))
  missing, unexpected = port.load_state_dict(new_state, strict=False)
  missing = [m for m in missing if not m.endswith(_PORT_ONLY_BUFFERS)]
  if missing or unexpected:
    raise ValueError(f'port left unassigned: {missing}, unexpected: '
                     f'{unexpected}')


def original_outputs(port, images: np.ndarray) -> Dict[str, np.ndarray]:
  """The original's outputs computed with the port's modules.

  Args:
    port: a loaded port, in float32 or float64 (`port.double()`).
    images: a float [B, 3, H, W] array of normalized, padded images (cast to
      the port's dtype).

  Returns:
    Fixture-named NCHW arrays: 'backbone_res2'..'backbone_res5',
    'mask_features', 'pred_logits' [B, Q, K+1], 'pred_masks' [B, Q, H/4,
    W/4] and, for decoder layer j before the last, 'aux{j}_pred_logits' and
    'aux{j}_pred_masks'.
  """
  torch, _ = _import_port()
  dtype = next(port.parameters()).dtype
  pixels = torch.from_numpy(np.asarray(images)).to(dtype)
  decoder = port.model.transformer_module.decoder
  raw_layers = []
  hooks = [layer.register_forward_hook(
      lambda module, inputs, output: raw_layers.append(
          output if torch.is_tensor(output) else output[0]))
           for layer in decoder.layers]
  try:
    with torch.no_grad():
      outputs = port(pixel_values=pixels)
      features = port.model.pixel_level_module.encoder(pixels).feature_maps
  finally:
    for hook in hooks:
      hook.remove()
  mask_features = outputs.pixel_decoder_last_hidden_state
  result = {f'backbone_res{i + 2}': f for i, f in enumerate(features)}
  result['mask_features'] = mask_features
  num_layers = len(decoder.layers)
  with torch.no_grad():
    for j, state in enumerate(raw_layers[:num_layers]):
      normalized = decoder.layernorm(state)
      prefix = 'pred' if j == num_layers - 1 else f'aux{j}_pred'
      result[f'{prefix}_logits'] = port.class_predictor(normalized)
      result[f'{prefix}_masks'] = torch.einsum(
          'bqc,bchw->bqhw', port.mask_embedder(normalized), mask_features)
  return {k: v.detach().numpy() for k, v in result.items()}


def _error_in_tolerances(values: np.ndarray, exact: np.ndarray,
                         tolerance: float) -> float:
  return float(np.abs(np.asarray(values, np.float64) - exact).max() /
               tolerance)


def witness_notes(run: model_checks.ModelRun) -> List[checks_lib.Result]:
  """Distances of the reference and of our outputs from the float64 port.

  Args:
    run: a model run of a fixture with a supported architecture.

  Returns:
    One note per end-to-end output the fixture holds, named
    'witness.<output>', valued 'reference X tol, ours Y tol from float64'
    (max abs distance over the output's tolerance), then
    'witness.port_float32_vs_reference', the float32 port's worst distance
    from the reference in tolerances (near 0 when PyTorch's kernels
    reproduce the fixture: evidence that the port computes the same
    function).

  Raises:
    WitnessUnavailableError: no torch/transformers or no port for the model.
  """
  config = fixture_formats.model_config(run.fixture.config)
  port = build_port(config)
  state = converter.read_state_dict(run.fixture.weights_path)
  load_state(port, state, name_mapping.detect_naming(list(state)))
  reference = run.fixture.arrays
  images = reference['padded_normalized_images']
  float32 = original_outputs(port, images)
  exact = original_outputs(port.double(), images)
  ours = _ours_nchw(run.outputs)
  notes = []
  port_worst = 0.0
  for name in sorted(set(reference) & set(exact) & set(ours),
                     key=_output_order):
    target = np.asarray(reference[name], np.float64)
    tolerance = float(checks_lib.scaled_tolerance(target))
    reference_error = _error_in_tolerances(target, exact[name], tolerance)
    ours_error = _error_in_tolerances(ours[name], exact[name], tolerance)
    port_worst = max(port_worst,
                     _error_in_tolerances(float32[name], target, tolerance))
    notes.append(checks_lib.Note(
        f'witness.{name}',
        f'reference {reference_error:.2f} tol, ours {ours_error:.2f} tol '
        'from float64'))
  notes.append(checks_lib.Note('witness.port_float32_vs_reference',
                               f'{port_worst:.2f} tol'))
  return notes


def _ours_nchw(outputs: Mapping[str, Any]) -> Dict[str, np.ndarray]:
  """Our model outputs under the fixture's NCHW names."""
  def nchw(feature):
    return np.transpose(np.asarray(feature), (0, 3, 1, 2))

  result = {f'backbone_res{level}': nchw(feature)
            for level, feature in outputs['backbone_features'].items()}
  result['mask_features'] = nchw(outputs['mask_features'])
  result['pred_logits'] = np.asarray(outputs['pred_logits'])
  result['pred_masks'] = np.asarray(outputs['pred_masks'])
  for j, aux in enumerate(outputs.get('aux_outputs', ())):
    result[f'aux{j}_pred_logits'] = np.asarray(aux['pred_logits'])
    result[f'aux{j}_pred_masks'] = np.asarray(aux['pred_masks'])
  return result


def _output_order(name: str):
  """Backbone, mask features, final predictions, then aux layers in order."""
  if name.startswith('aux'):
    return 3, int(name[3:name.index('_')]), name
  groups = ('backbone', 'mask_features', 'pred_')
  return next(i for i, prefix in enumerate(groups)
              if name.startswith(prefix)), 0, name
