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

"""Renames PyTorch MaskFormer / ResNet checkpoints to one canonical naming.

The canonical names are the current original code's state-dict names
(`backbone.res2.0.conv1.weight`, `sem_seg_head.pixel_decoder.adapter_1.weight`,
`sem_seg_head.predictor.transformer.decoder.layers.0.self_attn.in_proj_weight`,
...), with PyTorch layouts. Accepted sources:

  * 'detectron2': MaskFormer `.pkl` files, with the current
    `sem_seg_head.pixel_decoder.*` names or the released checkpoints' flat
    legacy `sem_seg_head.{adapter_1,layer_1,...}` names (any number of
    `pixel_decoder.` prefixes is normalized to one); also detectron2's
    ImageNet backbones (`stem.*`, `res2.*`, ... without `backbone.`).
  * 'transformers': `MaskFormerForInstanceSegmentation` state dicts (ResNet
    backbone, FPN pixel decoder), with 4.x names (`out_proj`, `fc1`) or 5.x
    names (`o_proj`, `mlp.fc1`); q/k/v projections are packed back into
    `in_proj_weight` / `in_proj_bias` (rows q; k; v).
  * 'torchvision': torchvision ResNet names (`conv1`, `bn1`, `layer1.0.*`,
    `downsample.*`), for backbone-only conversion.

Source tensors that are deliberately not model weights (the criterion's
`empty_weight`, BatchNorm's `num_batches_tracked`, torchvision's `fc`
classifier, non-persistent `pixel_mean`/`pixel_std`) are listed as ignored.
A source name that no rule recognizes keeps its name, so the strict
converter reports it as unexpected.
"""
import dataclasses
import re
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

DETECTRON2 = 'detectron2'
TRANSFORMERS = 'transformers'
TORCHVISION = 'torchvision'
NAMINGS = (DETECTRON2, TRANSFORMERS, TORCHVISION)


class NamingError(ValueError):
  """The checkpoint's naming scheme is not recognized."""


@dataclasses.dataclass(frozen=True)
class CanonicalTensor:
  """A tensor under its canonical name, with the source names it came from."""
  value: np.ndarray
  sources: Tuple[str, ...]


@dataclasses.dataclass
class CanonicalState:
  """A checkpoint renamed to canonical names.

  Attributes:
    naming: the detected source naming (one of `NAMINGS`).
    tensors: {canonical name: tensor}.
    ignored: source names deliberately left out (not model weights).
  """
  naming: str
  tensors: Dict[str, CanonicalTensor]
  ignored: List[str]


_IGNORED = {
    DETECTRON2: (r'^criterion\.empty_weight$', r'(^|\.)num_batches_tracked$',
                 r'^pixel_(mean|std)$'),
    TRANSFORMERS: (r'^criterion\.empty_weight$',
                   r'(^|\.)num_batches_tracked$'),
    TORCHVISION: (r'^fc\.(weight|bias)$', r'(^|\.)num_batches_tracked$'),
}


def detect_naming(names: Sequence[str]) -> str:
  """Guesses the naming scheme from the tensor names.

  Args:
    names: the checkpoint's tensor names.

  Returns:
    One of `NAMINGS`.

  Raises:
    NamingError: no scheme matches.
  """
  def any_match(pattern):
    return any(re.match(pattern, n) for n in names)

  if any_match(r'model\.(pixel_level_module|transformer_module)\.'):
    return TRANSFORMERS
  if any_match(r'(backbone|sem_seg_head)\.') or any_match(r'(stem|res[2-5])\.'):
    return DETECTRON2
  if any_match(r'(conv1|bn1|layer[1-4])\.'):
    return TORCHVISION
  raise NamingError(
      'unrecognized checkpoint naming (expected detectron2 MaskFormer, '
      '`transformers` MaskFormer or torchvision ResNet names); first names: '
      f'{sorted(names)[:5]}')


def _detectron2_name(name: str) -> str:
  name = re.sub(r'^sem_seg_head\.(pixel_decoder\.)+', 'sem_seg_head.', name)
  name = re.sub(r'^sem_seg_head\.(?!predictor\.)',
                'sem_seg_head.pixel_decoder.', name)
  return re.sub(r'^(stem|res[2-5])\.', r'backbone.\1.', name)


def _stage(index: str) -> str:
  return f'res{int(index) + 2}'


_HF_BACKBONE = r'model\.pixel_level_module\.encoder\.'
_HF_FPN = r'model\.pixel_level_module\.decoder\.'
_HF_DECODER = r'model\.transformer_module\.decoder\.'
_D2_PIXEL_DECODER = 'sem_seg_head.pixel_decoder.'
_D2_DECODER = 'sem_seg_head.predictor.transformer.decoder.'

# (pattern, replacement) rules; a replacement is a template for `Match.expand`
# or a function of the match. HF's FPN layer i is the original's level 3 - i.
_Rule = Tuple[str, object]
_TRANSFORMERS_RULES: Sequence[_Rule] = (
    (_HF_BACKBONE + r'embedder\.embedder\.convolution\.weight',
     'backbone.stem.conv1.weight'),
    (_HF_BACKBONE + r'embedder\.embedder\.normalization\.(\w+)',
     r'backbone.stem.conv1.norm.\1'),
    (_HF_BACKBONE + r'encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.'
     r'convolution\.weight',
     lambda m: f'backbone.{_stage(m[1])}.{m[2]}.shortcut.weight'),
    (_HF_BACKBONE + r'encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.'
     r'normalization\.(\w+)',
     lambda m: f'backbone.{_stage(m[1])}.{m[2]}.shortcut.norm.{m[3]}'),
    (_HF_BACKBONE + r'encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.'
     r'convolution\.weight',
     lambda m: f'backbone.{_stage(m[1])}.{m[2]}.conv{int(m[3]) + 1}.weight'),
    (_HF_BACKBONE + r'encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.'
     r'normalization\.(\w+)',
     lambda m: (f'backbone.{_stage(m[1])}.{m[2]}.conv{int(m[3]) + 1}.norm.'
                f'{m[4]}')),
    (_HF_FPN + r'fpn\.stem\.0\.weight', _D2_PIXEL_DECODER + 'layer_4.weight'),
    (_HF_FPN + r'fpn\.stem\.1\.(weight|bias)',
     _D2_PIXEL_DECODER + r'layer_4.norm.\1'),
    (_HF_FPN + r'fpn\.layers\.(\d)\.proj\.0\.weight',
     lambda m: f'{_D2_PIXEL_DECODER}adapter_{3 - int(m[1])}.weight'),
    (_HF_FPN + r'fpn\.layers\.(\d)\.proj\.1\.(weight|bias)',
     lambda m: f'{_D2_PIXEL_DECODER}adapter_{3 - int(m[1])}.norm.{m[2]}'),
    (_HF_FPN + r'fpn\.layers\.(\d)\.block\.0\.weight',
     lambda m: f'{_D2_PIXEL_DECODER}layer_{3 - int(m[1])}.weight'),
    (_HF_FPN + r'fpn\.layers\.(\d)\.block\.1\.(weight|bias)',
     lambda m: f'{_D2_PIXEL_DECODER}layer_{3 - int(m[1])}.norm.{m[2]}'),
    (_HF_FPN + r'mask_projection\.(weight|bias)',
     _D2_PIXEL_DECODER + r'mask_features.\1'),
    (r'model\.transformer_module\.queries_embedder\.weight',
     'sem_seg_head.predictor.query_embed.weight'),
    (r'model\.transformer_module\.input_projection\.(weight|bias)',
     r'sem_seg_head.predictor.input_proj.\1'),
    (_HF_DECODER + r'layers\.(\d+)\.self_attn\.(?:out_proj|o_proj)\.'
     r'(weight|bias)', _D2_DECODER + r'layers.\1.self_attn.out_proj.\2'),
    (_HF_DECODER + r'layers\.(\d+)\.encoder_attn\.(?:out_proj|o_proj)\.'
     r'(weight|bias)', _D2_DECODER + r'layers.\1.multihead_attn.out_proj.\2'),
    (_HF_DECODER + r'layers\.(\d+)\.(?:mlp\.)?fc1\.(weight|bias)',
     _D2_DECODER + r'layers.\1.linear1.\2'),
    (_HF_DECODER + r'layers\.(\d+)\.(?:mlp\.)?fc2\.(weight|bias)',
     _D2_DECODER + r'layers.\1.linear2.\2'),
    (_HF_DECODER + r'layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)',
     _D2_DECODER + r'layers.\1.norm1.\2'),
    (_HF_DECODER + r'layers\.(\d+)\.encoder_attn_layer_norm\.(weight|bias)',
     _D2_DECODER + r'layers.\1.norm2.\2'),
    (_HF_DECODER + r'layers\.(\d+)\.final_layer_norm\.(weight|bias)',
     _D2_DECODER + r'layers.\1.norm3.\2'),
    (_HF_DECODER + r'layernorm\.(weight|bias)', _D2_DECODER + r'norm.\1'),
    (r'class_predictor\.(weight|bias)',
     r'sem_seg_head.predictor.class_embed.\1'),
    (r'mask_embedder\.(\d)\.0\.(weight|bias)',
     r'sem_seg_head.predictor.mask_embed.layers.\1.\2'),
)

# HF's split attention input projections, packed back as q; k; v.
_HF_QKV = re.compile(_HF_DECODER + r'layers\.(\d+)\.(self_attn|encoder_attn)\.'
                     r'([qkv])_proj\.(weight|bias)$')

_TORCHVISION_RULES: Sequence[_Rule] = (
    (r'conv1\.weight', 'backbone.stem.conv1.weight'),
    (r'bn1\.(\w+)', r'backbone.stem.conv1.norm.\1'),
    (r'layer(\d)\.(\d+)\.conv(\d)\.weight',
     lambda m: f'backbone.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.weight'),
    (r'layer(\d)\.(\d+)\.bn(\d)\.(\w+)',
     lambda m: f'backbone.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.norm.{m[4]}'),
    (r'layer(\d)\.(\d+)\.downsample\.0\.weight',
     lambda m: f'backbone.res{int(m[1]) + 1}.{m[2]}.shortcut.weight'),
    (r'layer(\d)\.(\d+)\.downsample\.1\.(\w+)',
     lambda m: f'backbone.res{int(m[1]) + 1}.{m[2]}.shortcut.norm.{m[3]}'),
)


def _apply_rules(name: str, rules: Sequence[_Rule]) -> Optional[str]:
  for pattern, replacement in rules:
    match = re.fullmatch(pattern, name)
    if match:
      if isinstance(replacement, str):
        return match.expand(replacement)
      return replacement(match)
  return None


def _rule_renamer(rules: Sequence[_Rule]) -> Callable[[str], str]:
  return lambda name: _apply_rules(name, rules) or name


_RENAMERS = {
    DETECTRON2: _detectron2_name,
    TRANSFORMERS: _rule_renamer(_TRANSFORMERS_RULES),
    TORCHVISION: _rule_renamer(_TORCHVISION_RULES),
}


def _add(tensors: Dict[str, CanonicalTensor], name: str,
         tensor: CanonicalTensor):
  if name in tensors:
    raise NamingError(
        f'source tensors {list(tensors[name].sources)} and '
        f'{list(tensor.sources)} both map to {name}')
  tensors[name] = tensor


def _pack_transformers_qkv(state: Mapping[str, np.ndarray],
                           tensors: Dict[str, CanonicalTensor]) -> List[str]:
  """Packs complete q/k/v triples into in_proj; returns the names used."""
  groups: Dict[Tuple[str, str, str], Dict[str, str]] = {}
  for name in state:
    match = _HF_QKV.match(name)
    if match:
      layer, attention, part, kind = match.groups()
      groups.setdefault((layer, attention, kind), {})[part] = name
  used = []
  for (layer, attention, kind), parts in groups.items():
    if set(parts) != {'q', 'k', 'v'}:
      continue  # Left under their own names: reported as unexpected.
    names = tuple(parts[p] for p in 'qkv')
    module = 'self_attn' if attention == 'self_attn' else 'multihead_attn'
    _add(tensors, f'{_D2_DECODER}layers.{layer}.{module}.in_proj_{kind}',
         CanonicalTensor(
             np.concatenate([np.asarray(state[n]) for n in names]), names))
    used.extend(names)
  return used


def to_canonical(state: Mapping[str, np.ndarray],
                 naming: Optional[str] = None) -> CanonicalState:
  """Renames a checkpoint's tensors to the canonical names.

  Args:
    state: {source name: array} in PyTorch layouts.
    naming: one of `NAMINGS`, or None to detect it.

  Returns:
    The canonical state.

  Raises:
    NamingError: unknown naming, or two source tensors map to one name.
  """
  naming = naming or detect_naming(list(state))
  if naming not in NAMINGS:
    raise NamingError(f'naming {naming!r} is not one of {NAMINGS}')
  tensors: Dict[str, CanonicalTensor] = {}
  ignored = []
  used = set()
  if naming == TRANSFORMERS:
    used.update(_pack_transformers_qkv(state, tensors))
  rename = _RENAMERS[naming]
  for name, value in state.items():
    if name in used:
      continue
    if any(re.search(p, name) for p in _IGNORED[naming]):
      ignored.append(name)
      continue
    _add(tensors, rename(name), CanonicalTensor(np.asarray(value), (name,)))
  return CanonicalState(naming=naming, tensors=tensors, ignored=ignored)
