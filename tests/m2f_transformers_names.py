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
fixture's architecture, written once by running this file with torch and
transformers installed:

  python tests/m2f_transformers_names.py \
      ../shared/fixtures/mask2former_reference/m2f_r50w16_panoptic

`build_port` builds that port (torch and transformers needed); without them
only the numpy parts are usable.
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


def read_names_file(path: pathlib.Path = NAMES_FILE
                    ) -> Dict[str, Tuple[int, ...]]:
  """{name: shape} of the real port, from `NAMES_FILE`."""
  names = {}
  for line in path.read_text().splitlines():
    name, shape = line.split(' ')
    names[name] = tuple(int(d) for d in shape.split(',') if d)
  return names


def build_port(config: Mapping[str, Any]):
  """The `transformers` Mask2Former of a manifest's architecture (eval).

  Args:
    config: the fixture manifest's "config" (ResNet `width`, `depths`, ...).

  Returns:
    A `transformers.Mask2FormerForUniversalSegmentation` with random weights
    and the eager attention.
  """
  import transformers  # pylint: disable=g-import-not-at-top
  width = config['width']
  backbone = transformers.ResNetConfig(
      embedding_size=width, hidden_sizes=[4 * width * 2**i for i in range(4)],
      depths=list(config['depths']), layer_type='bottleneck',
      downsample_in_first_stage=False, downsample_in_bottleneck=False,
      out_features=['stage1', 'stage2', 'stage3', 'stage4'])
  port_config = transformers.Mask2FormerConfig(
      backbone_config=backbone, feature_size=config['conv_dim'],
      mask_feature_size=config['mask_dim'], hidden_dim=config['hidden_dim'],
      encoder_feedforward_dim=config['enc_dim_feedforward'],
      encoder_layers=config['enc_layers'],
      decoder_layers=config['dec_layers_cfg'],
      num_attention_heads=config['nheads'],
      dim_feedforward=config['dim_feedforward'], dropout=config['dropout'],
      pre_norm=config['pre_norm'],
      enforce_input_projection=config['enforce_input_project'],
      common_stride=config['common_stride'],
      num_queries=config['num_queries'], num_labels=config['num_classes'])
  port_config._attn_implementation = 'eager'  # pylint: disable=protected-access
  return transformers.Mask2FormerForUniversalSegmentation(port_config).eval()


def main(fixture_dir: str) -> None:
  manifest = json.loads((pathlib.Path(fixture_dir) / 'manifest.json')
                        .read_text())
  port = build_port(manifest['config'])
  lines = [f'{name} {",".join(str(d) for d in value.shape)}'
           for name, value in port.state_dict().items()]
  NAMES_FILE.parent.mkdir(exist_ok=True)
  NAMES_FILE.write_text('\n'.join(lines) + '\n')
  print(f'wrote {len(lines)} names to {NAMES_FILE}')


if __name__ == '__main__':
  main(sys.argv[1])
