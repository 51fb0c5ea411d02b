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

"""Renames PyTorch MaskFormer / Mask2Former / ResNet checkpoints canonically.

The canonical names are the current original code's state-dict names
(`backbone.res2.0.conv1.weight`, `sem_seg_head.pixel_decoder.adapter_1.weight`,
`sem_seg_head.predictor.transformer.decoder.layers.0.self_attn.in_proj_weight`
for MaskFormer, `sem_seg_head.predictor.transformer_self_attention_layers.0.`
`self_attn.in_proj_weight` for Mask2Former, ...), with PyTorch layouts.

Two model families (`FAMILIES`) share the backbone names:
'maskformer' (FPN or transformer-encoder pixel decoder, DETR decoder) and
'mask2former' (deformable-attention pixel decoder, masked-attention decoder).
The family is given by the model being converted into or detected from the
names (`detect_family`); a checkpoint of the other family is refused.
Accepted sources:

  * 'detectron2': `.pkl` files. MaskFormer and Mask2Former, with the current
    `sem_seg_head.pixel_decoder.*` names or the older releases' flat
    `sem_seg_head.{adapter_1,layer_1,input_proj,...}` names (the heads'
    version-1 format: any number of `pixel_decoder.` prefixes is normalized
    to one); Mask2Former's version-1 `predictor.static_query` is its
    `predictor.query_feat`. Also detectron2's ImageNet backbones (`stem.*`,
    `res2.*`, ... without `backbone.`).
  * 'transformers': `MaskFormerForInstanceSegmentation` state dicts (4.x
    names `out_proj`, `fc1` or 5.x names `o_proj`, `mlp.fc1`) and
    `Mask2FormerForUniversalSegmentation` state dicts, both with the
    `transformers` ResNet backbone (`embedder`, `encoder.stages.*`); split
    q/k/v projections are packed back into `in_proj_weight` / `in_proj_bias`
    (rows q; k; v). Swin backbones are refused (`NamingError`): the model
    has no Swin backbone.
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

MASKFORMER = 'maskformer'
MASK2FORMER = 'mask2former'
FAMILIES = (MASKFORMER, MASK2FORMER)
_FAMILY_TITLES = {MASKFORMER: 'MaskFormer', MASK2FORMER: 'Mask2Former'}


class NamingError(ValueError):
  """The checkpoint's naming scheme or model family is not accepted."""


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
    family: the model family the names were read as (one of `FAMILIES`), or
      None for a backbone-only checkpoint read without a family.
  """
  naming: str
  tensors: Dict[str, CanonicalTensor]
  ignored: List[str]
  family: Optional[str] = None


_IGNORED = {
    DETECTRON2: (r'^criterion\.empty_weight$', r'(^|\.)num_batches_tracked$',
                 r'^pixel_(mean|std)$'),
    TRANSFORMERS: (r'^criterion\.empty_weight$',
                   r'(^|\.)num_batches_tracked$'),
    TORCHVISION: (r'^fc\.(weight|bias)$', r'(^|\.)num_batches_tracked$'),
}

# Source names that only one family has, in any naming (matched at the start).
_FAMILY_MARKERS = {
    MASKFORMER: (
        r'sem_seg_head\.predictor\.transformer\.decoder\.',
        r'sem_seg_head\.(pixel_decoder\.)*layer_4\.',
        r'model\.pixel_level_module\.decoder\.fpn\.',
        r'model\.transformer_module\.decoder\.layers\.\d+\.encoder_attn\.',
    ),
    MASK2FORMER: (
        r'sem_seg_head\.predictor\.(transformer_(self|cross)_attention_layers'
        r'|transformer_ffn_layers|query_feat|static_query|decoder_norm)\.',
        r'sem_seg_head\.(pixel_decoder\.)*transformer\.level_embed$',
        r'model\.pixel_level_module\.decoder\.(encoder|input_projections)\.',
        r'model\.transformer_module\.(queries_features|decoder\.mask_predictor)'
        r'\.',
    ),
}

# Swin backbones (detectron2's D2SwinTransformer, `transformers` Swin).
_SWIN = r'patch_embed|relative_position_(bias_table|index)'


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
      'unrecognized checkpoint naming (expected detectron2 MaskFormer or '
      'Mask2Former, `transformers` MaskFormer or Mask2Former, or torchvision '
      f'ResNet names); first names: {sorted(names)[:5]}')


def _family_example(names: Sequence[str], family: str) -> Optional[str]:
  """The first name (sorted) that only `family` has, or None."""
  return next((n for n in sorted(names)
               if any(re.match(p, n) for p in _FAMILY_MARKERS[family])), None)


def detect_family(names: Sequence[str]) -> Optional[str]:
  """The model family that the tensor names belong to.

  Args:
    names: the checkpoint's tensor names.

  Returns:
    One of `FAMILIES`, or None when no name is family-specific (a
    backbone-only checkpoint).

  Raises:
    NamingError: the names mix both families.
  """
  examples = {family: _family_example(names, family) for family in FAMILIES}
  found = [family for family, example in examples.items() if example]
  if len(found) > 1:
    raise NamingError(
        'the checkpoint mixes MaskFormer and Mask2Former names (e.g. '
        f'{examples[MASKFORMER]} and {examples[MASK2FORMER]})')
  return found[0] if found else None


def _resolve_family(names: Sequence[str], family: Optional[str]
                    ) -> Optional[str]:
  """The family to read `names` as: `family` (checked) or the detected one."""
  if family is not None and family not in FAMILIES:
    raise NamingError(f'family {family!r} is not one of {FAMILIES}')
  detected = detect_family(names)
  if family is not None and detected not in (None, family):
    raise NamingError(
        f'the checkpoint is a {_FAMILY_TITLES[detected]} checkpoint (e.g. '
        f'{_family_example(names, detected)}) but the model is a '
        f'{_FAMILY_TITLES[family]}: convert it into a '
        f'{_FAMILY_TITLES[detected]} model (a {detected} experiment)')
  return family or detected


def _refuse_swin(names: Sequence[str]) -> None:
  swin = sorted(n for n in names if re.search(_SWIN, n))
  if swin:
    raise NamingError(
        f'the checkpoint has a Swin backbone (e.g. {swin[0]}); only ResNet '
        "checkpoints can be converted (the 'torch_resnet' backbone)")


def _detectron2_renamer(family: Optional[str]) -> Callable[[str], str]:
  """detectron2 names: current, version-1 heads, ImageNet backbones."""
  def rename(name: str) -> str:
    name = re.sub(r'^sem_seg_head\.(pixel_decoder\.)+', 'sem_seg_head.', name)
    name = re.sub(r'^sem_seg_head\.(?!predictor\.)',
                  'sem_seg_head.pixel_decoder.', name)
    if family == MASK2FORMER:
      name = re.sub(r'^sem_seg_head\.predictor\.static_query\.',
                    'sem_seg_head.predictor.query_feat.', name)
    return re.sub(r'^(stem|res[2-5])\.', r'backbone.\1.', name)
  return rename


def _stage(index: str) -> str:
  return f'res{int(index) + 2}'


_HF_BACKBONE = r'model\.pixel_level_module\.encoder\.'
_HF_PIXEL_DECODER = r'model\.pixel_level_module\.decoder\.'
_HF_FPN = _HF_PIXEL_DECODER + r'fpn\.'
_HF_DECODER = r'model\.transformer_module\.decoder\.'
_D2_PIXEL_DECODER = 'sem_seg_head.pixel_decoder.'
_D2_PREDICTOR = 'sem_seg_head.predictor.'
_D2_DECODER = _D2_PREDICTOR + 'transformer.decoder.'

# (pattern, replacement) rules; a replacement is a template for `Match.expand`
# or a function of the match.
_Rule = Tuple[str, object]

# The `transformers` ResNet backbone (both families).
_TRANSFORMERS_RESNET_RULES: Sequence[_Rule] = (
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
)

# Names both `transformers` heads share.
_TRANSFORMERS_SHARED_RULES: Sequence[_Rule] = (
    (_HF_PIXEL_DECODER + r'mask_projection\.(weight|bias)',
     _D2_PIXEL_DECODER + r'mask_features.\1'),
    (r'model\.transformer_module\.queries_embedder\.weight',
     _D2_PREDICTOR + 'query_embed.weight'),
    (r'class_predictor\.(weight|bias)', _D2_PREDICTOR + r'class_embed.\1'),
)

# MaskFormer's head. HF's FPN layer i is the original's level 3 - i.
_TRANSFORMERS_MASKFORMER_RULES: Sequence[_Rule] = (
    (_HF_FPN + r'stem\.0\.weight', _D2_PIXEL_DECODER + 'layer_4.weight'),
    (_HF_FPN + r'stem\.1\.(weight|bias)',
     _D2_PIXEL_DECODER + r'layer_4.norm.\1'),
    (_HF_FPN + r'layers\.(\d)\.proj\.0\.weight',
     lambda m: f'{_D2_PIXEL_DECODER}adapter_{3 - int(m[1])}.weight'),
    (_HF_FPN + r'layers\.(\d)\.proj\.1\.(weight|bias)',
     lambda m: f'{_D2_PIXEL_DECODER}adapter_{3 - int(m[1])}.norm.{m[2]}'),
    (_HF_FPN + r'layers\.(\d)\.block\.0\.weight',
     lambda m: f'{_D2_PIXEL_DECODER}layer_{3 - int(m[1])}.weight'),
    (_HF_FPN + r'layers\.(\d)\.block\.1\.(weight|bias)',
     lambda m: f'{_D2_PIXEL_DECODER}layer_{3 - int(m[1])}.norm.{m[2]}'),
    (r'model\.transformer_module\.input_projection\.(weight|bias)',
     _D2_PREDICTOR + r'input_proj.\1'),
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
    (r'mask_embedder\.(\d)\.0\.(weight|bias)',
     _D2_PREDICTOR + r'mask_embed.layers.\1.\2'),
)

# Mask2Former's pixel-decoder encoder layers: HF module -> original module.
_M2F_ENCODER_MODULES = {'self_attn_layer_norm': 'norm1', 'fc1': 'linear1',
                        'fc2': 'linear2', 'final_layer_norm': 'norm2'}
# Mask2Former's decoder layer i: HF module -> original module.
_M2F_DECODER_MODULES = {
    'cross_attn': 'transformer_cross_attention_layers.{}.multihead_attn',
    'cross_attn_layer_norm': 'transformer_cross_attention_layers.{}.norm',
    'self_attn': 'transformer_self_attention_layers.{}.self_attn',
    'self_attn_layer_norm': 'transformer_self_attention_layers.{}.norm',
    'fc1': 'transformer_ffn_layers.{}.linear1',
    'fc2': 'transformer_ffn_layers.{}.linear2',
    'final_layer_norm': 'transformer_ffn_layers.{}.norm',
}
_D2_M2F_ENCODER = _D2_PIXEL_DECODER + 'transformer.encoder.layers.'

# Mask2Former's head (`Mask2FormerForUniversalSegmentation`).
_TRANSFORMERS_MASK2FORMER_RULES: Sequence[_Rule] = (
    (_HF_PIXEL_DECODER + r'level_embed',
     _D2_PIXEL_DECODER + 'transformer.level_embed'),
    (_HF_PIXEL_DECODER + r'input_projections\.(\d)\.([01])\.(weight|bias)',
     _D2_PIXEL_DECODER + r'input_proj.\1.\2.\3'),
    (_HF_PIXEL_DECODER + r'encoder\.layers\.(\d+)\.self_attn\.'
     r'(sampling_offsets|attention_weights|value_proj|output_proj)\.'
     r'(weight|bias)', _D2_M2F_ENCODER + r'\1.self_attn.\2.\3'),
    (_HF_PIXEL_DECODER + r'encoder\.layers\.(\d+)\.'
     r'(self_attn_layer_norm|fc1|fc2|final_layer_norm)\.(weight|bias)',
     lambda m: (f'{_D2_M2F_ENCODER}{m[1]}.{_M2F_ENCODER_MODULES[m[2]]}.'
                f'{m[3]}')),
    (_HF_PIXEL_DECODER + r'(adapter_1|layer_1)\.0\.weight',
     _D2_PIXEL_DECODER + r'\1.weight'),
    (_HF_PIXEL_DECODER + r'(adapter_1|layer_1)\.1\.(weight|bias)',
     _D2_PIXEL_DECODER + r'\1.norm.\2'),
    (r'model\.transformer_module\.queries_features\.weight',
     _D2_PREDICTOR + 'query_feat.weight'),
    (r'model\.transformer_module\.level_embed\.weight',
     _D2_PREDICTOR + 'level_embed.weight'),
    (r'model\.transformer_module\.input_projections\.(\d)\.(weight|bias)',
     _D2_PREDICTOR + r'input_proj.\1.\2'),
    (_HF_DECODER + r'layers\.(\d+)\.(self_attn|cross_attn)\.'
     r'(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)',
     lambda m: (_D2_PREDICTOR + _M2F_DECODER_MODULES[m[2]].format(m[1]) +
                f'.{m[3]}')),
    (_HF_DECODER + r'layers\.(\d+)\.(self_attn_layer_norm|cross_attn_layer_norm'
     r'|fc1|fc2|final_layer_norm)\.(weight|bias)',
     lambda m: (_D2_PREDICTOR + _M2F_DECODER_MODULES[m[2]].format(m[1]) +
                f'.{m[3]}')),
    (_HF_DECODER + r'layernorm\.(weight|bias)',
     _D2_PREDICTOR + r'decoder_norm.\1'),
    (_HF_DECODER + r'mask_predictor\.mask_embedder\.(\d)\.0\.(weight|bias)',
     _D2_PREDICTOR + r'mask_embed.layers.\1.\2'),
)

_TRANSFORMERS_HEAD_RULES = {
    MASKFORMER: _TRANSFORMERS_MASKFORMER_RULES,
    MASK2FORMER: _TRANSFORMERS_MASK2FORMER_RULES,
}

# HF's split attention input projections (groups layer, attention, part,
# kind), packed back as q; k; v into the in_proj name that `_QKV_TARGETS`
# gives for (layer, attention, kind).
_HF_QKV = {
    MASKFORMER: re.compile(_HF_DECODER + r'layers\.(\d+)\.'
                           r'(self_attn|encoder_attn)\.([qkv])_proj\.'
                           r'(weight|bias)$'),
    MASK2FORMER: re.compile(_HF_DECODER + r'layers\.(\d+)\.(self_attn)\.'
                            r'([qkv])_proj\.(weight|bias)$'),
}
_QKV_TARGETS = {
    MASKFORMER: lambda layer, attention, kind: (
        f'{_D2_DECODER}layers.{layer}.'
        f'{"self_attn" if attention == "self_attn" else "multihead_attn"}.'
        f'in_proj_{kind}'),
    MASK2FORMER: lambda layer, attention, kind: (
        f'{_D2_PREDICTOR}{_M2F_DECODER_MODULES[attention].format(layer)}.'
        f'in_proj_{kind}'),
}

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


def _renamer(naming: str, family: str) -> Callable[[str], str]:
  """The renaming of single source names for `naming` and `family`."""
  if naming == DETECTRON2:
    return _detectron2_renamer(family)
  if naming == TRANSFORMERS:
    return _rule_renamer(tuple(_TRANSFORMERS_RESNET_RULES) +
                         tuple(_TRANSFORMERS_SHARED_RULES) +
                         tuple(_TRANSFORMERS_HEAD_RULES[family]))
  return _rule_renamer(_TORCHVISION_RULES)


def _add(tensors: Dict[str, CanonicalTensor], name: str,
         tensor: CanonicalTensor):
  if name in tensors:
    raise NamingError(
        f'source tensors {list(tensors[name].sources)} and '
        f'{list(tensor.sources)} both map to {name}')
  tensors[name] = tensor


def _pack_transformers_qkv(state: Mapping[str, np.ndarray],
                           tensors: Dict[str, CanonicalTensor],
                           family: str) -> List[str]:
  """Packs complete q/k/v triples into in_proj; returns the names used."""
  groups: Dict[Tuple[str, str, str], Dict[str, str]] = {}
  for name in state:
    match = _HF_QKV[family].match(name)
    if match:
      layer, attention, part, kind = match.groups()
      groups.setdefault((layer, attention, kind), {})[part] = name
  used = []
  for (layer, attention, kind), parts in groups.items():
    if set(parts) != {'q', 'k', 'v'}:
      continue  # Left under their own names: reported as unexpected.
    names = tuple(parts[p] for p in 'qkv')
    _add(tensors, _QKV_TARGETS[family](layer, attention, kind),
         CanonicalTensor(
             np.concatenate([np.asarray(state[n]) for n in names]), names))
    used.extend(names)
  return used


def to_canonical(state: Mapping[str, np.ndarray],
                 naming: Optional[str] = None,
                 family: Optional[str] = None) -> CanonicalState:
  """Renames a checkpoint's tensors to the canonical names.

  Args:
    state: {source name: array} in PyTorch layouts.
    naming: one of `NAMINGS`, or None to detect it.
    family: the family of the model the checkpoint is for (one of
      `FAMILIES`), or None to detect it from the names (MaskFormer's rules
      when no name is family-specific).

  Returns:
    The canonical state.

  Raises:
    NamingError: unknown naming or family, a checkpoint of the other family
      or with a Swin backbone, or two source tensors that map to one name.
  """
  naming = naming or detect_naming(list(state))
  if naming not in NAMINGS:
    raise NamingError(f'naming {naming!r} is not one of {NAMINGS}')
  _refuse_swin(list(state))
  family = _resolve_family(list(state), family)
  rules_family = family or MASKFORMER
  tensors: Dict[str, CanonicalTensor] = {}
  ignored = []
  used = set()
  if naming == TRANSFORMERS:
    used.update(_pack_transformers_qkv(state, tensors, rules_family))
  rename = _renamer(naming, rules_family)
  for name, value in state.items():
    if name in used:
      continue
    if any(re.search(p, name) for p in _IGNORED[naming]):
      ignored.append(name)
      continue
    _add(tensors, rename(name), CanonicalTensor(np.asarray(value), (name,)))
  return CanonicalState(naming=naming, tensors=tensors, ignored=ignored,
                        family=family)
