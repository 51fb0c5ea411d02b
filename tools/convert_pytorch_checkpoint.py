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

r"""Converts a PyTorch MaskFormer / Mask2Former (or ImageNet ResNet) checkpoint.

Usage:
  # A released MaskFormer .pkl (or a `transformers` .safetensors):
  python tools/convert_pytorch_checkpoint.py \
      --source=model_final_xxx.pkl --output=/tmp/maskformer/ckpt \
      --experiment=maskformer_coco_panoptic_r50 \
      [--config_file=configs/x.yaml] [--params_override='task.model...']

  # A released Mask2Former R50 .pkl (or a `transformers`
  # Mask2FormerForUniversalSegmentation .safetensors with a ResNet backbone):
  python tools/convert_pytorch_checkpoint.py \
      --source=model_final_xxx.pkl --output=/tmp/mask2former/ckpt \
      --experiment=mask2former_coco_panoptic_r50

  # ImageNet weights for the backbone only (detectron2 R-50.pkl or
  # torchvision-named .safetensors):
  python tools/convert_pytorch_checkpoint.py --backbone_only \
      --source=R-50.pkl --output=/tmp/r50/ckpt

The model is the one the experiment's task builds from `task.model` after
the config files and overrides: MaskFormer or Mask2Former, by the task
config's type. The checkpoint must be of the same family (a Mask2Former
checkpoint into a MaskFormer experiment, or the reverse, is an error).
Conversion is strict: the tool fails, listing the missing, unexpected and
mis-shaped names, unless every checkpoint tensor is used (or is a known
non-weight such as `criterion.empty_weight`) and every model variable is
assigned. Pickles are read with a restricted unpickler.

The output is a TF checkpoint prefix: `tf.train.Checkpoint(model=model)`
(set `task.init_checkpoint` to it, or to its folder, with
`init_checkpoint_modules: all`), or with --backbone_only
`tf.train.Checkpoint(backbone=backbone)` (for `init_checkpoint_modules:
backbone`).
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

from absl import app
from absl import flags
from official.vision.modeling.backbones import factory
import tensorflow as tf
import tf_keras

import experiment_flags
from projects.maskformer import inference_setup
from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.checkpoints import restricted_pickle
from projects.maskformer.checkpoints import safetensors

_SOURCE = flags.DEFINE_string(
    'source', None, 'PyTorch checkpoint to convert: a detectron2-style .pkl '
    '(MaskFormer or Mask2Former with a ResNet backbone, current or legacy '
    'names; or ImageNet R-50/R-101) or a .safetensors file (`transformers` '
    'MaskFormer, 4.x or 5.x names, or Mask2Former, with a ResNet backbone; '
    'or torchvision ResNet names). Its family must be the experiment\'s.')
_OUTPUT = flags.DEFINE_string(
    'output', None, 'TF checkpoint prefix to write, e.g. /tmp/mf/ckpt (files '
    'ckpt.index and ckpt.data-* are created; the directory is created).')
_BACKBONE_ONLY = flags.DEFINE_bool(
    'backbone_only', False, 'Convert only ResNet backbone weights (ImageNet '
    'checkpoints in detectron2 or torchvision naming) and write '
    'tf.train.Checkpoint(backbone=...).')
_NAMING = flags.DEFINE_enum(
    'naming', 'auto', ('auto',) + name_mapping.NAMINGS,
    'Naming scheme of --source; "auto" detects it from the tensor names.')
_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags(
    default_experiment='maskformer_coco_panoptic_r50')


def _convert(params):
  naming = None if _NAMING.value == 'auto' else _NAMING.value
  model_config = params.task.model
  if _BACKBONE_ONLY.value:
    backbone = factory.build_backbone(
        input_specs=tf_keras.layers.InputSpec(
            shape=[None] + list(model_config.input_size)),
        backbone_config=model_config.backbone,
        norm_activation_config=model_config.norm_activation)
    summary = converter.convert_backbone(backbone, _SOURCE.value, naming)
    path = converter.write_backbone_checkpoint(backbone, _OUTPUT.value)
  else:
    model = inference_setup.build_model(params.task)
    summary = converter.convert_model(model, _SOURCE.value, naming)
    path = converter.write_model_checkpoint(model, _OUTPUT.value)
  return summary, path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.check_writable(_OUTPUT.value, '--output')
  summary, path = _convert(experiment_flags.load_experiment(_EXPERIMENT_FLAGS))
  family = f' of a {summary.family} model' if summary.family else ''
  print(f'converted {summary.num_tensors} tensors ({summary.naming} names) '
        f'from {summary.source} into {summary.num_variables} variables'
        f'{family}')
  if summary.ignored:
    print(f'ignored (not model weights): {", ".join(summary.ignored)}')
  print(f'wrote {path}')
  return 0


if __name__ == '__main__':
  cli.run(main, required=['source', 'output'], user_errors=(
      converter.CheckpointMismatchError, name_mapping.NamingError,
      model_mapping.UnsupportedModelError, safetensors.SafetensorsError,
      restricted_pickle.UnsafePickleError, restricted_pickle.CorruptPickleError,
      ValueError, tf.errors.OpError))
