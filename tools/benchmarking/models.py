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

"""The benchmarked architecture and both frameworks' models of it.

The architecture is a registered experiment: `maskformer_ade20k_semantic_r50`
(`--architecture=maskformer`) or `mask2former_ade20k_semantic_r50`
(`--architecture=mask2former`), or a tiny one of the same family in quick
mode. The PyTorch model is the `transformers` port
(`reference.transformers_witness.build_port` /
`build_mask2former_port`); its weights are saved with safetensors and loaded
into the TF model by the project's strict converter, so both hold the same
weights, and both must have the same number of trainable parameters.
"""
import dataclasses
import os
import tempfile
from typing import Any
from typing import Callable
from typing import ClassVar
from typing import Dict
from typing import Tuple
from typing import Union

import numpy as np
from official.core import config_definitions as cfg
from official.core import exp_factory
import tf_keras

from projects.maskformer.checkpoints import converter
from projects.maskformer.configs import task as task_cfg
from projects.maskformer.modeling import resnet
from projects.maskformer.reference import transformers_witness
from projects.maskformer.tasks import maskformer_segmentation

MASKFORMER = 'maskformer'
MASK2FORMER = 'mask2former'
ARCHITECTURES = (MASKFORMER, MASK2FORMER)
TF_XLA = 'tf_xla'
TF_GRAPH = 'tf_graph'
TORCH = 'torch'
IMPLEMENTATIONS = (TF_XLA, TF_GRAPH, TORCH)


def _resnet_fields(backbone) -> Dict[str, Any]:
  """`depths` and `base_width` of a 'torch_resnet' backbone config."""
  resnet_config = backbone.torch_resnet
  return dict(depths=tuple(resnet_config.depths or
                           resnet.RESNET_DEPTHS[resnet_config.model_id]),
              base_width=resnet_config.base_width)


def _set_resnet(backbone, depths: Tuple[int, ...], base_width: int) -> None:
  backbone.torch_resnet.depths = list(depths)
  backbone.torch_resnet.base_width = base_width


@dataclasses.dataclass(frozen=True)
class MaskFormerArch:
  """One MaskFormer architecture (FPN pixel decoder), for both frameworks."""
  EXPERIMENT: ClassVar[str] = 'maskformer_ade20k_semantic_r50'
  TITLE: ClassVar[str] = 'MaskFormer'
  name: str
  depths: Tuple[int, ...]
  base_width: int
  conv_dim: int
  mask_dim: int
  hidden_dim: int
  num_heads: int
  dim_feedforward: int
  num_decoder_layers: int
  num_classes: int
  max_segments: int

  @classmethod
  def from_experiment(cls) -> 'MaskFormerArch':
    """The R50 architecture of the registered ADE20K semantic experiment."""
    config = exp_factory.get_exp_config(cls.EXPERIMENT)
    model = config.task.model
    predictor = model.transformer_predictor
    if model.pixel_decoder.type != 'fpn':
      raise ValueError(f'{cls.EXPERIMENT} does not use the FPN pixel decoder')
    return cls(
        name=f'R{model.backbone.torch_resnet.model_id} + FPN '
             f'({cls.EXPERIMENT})',
        **_resnet_fields(model.backbone),
        conv_dim=model.pixel_decoder.conv_dim,
        mask_dim=model.pixel_decoder.mask_dim,
        hidden_dim=predictor.hidden_dim, num_heads=predictor.num_heads,
        dim_feedforward=predictor.dim_feedforward,
        num_decoder_layers=predictor.num_decoder_layers,
        num_classes=model.num_classes,
        max_segments=config.task.train_data.parser.max_segments)

  @property
  def decoder_summary(self) -> str:
    return f'{self.num_decoder_layers} decoder layers'

  def configure(self, task: task_cfg.MaskClassificationTask, num_queries: int,
                deep_supervision: bool) -> None:
    """Sets this architecture and `num_queries` in the experiment's task."""
    model = task.model
    model.num_classes = self.num_classes
    _set_resnet(model.backbone, self.depths, self.base_width)
    model.pixel_decoder.conv_dim = self.conv_dim
    model.pixel_decoder.mask_dim = self.mask_dim
    model.pixel_decoder.num_groups = 32
    predictor = model.transformer_predictor
    predictor.hidden_dim = self.hidden_dim
    predictor.num_heads = self.num_heads
    predictor.dim_feedforward = self.dim_feedforward
    predictor.num_decoder_layers = self.num_decoder_layers
    predictor.num_queries = num_queries
    predictor.deep_supervision = deep_supervision

  def build_port(self, task: task_cfg.MaskClassificationTask):
    """The `transformers` MaskFormer of the configured task (random)."""
    return transformers_witness.build_port(task.model)


@dataclasses.dataclass(frozen=True)
class Mask2FormerArch:
  """One Mask2Former architecture, for both frameworks.

  Attributes:
    encoder_layers / encoder_dim_feedforward: the deformable pixel decoder's
      encoder layers and their FFN width.
    num_heads: the attention heads of both decoders (the port has one
      count).
    dec_layers: the supervised prediction heads (`DEC_LAYERS`); the
      decoder has `dec_layers - 1` masked-attention layers.
    train_num_points: P, the sampled points per mask in the loss and the
      matching cost.
  """
  EXPERIMENT: ClassVar[str] = 'mask2former_ade20k_semantic_r50'
  TITLE: ClassVar[str] = 'Mask2Former'
  name: str
  depths: Tuple[int, ...]
  base_width: int
  conv_dim: int
  mask_dim: int
  encoder_layers: int
  encoder_dim_feedforward: int
  hidden_dim: int
  num_heads: int
  dim_feedforward: int
  dec_layers: int
  num_classes: int
  max_segments: int
  train_num_points: int

  @classmethod
  def from_experiment(cls) -> 'Mask2FormerArch':
    """The R50 architecture of the registered ADE20K semantic experiment."""
    config = exp_factory.get_exp_config(cls.EXPERIMENT)
    model = config.task.model
    decoder = model.transformer_decoder
    return cls(
        name=f'R{model.backbone.torch_resnet.model_id} + MSDeformAttn '
             f'({cls.EXPERIMENT})',
        **_resnet_fields(model.backbone),
        conv_dim=model.pixel_decoder.conv_dim,
        mask_dim=model.pixel_decoder.mask_dim,
        encoder_layers=model.pixel_decoder.num_layers,
        encoder_dim_feedforward=model.pixel_decoder.dim_feedforward,
        hidden_dim=decoder.hidden_dim, num_heads=decoder.num_heads,
        dim_feedforward=decoder.dim_feedforward,
        dec_layers=decoder.dec_layers, num_classes=model.num_classes,
        max_segments=config.task.train_data.parser.max_segments,
        train_num_points=config.task.losses.train_num_points)

  @property
  def num_decoder_layers(self) -> int:
    return self.dec_layers - 1

  @property
  def decoder_summary(self) -> str:
    return (f'{self.encoder_layers} deformable encoder layers, '
            f'{self.num_decoder_layers} masked-attention decoder layers '
            f'({self.dec_layers} supervised heads), {self.train_num_points:,} '
            'sampled points per mask')

  def configure(self, task: task_cfg.MaskClassificationTask, num_queries: int,
                deep_supervision: bool) -> None:
    """Sets this architecture and `num_queries` in the experiment's task."""
    model = task.model
    model.num_classes = self.num_classes
    _set_resnet(model.backbone, self.depths, self.base_width)
    pixel_decoder = model.pixel_decoder
    pixel_decoder.conv_dim = self.conv_dim
    pixel_decoder.mask_dim = self.mask_dim
    pixel_decoder.num_groups = 32
    pixel_decoder.num_layers = self.encoder_layers
    pixel_decoder.num_heads = self.num_heads
    pixel_decoder.dim_feedforward = self.encoder_dim_feedforward
    decoder = model.transformer_decoder
    decoder.hidden_dim = self.hidden_dim
    decoder.num_heads = self.num_heads
    decoder.dim_feedforward = self.dim_feedforward
    decoder.dec_layers = self.dec_layers
    decoder.num_queries = num_queries
    decoder.deep_supervision = deep_supervision
    task.losses.train_num_points = self.train_num_points

  def build_port(self, task: task_cfg.MaskClassificationTask):
    """The `transformers` Mask2Former of the configured task (random)."""
    return transformers_witness.build_mask2former_port(task.model, task.losses)


AnyArch = Union[MaskFormerArch, Mask2FormerArch]
_ARCH_CLASSES = {MASKFORMER: MaskFormerArch, MASK2FORMER: Mask2FormerArch}


def experiment_arch(architecture: str) -> AnyArch:
  """The R50 architecture of `architecture`'s registered experiment."""
  return _ARCH_CLASSES[architecture].from_experiment()


# `transformers` always uses GroupNorm(32, C): conv_dim 32 keeps it equal.
TINY_ARCHS = {
    MASKFORMER: MaskFormerArch(
        name='tiny (quick mode)', depths=(1, 1, 1, 1), base_width=8,
        conv_dim=32, mask_dim=32, hidden_dim=32, num_heads=2,
        dim_feedforward=64, num_decoder_layers=2, num_classes=150,
        max_segments=8),
    MASK2FORMER: Mask2FormerArch(
        name='tiny (quick mode)', depths=(1, 1, 1, 1), base_width=8,
        conv_dim=32, mask_dim=32, encoder_layers=1,
        encoder_dim_feedforward=64, hidden_dim=32, num_heads=2,
        dim_feedforward=64, dec_layers=3, num_classes=150, max_segments=8,
        train_num_points=256),
}


def tf_experiment(arch: AnyArch, num_queries: int, deep_supervision: bool,
                  precision: str) -> cfg.ExperimentConfig:
  """The registered experiment of `arch` with `arch` and `num_queries`."""
  config = exp_factory.get_exp_config(arch.EXPERIMENT)
  arch.configure(config.task, num_queries, deep_supervision)
  config.runtime.mixed_precision_dtype = precision
  return config


@dataclasses.dataclass
class ModelPair:
  """Both frameworks' models of one query count, with the same weights.

  Attributes:
    trainable_parameters: {'tf': count, 'torch': count} of the parameters
      the train steps update ('torch' only with the PyTorch model).
  """
  num_queries: int
  task: maskformer_segmentation.MaskFormerSegmentationTask
  experiment: cfg.ExperimentConfig
  tf_model: tf_keras.Model
  torch_model: Any = None
  conversion: str = ''
  trainable_parameters: Dict[str, int] = dataclasses.field(
      default_factory=dict)
  forward_fns: Dict[str, Callable] = dataclasses.field(
      default_factory=dict)
  train_fns: Dict[str, Callable] = dataclasses.field(default_factory=dict)
  torch_optimizer: Any = None


def freeze_batch_norm(torch, model) -> None:
  """Train mode with the backbone BatchNorm frozen (the original's FrozenBN):
  eval statistics and no gradients, as our FrozenBN has no trainable
  variables."""
  model.train()
  for module in model.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
      module.eval()
      for parameter in module.parameters():
        parameter.requires_grad_(False)


def _check_parameter_counts(counts: Dict[str, int]) -> None:
  """Prints the trainable parameter counts; raises if the sides differ."""
  titles = {'tf': 'TF', 'torch': 'PyTorch'}
  print('Trainable parameters: ' + ', '.join(
      f'{titles[side]} {count:,}' for side, count in counts.items()),
        flush=True)
  if len(set(counts.values())) > 1:
    raise ValueError(f'the TF and PyTorch models differ in their trainable '
                     f'parameters: {counts}')


def build_pair(env, num_queries: int) -> ModelPair:
  """Builds both models and converts the PyTorch weights into the TF one.

  Args:
    env: the run (`model_benchmark.Env`): architecture, precision, seed and
      the PyTorch side.
    num_queries: the models' query count.

  Returns:
    The pair; without PyTorch only the TF model, randomly initialized.

  Raises:
    ValueError: the two models' trainable parameter counts differ.
  """
  experiment = tf_experiment(env.arch, num_queries, env.deep_supervision,
                             env.precision)
  task = maskformer_segmentation.MaskFormerSegmentationTask(experiment.task)
  tf_keras.utils.set_random_seed(env.seed)
  tf_model = task.build_model()
  pair = ModelPair(num_queries, task, experiment, tf_model)
  pair.trainable_parameters['tf'] = int(sum(
      np.prod(v.shape) for v in tf_model.trainable_variables))
  if not env.fw.available:
    pair.conversion = 'TF weights randomly initialized (no PyTorch model)'
    _check_parameter_counts(pair.trainable_parameters)
    return pair
  torch = env.fw.torch
  torch.manual_seed(env.seed)
  # The port of the same architecture (docs/semantics.md, section 12,
  # lists how MaskFormer's differs; with `use_auxiliary_loss` off its forward
  # computes the final outputs only, the train step turns it on for
  # --deep_supervision). Its backbone BatchNorm is frozen, as ours.
  model = env.arch.build_port(experiment.task)
  freeze_batch_norm(torch, model)
  pair.trainable_parameters['torch'] = sum(
      p.numel() for p in model.parameters() if p.requires_grad)
  _check_parameter_counts(pair.trainable_parameters)
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, 'maskformer.safetensors')
    env.fw.safetensors_torch.save_file(
        {k: v.detach().contiguous() for k, v in model.state_dict().items()},
        path)
    summary = converter.convert_model(tf_model, path)
  pair.conversion = (f'{summary.num_tensors} `transformers` tensors '
                     f'({summary.naming} names) -> {summary.num_variables} TF '
                     f'variables, {len(summary.ignored)} ignored')
  pair.torch_model = model.to(env.torch_device)
  return pair
