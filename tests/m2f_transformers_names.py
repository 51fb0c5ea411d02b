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

"""The `transformers` Mask2Former twin of the model fixture, for the tests.

`transformers_state` renames the fixture's detectron2 tensors to the names
of a `transformers` `Mask2FormerForUniversalSegmentation` with a ResNet
backbone, in numpy, following the module structure of the `transformers`
port (written from the detectron2 side, independently of the converter's
rules). `NAMES_FILE` holds the names and shapes of a real port of the
fixture's architecture, written once by running this file from the
repository root (this checkout's `projects` first) with torch and
transformers installed:

  PYTHONPATH=. python tests/m2f_transformers_names.py \
      ../shared/fixtures/mask2former_reference/m2f_r50w16_panoptic

`model_config` is the fixture's architecture as our model config; the port
itself is `transformers_witness.build_mask2former_port` (torch and
transformers needed); without them only the numpy parts are usable.
"""
import json
import pathlib
import re
import sys
from typing import Any
from typing import Dict
from typing import Mapping
from typing import Tuple

import numpy as np

from projects.maskformer.configs import mask2former as m2f_cfg
from projects.maskformer.reference import transformers_witness

NAMES_FILE = (pathlib.Path(__file__).resolve().parent / 'data' /
              'm2f_r50w16_transformers_names.txt')

_ENCODER = 'model.pixel_level_module.encoder.'
_PIXEL_DECODER = 'model.pixel_level_module.decoder.'
_MODULE = 'model.transformer_module.'
_LAYERS = _MODULE + 'decoder.layers.'

# detectron2 module -> transformers module of a pixel-decoder encoder layer.
_ENCODER_LAYER = {'norm1': 'self_attn_layer_norm', 'linear1': 'fc1',
                  'linear2': 'fc2', 'norm2': 'final_layer_norm'}
# (detectron2 layer list, module) -> transformers module of decoder layer i.
_DECODER_LAYER = {
    ('cross_attention', 'multihead_attn'): 'cross_attn',
    ('cross_attention', 'norm'): 'cross_attn_layer_norm',
    ('self_attention', 'self_attn'): 'self_attn',
    ('self_attention', 'norm'): 'self_attn_layer_norm',
    ('ffn', 'linear1'): 'fc1',
    ('ffn', 'linear2'): 'fc2',
    ('ffn', 'norm'): 'final_layer_norm',
}
_PREDICTOR = {
    'decoder_norm': _MODULE + 'decoder.layernorm',
    'query_feat': _MODULE + 'queries_features',
    'query_embed': _MODULE + 'queries_embedder',
    'level_embed': _MODULE + 'level_embed',
    'class_embed': 'class_predictor',
}


def _backbone_name(name: str) -> str:
  """`backbone.res3.1.conv2.norm.bias` -> the `transformers` ResNet name."""
  match = re.fullmatch(
      r'backbone\.(?:stem|res(\d)\.(\d+))\.(conv(\d)|shortcut)\.'
      r'(weight|norm\.\w+)', name)
  stage, block, conv, index, tail = match.groups()
  if stage is None:
    module = 'embedder.embedder'
  else:
    module = f'encoder.stages.{int(stage) - 2}.layers.{block}.' + (
        'shortcut' if conv == 'shortcut' else f'layer.{int(index) - 1}')
  tail = ('convolution.weight' if tail == 'weight'
          else tail.replace('norm.', 'normalization.'))
  return f'{_ENCODER}{module}.{tail}'


def _pixel_decoder_name(name: str) -> str:
  """A `sem_seg_head.pixel_decoder.` name (prefix removed) -> HF name."""
  match = re.fullmatch(r'transformer\.encoder\.layers\.(\d+)\.(\w+)\.(.+)',
                       name)
  if match:
    layer, module, tail = match.groups()
    return (f'{_PIXEL_DECODER}encoder.layers.{layer}.'
            f'{_ENCODER_LAYER.get(module, module)}.{tail}')
  if name == 'transformer.level_embed':
    return _PIXEL_DECODER + 'level_embed'
  if name.startswith('input_proj.'):
    return _PIXEL_DECODER + 'input_projections.' + name[len('input_proj.'):]
  if name.startswith('mask_features.'):
    return _PIXEL_DECODER + 'mask_projection.' + name[len('mask_features.'):]
  module, tail = name.split('.', 1)  # adapter_1 / layer_1: conv, GroupNorm.
  return (f'{_PIXEL_DECODER}{module}.' +
          ('0.weight' if tail == 'weight' else tail.replace('norm.', '1.')))


def _predictor_name(name: str) -> str:
  """A `sem_seg_head.predictor.` name (prefix removed) -> HF name."""
  match = re.fullmatch(
      r'transformer_(cross_attention|self_attention|ffn)(?:_layers)\.(\d+)\.'
      r'(\w+)\.(.+)', name)
  if match:
    kind, layer, module, tail = match.groups()
    return f'{_LAYERS}{layer}.{_DECODER_LAYER[kind, module]}.{tail}'
  match = re.fullmatch(r'mask_embed\.layers\.(\d)\.(\w+)', name)
  if match:
    return (f'{_MODULE}decoder.mask_predictor.mask_embedder.{match[1]}.0.'
            f'{match[2]}')
  if name.startswith('input_proj.'):
    return _MODULE + 'input_projections.' + name[len('input_proj.'):]
  module, tail = name.split('.', 1)
  return f'{_PREDICTOR[module]}.{tail}'


def transformers_name(name: str) -> str:
  """The `transformers` name of a fixture (detectron2) tensor name."""
  for prefix, rename in (('sem_seg_head.pixel_decoder.', _pixel_decoder_name),
                         ('sem_seg_head.predictor.', _predictor_name)):
    if name.startswith(prefix):
      return rename(name[len(prefix):])
  return _backbone_name(name)


def transformers_state(d2_state: Mapping[str, np.ndarray]
                       ) -> Dict[str, np.ndarray]:
  """A `transformers` Mask2Former state dict with the fixture's weights.

  The self-attention `in_proj_*` rows q; k; v become `q_proj`, `k_proj`,
  `v_proj` (the cross-attention is a `torch.nn.MultiheadAttention` and keeps
  `in_proj_*`); every BatchNorm gets its `num_batches_tracked` and the
  criterion its `empty_weight`, as in a saved port.

  Args:
    d2_state: the fixture's {detectron2 name: array}.

  Returns:
    {transformers name: array}.
  """
  state = {}
  for name, value in d2_state.items():
    hf_name = transformers_name(name)
    match = re.fullmatch(r'(.+\.self_attn)\.in_proj_(weight|bias)', hf_name)
    if match and '.transformer_module.' in hf_name:
      for part, chunk in zip('qkv', np.split(value, 3)):
        state[f'{match[1]}.{part}_proj.{match[2]}'] = chunk
      continue
    state[hf_name] = value
    if hf_name.endswith('normalization.running_var'):
      state[hf_name.replace('running_var', 'num_batches_tracked')] = np.array(
          0, np.int64)
  num_logits = d2_state['sem_seg_head.predictor.class_embed.bias'].shape[0]
  state['criterion.empty_weight'] = np.ones(num_logits, np.float32)
  return state


def model_overrides(config: Mapping[str, Any]) -> Dict[str, Any]:
  """`task.model` of the fixture's architecture (manifest "config")."""
  return {
      'num_classes': config['num_classes'],
      'backbone': {'type': 'torch_resnet', 'torch_resnet': {
          'depths': list(config['depths']), 'base_width': config['width']}},
      'pixel_decoder': {
          'conv_dim': config['conv_dim'], 'mask_dim': config['mask_dim'],
          'num_layers': config['enc_layers'], 'num_heads': config['nheads'],
          'num_points': config['enc_n_points'],
          'dim_feedforward': config['enc_dim_feedforward'],
          'dropout_rate': config['dropout']},
      'transformer_decoder': {
          'hidden_dim': config['hidden_dim'],
          'num_queries': config['num_queries'],
          'num_heads': config['nheads'],
          'dim_feedforward': config['dim_feedforward'],
          'dec_layers': config['dec_layers_cfg'],
          'enforce_input_projection': config['enforce_input_project']},
  }


def model_config(config: Mapping[str, Any]) -> m2f_cfg.Mask2FormerModel:
  """Our model config of the fixture's architecture (manifest "config")."""
  model = m2f_cfg.Mask2FormerModel()
  model.override(model_overrides(config), is_strict=True)
  return model


def read_names_file(path: pathlib.Path = NAMES_FILE
                    ) -> Dict[str, Tuple[int, ...]]:
  """{name: shape} of the real port, from `NAMES_FILE`."""
  names = {}
  for line in path.read_text().splitlines():
    name, shape = line.split(' ')
    names[name] = tuple(int(d) for d in shape.split(',') if d)
  return names


def main(fixture_dir: str) -> None:
  manifest = json.loads((pathlib.Path(fixture_dir) / 'manifest.json')
                        .read_text())
  port = transformers_witness.build_mask2former_port(
      model_config(manifest['config']))
  lines = [f'{name} {",".join(str(d) for d in value.shape)}'
           for name, value in port.state_dict().items()]
  NAMES_FILE.parent.mkdir(exist_ok=True)
  NAMES_FILE.write_text('\n'.join(lines) + '\n')
  print(f'wrote {len(lines)} names to {NAMES_FILE}')


if __name__ == '__main__':
  main(sys.argv[1])
