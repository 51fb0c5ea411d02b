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

The architecture is the registered experiment `maskformer_ade20k_semantic_r50`
(or a tiny one in quick mode). The PyTorch model is the `transformers` port
(`reference.transformers_witness.build_port`); its weights are saved with
safetensors and loaded into the TF model by the project's strict converter,
so both hold the same weights.
"""
import dataclasses
import os
import tempfile
from typing import Any
from typing import Callable
from typing import Dict
from typing import Tuple

from official.core import config_definitions as cfg
from official.core import exp_factory
import tf_keras

from projects.maskformer.checkpoints import converter
from projects.maskformer.modeling import resnet
from projects.maskformer.reference import transformers_witness
from projects.maskformer.tasks import maskformer_segmentation

EXPERIMENT = 'maskformer_ade20k_semantic_r50'
TF_XLA = 'tf_xla'
TF_GRAPH = 'tf_graph'
TORCH = 'torch'
IMPLEMENTATIONS = (TF_XLA, TF_GRAPH, TORCH)


@dataclasses.dataclass(frozen=True)
class Arch:
  """One MaskFormer architecture, for both frameworks."""
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


def experiment_arch() -> Arch:
  """The R50 architecture of the registered ADE20K semantic experiment."""
  config = exp_factory.get_exp_config(EXPERIMENT)
  model = config.task.model
  resnet_config = model.backbone.torch_resnet
  predictor = model.transformer_predictor
  if model.pixel_decoder.type != 'fpn':
    raise ValueError(f'{EXPERIMENT} does not use the FPN pixel decoder')
  return Arch(
      name=f'R{resnet_config.model_id} + FPN ({EXPERIMENT})',
      depths=tuple(resnet_config.depths or
                   resnet.RESNET_DEPTHS[resnet_config.model_id]),
      base_width=resnet_config.base_width,
      conv_dim=model.pixel_decoder.conv_dim,
      mask_dim=model.pixel_decoder.mask_dim,
      hidden_dim=predictor.hidden_dim, num_heads=predictor.num_heads,
      dim_feedforward=predictor.dim_feedforward,
      num_decoder_layers=predictor.num_decoder_layers,
      num_classes=model.num_classes,
      max_segments=config.task.train_data.parser.max_segments)


# `transformers` always uses GroupNorm(32, C): conv_dim 32 keeps it equal.
TINY_ARCH = Arch(name='tiny (quick mode)', depths=(1, 1, 1, 1), base_width=8,
                 conv_dim=32, mask_dim=32, hidden_dim=32, num_heads=2,
                 dim_feedforward=64, num_decoder_layers=2, num_classes=150,
                 max_segments=8)


def tf_experiment(arch: Arch, num_queries: int, deep_supervision: bool,
                  precision: str) -> cfg.ExperimentConfig:
  """The registered experiment with `arch` and `num_queries`."""
  config = exp_factory.get_exp_config(EXPERIMENT)
  model = config.task.model
  model.num_classes = arch.num_classes
  model.backbone.torch_resnet.depths = list(arch.depths)
  model.backbone.torch_resnet.base_width = arch.base_width
  model.pixel_decoder.conv_dim = arch.conv_dim
  model.pixel_decoder.mask_dim = arch.mask_dim
  model.pixel_decoder.num_groups = 32
  predictor = model.transformer_predictor
  predictor.hidden_dim = arch.hidden_dim
  predictor.num_heads = arch.num_heads
  predictor.dim_feedforward = arch.dim_feedforward
  predictor.num_decoder_layers = arch.num_decoder_layers
  predictor.num_queries = num_queries
  predictor.deep_supervision = deep_supervision
  config.runtime.mixed_precision_dtype = precision
  return config


@dataclasses.dataclass
class ModelPair:
  """Both frameworks' models of one query count, with the same weights."""
  num_queries: int
  task: maskformer_segmentation.MaskFormerSegmentationTask
  experiment: cfg.ExperimentConfig
  tf_model: tf_keras.Model
  torch_model: Any = None
  conversion: str = ''
  forward_fns: Dict[str, Callable] = dataclasses.field(
      default_factory=dict)
  train_fns: Dict[str, Callable] = dataclasses.field(default_factory=dict)
  torch_optimizer: Any = None


def build_pair(env, num_queries: int) -> ModelPair:
  """Builds both models and converts the PyTorch weights into the TF one.

  Args:
    env: the run (`model_benchmark.Env`): architecture, precision, seed and
      the PyTorch side.
    num_queries: the models' query count.

  Returns:
    The pair; without PyTorch only the TF model, randomly initialized.
  """
  experiment = tf_experiment(env.arch, num_queries, env.deep_supervision,
                             env.precision)
  task = maskformer_segmentation.MaskFormerSegmentationTask(experiment.task)
  tf_keras.utils.set_random_seed(env.seed)
  tf_model = task.build_model()
  pair = ModelPair(num_queries, task, experiment, tf_model)
  if not env.fw.available:
    pair.conversion = 'TF weights randomly initialized (no PyTorch model)'
    return pair
  torch = env.fw.torch
  torch.manual_seed(env.seed)
  # The port of the same architecture (docs/semantics.md, section 12,
  # lists how it differs; with `use_auxiliary_loss` off its forward computes
  # the final outputs only, the train step turns it on for
  # --deep_supervision). Its backbone BatchNorm is frozen by the train step.
  model = transformers_witness.build_port(experiment.task.model)
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

