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

"""Strict conversion of PyTorch checkpoints into a built TF MaskFormer.

Reads a detectron2 `.pkl` (through the restricted unpickler) or a
`.safetensors` file, renames it (`name_mapping`, reading the names as the
family of the model converted into: MaskFormer or Mask2Former), and assigns
it to the model's variables (`model_mapping`, `mask2former_mapping`) only if
the match is exact: every source tensor is used (or deliberately ignored,
e.g. `criterion.empty_weight`), every model variable is assigned and every
shape agrees. Otherwise nothing is assigned and `CheckpointMismatchError`
lists the missing, unexpected and mis-shaped names (a checkpoint of the
other family raises `name_mapping.NamingError`).

The TF checkpoints written here are what Model Garden's `init_checkpoint`
reads: `tf.train.Checkpoint(model=model)` for a whole model (the default of
`Task.initialize`), `tf.train.Checkpoint(backbone=backbone)` for a backbone
(the usual `init_checkpoint_modules='backbone'` restore).
"""
import dataclasses
import os
import pathlib
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Union

import numpy as np
import tensorflow as tf
import tf_keras

from projects.maskformer.checkpoints import mask2former_mapping
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.checkpoints import restricted_pickle
from projects.maskformer.checkpoints import safetensors
from projects.maskformer.modeling.mask2former import mask2former_model

PathLike = Union[str, os.PathLike]


class CheckpointMismatchError(ValueError):
  """The checkpoint does not match the model exactly.

  Attributes:
    missing: canonical names the model needs that the checkpoint lacks.
    unexpected: source names that fill no model variable.
    mis_shaped: (source names, source shape, expected shape) triples.
    unassigned_variables: model variables that no name maps to.
  """

  def __init__(self, source: str, missing: Sequence[str],
               unexpected: Sequence[str],
               mis_shaped: Sequence[Tuple[str, Tuple[int, ...],
                                          Tuple[int, ...]]],
               unassigned_variables: Sequence[str] = (),
               hint: str = ''):
    self.missing = list(missing)
    self.unexpected = list(unexpected)
    self.mis_shaped = list(mis_shaped)
    self.unassigned_variables = list(unassigned_variables)
    lines = [f'{source} does not match the model:']
    for title, items in (('missing', self.missing),
                         ('unexpected', self.unexpected),
                         ('model variables without a source name',
                          self.unassigned_variables)):
      if items:
        lines.append(f'  {len(items)} {title}:')
        lines.extend(f'    {item}' for item in items)
    if self.mis_shaped:
      lines.append(f'  {len(self.mis_shaped)} mis-shaped:')
      lines.extend(f'    {name}: checkpoint {list(got)}, model {list(want)}'
                   for name, got, want in self.mis_shaped)
    if hint:
      lines.append(hint)
    super().__init__('\n'.join(lines))


@dataclasses.dataclass
class ConversionSummary:
  """What a conversion did.

  Attributes:
    source: the checkpoint file.
    naming: the detected naming scheme.
    family: the model family the names were read as (None for a backbone).
    num_tensors: source tensors assigned.
    num_variables: model variables assigned.
    ignored: source names deliberately not used.
  """
  source: str
  naming: str
  family: Optional[str]
  num_tensors: int
  num_variables: int
  ignored: List[str]


def read_state_dict(path: PathLike) -> Dict[str, np.ndarray]:
  """Reads {name: array} from a detectron2 `.pkl` or a `.safetensors` file.

  Pickles go through the restricted unpickler; a detectron2 checkpoint
  `{"model": {...}, ...}` is unwrapped to its "model" dict.

  Args:
    path: the file.

  Returns:
    {name: numpy array}.

  Raises:
    ValueError: unknown file type, or content that is not a dict of arrays.
    FileNotFoundError: no such file.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f'checkpoint file {path} does not exist')
  if path.suffix == '.safetensors':
    return safetensors.load(path)
  if path.suffix not in ('.pkl', '.pickle'):
    raise ValueError(f'{path}: unsupported checkpoint type {path.suffix!r}; '
                     'expected .pkl (detectron2) or .safetensors')
  content = restricted_pickle.load(path)
  if isinstance(content, dict) and isinstance(content.get('model'), dict):
    content = content['model']
  if not isinstance(content, dict):
    raise ValueError(f'{path}: expected a dict of arrays (or a detectron2 '
                     f'{{"model": dict}}), got {type(content).__name__}')
  state = {}
  for name, value in content.items():
    array = np.asarray(value)
    if not isinstance(name, str) or array.dtype == object:
      raise ValueError(f'{path}: entry {name!r} is not a named array '
                       f'({type(value).__name__})')
    state[name] = array
  return state


def assign_strict(targets: model_mapping.Targets,
                  state: name_mapping.CanonicalState,
                  variables: Sequence[tf.Variable],
                  source: str,
                  hint: str = '') -> int:
  """Assigns `state` to `targets` if and only if they match exactly.

  Args:
    targets: {canonical name: Target} of the model.
    state: the renamed checkpoint.
    variables: every variable the targets must cover.
    source: the checkpoint's name, for messages.
    hint: appended to the error message on a mismatch.

  Returns:
    The number of variables assigned.

  Raises:
    CheckpointMismatchError: anything missing, unexpected, mis-shaped or
      left unassigned; no variable is modified then.
  """
  missing = sorted(set(targets) - set(state.tensors))
  unexpected = sorted(
      source_name for name, tensor in state.tensors.items()
      if name not in targets for source_name in tensor.sources)
  mis_shaped = []
  for name, tensor in state.tensors.items():
    if name in targets and tensor.value.shape != targets[name].torch_shape:
      mis_shaped.append((', '.join(tensor.sources), tensor.value.shape,
                         targets[name].torch_shape))
  covered = {v.ref() for t in targets.values() for v in t.variables}
  unassigned = sorted(v.name for v in variables if v.ref() not in covered)
  if missing or unexpected or mis_shaped or unassigned:
    raise CheckpointMismatchError(source, missing, unexpected, mis_shaped,
                                  unassigned, hint)
  for name, target in targets.items():
    arrays = target.to_tf(state.tensors[name].value)
    for variable, array in zip(target.variables, arrays):
      variable.assign(np.asarray(array, variable.dtype.as_numpy_dtype))
  return len(covered)


def _convert(targets: model_mapping.Targets, variables: Sequence[tf.Variable],
             path: PathLike, naming: Optional[str],
             family: Optional[str]) -> ConversionSummary:
  """Converts `path` into `targets`; `family` None means backbone only."""
  state = name_mapping.to_canonical(read_state_dict(path), naming, family)
  hint = ''
  if family and not any(n.startswith('sem_seg_head.') for n in state.tensors):
    hint = ('the checkpoint has no head (sem_seg_head) weights: convert '
            'backbone-only checkpoints with the backbone-only mode')
  num_variables = assign_strict(targets, state, variables, str(path), hint)
  return ConversionSummary(
      source=str(path), naming=state.naming, family=state.family,
      num_tensors=sum(len(t.sources) for t in state.tensors.values()),
      num_variables=num_variables, ignored=state.ignored)


def convert_model(model: tf_keras.Model, path: PathLike,
                  naming: Optional[str] = None) -> ConversionSummary:
  """Loads a whole PyTorch MaskFormer or Mask2Former checkpoint.

  The checkpoint's names are read as the model's family; for a
  `Mask2Former`, detectron2 names (current or version 1) and `transformers`
  `Mask2FormerForUniversalSegmentation` names are accepted.

  Args:
    model: a built `MaskFormer` or `Mask2Former` with a 'torch_resnet'
      backbone.
    path: a `.pkl` or `.safetensors` checkpoint.
    naming: the source naming (`name_mapping.NAMINGS`), or None to detect.

  Returns:
    A summary.

  Raises:
    CheckpointMismatchError: the checkpoint does not match the model.
    name_mapping.NamingError: unknown names, a checkpoint of the other family
      or of a Swin backbone.
  """
  if isinstance(model, mask2former_model.Mask2Former):
    targets = mask2former_mapping.mask2former_targets(model)
    family = name_mapping.MASK2FORMER
  else:
    targets = model_mapping.maskformer_targets(model)
    family = name_mapping.MASKFORMER
  return _convert(targets, model.variables, path, naming, family)


def convert_backbone(backbone: tf_keras.Model, path: PathLike,
                     naming: Optional[str] = None) -> ConversionSummary:
  """Loads ImageNet ResNet weights (detectron2 or torchvision names).

  Args:
    backbone: a built 'torch_resnet' backbone.
    path: a `.pkl` or `.safetensors` checkpoint.
    naming: the source naming, or None to detect.

  Returns:
    A summary.

  Raises:
    CheckpointMismatchError: the weights do not match the backbone.
  """
  return _convert(model_mapping.torch_resnet_targets(backbone),
                  backbone.variables, path, naming, family=None)


def _write(checkpoint: tf.train.Checkpoint, prefix: PathLike) -> str:
  """Writes `checkpoint` at `prefix` and records it as its folder's latest."""
  path = checkpoint.write(os.fspath(prefix))
  tf.compat.v1.train.update_checkpoint_state(
      os.path.dirname(os.path.abspath(path)), os.path.abspath(path))
  return path


def write_model_checkpoint(model: tf_keras.Model, prefix: PathLike) -> str:
  """Writes `tf.train.Checkpoint(model=model)`; returns the checkpoint path.

  The folder's `checkpoint` file names it, so `init_checkpoint` may be the
  path or its folder.
  """
  return _write(tf.train.Checkpoint(model=model), prefix)


def write_backbone_checkpoint(backbone: tf_keras.Model,
                              prefix: PathLike) -> str:
  """Writes `tf.train.Checkpoint(backbone=backbone)`; returns its path.

  The folder's `checkpoint` file names it, as for `write_model_checkpoint`.
  """
  return _write(tf.train.Checkpoint(backbone=backbone), prefix)
