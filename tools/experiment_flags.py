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

"""The experiment flags shared by the tools: --experiment, --config_file,
--params_override, resolved as Model Garden's training driver resolves them.

The tools import it as a sibling module (`import experiment_flags`: Python
puts a script's folder first on `sys.path`). Importing it registers
MaskFormer's experiments and tasks (`projects.maskformer.registry_imports`),
so `--experiment` can name them.
"""
from typing import NamedTuple
from typing import Optional

from absl import flags
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
import tensorflow as tf
import yaml

from projects.maskformer import registry_imports  # noqa: F401

# The flags defined below belong to the tool that calls
# `define_experiment_flags`: they are its key flags and show in its --help.
flags.disclaim_key_flags()


class ExperimentFlags(NamedTuple):
  experiment: flags.FlagHolder
  config_file: flags.FlagHolder
  params_override: flags.FlagHolder


def define_experiment_flags(default_experiment: Optional[str] = None
                            ) -> ExperimentFlags:
  """Defines --experiment, --config_file and --params_override."""
  return ExperimentFlags(
      flags.DEFINE_string(
          'experiment', default_experiment,
          'Registered experiment name (e.g. maskformer_coco_panoptic_r50).'),
      flags.DEFINE_multi_string(
          'config_file', None, 'YAML experiment config files applied in '
          'order on top of --experiment (as in Model Garden training).'),
      flags.DEFINE_string(
          'params_override', None, 'Comma-separated or YAML overrides applied '
          "last, e.g. 'task.model.num_classes=150,"
          "task.validation_data.input_path=/data/val-*'."))


def load_experiment(experiment_flags: ExperimentFlags) -> cfg.ExperimentConfig:
  """The experiment config after config files and overrides, validated.

  Raises:
    ValueError: unknown experiment, unknown keys or invalid values.
  """
  name = experiment_flags.experiment.value
  if not name:
    raise ValueError('--experiment is required')
  try:
    params = exp_factory.get_exp_config(name)
  except (KeyError, AttributeError, LookupError) as e:
    raise ValueError(f'bad --experiment: {e}') from e
  for config_file in experiment_flags.config_file.value or []:
    if not tf.io.gfile.exists(config_file):
      raise ValueError(f'--config_file {config_file} does not exist')
    try:
      params = hyperparams.override_params_dict(params, config_file,
                                                is_strict=True)
    except yaml.YAMLError as e:
      raise ValueError(f'--config_file {config_file} is not valid YAML: '
                       f'{" ".join(str(e).split())}') from e
    except (KeyError, AttributeError, LookupError, tf.errors.OpError) as e:
      raise ValueError(f'bad --config_file {config_file}: {e}') from e
  try:
    if experiment_flags.params_override.value:
      params = hyperparams.override_params_dict(
          params, experiment_flags.params_override.value, is_strict=True)
  except yaml.YAMLError as e:
    raise ValueError('--params_override is not valid: '
                     f'{" ".join(str(e).split())}') from e
  except (KeyError, AttributeError, LookupError) as e:
    raise ValueError(f'bad --params_override: {e}') from e
  try:
    params.validate()
  except (KeyError, AttributeError, LookupError) as e:
    raise ValueError(f'invalid experiment config: {e}') from e
  return params
