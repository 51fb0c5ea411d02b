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

r"""Writes a registered experiment (after overrides) as a YAML config file.

Any registered experiment, MaskFormer's or Mask2Former's:

  python tools/export_experiment_yaml.py --experiment=maskformer_coco_panoptic_r50 \
      --output=configs/maskformer_coco_panoptic_r50.yaml

The result is a starting point for `--config_file`. The files in `configs/`
are this tool's output for every experiment this project registers, without
overrides, and mirror them byte for byte (a test keeps them in sync);
`--output_dir` rewrites them all:

  python tools/export_experiment_yaml.py --output_dir=configs
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

from absl import app
from absl import flags
from official.core import exp_factory
import yaml

import experiment_flags
from projects.maskformer.configs import maskformer as exp_cfg

_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags()
_OUTPUT = flags.DEFINE_string(
    'output', None, 'YAML file to write (its directory must exist); "-" '
    'prints to stdout.')
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Instead of --experiment and --output: write every '
    'experiment this project registers, without overrides, to '
    '<output_dir>/<experiment>.yaml (--output_dir=configs rewrites the '
    'mirrors).')
# The package whose config modules register this project's experiments.
_PROJECT_PACKAGE = 'projects.maskformer.'


def experiment_yaml(name: str, params) -> str:
  """The YAML text of an experiment config, with a header naming it (and
  its memory note, `maskformer.MEMORY_NOTES`)."""
  header = (f'# The registered experiment `{name}` (all fields), written by\n'
            '# tools/export_experiment_yaml.py. Use with\n'
            f'#   --experiment={name} --config_file=<this file>\n')
  note = exp_cfg.MEMORY_NOTES.get(name)
  if note:
    header += '#\n' + ''.join(f'# {line}\n' if line else '#\n'
                              for line in note.splitlines())
  return header + yaml.safe_dump(params.as_dict(), sort_keys=False,
                                 default_flow_style=False)


def project_experiments():
  """The names of the experiments this project registers, sorted.

  Those whose factory is defined in this project's package (MaskFormer's and
  Mask2Former's config modules), not other registered Model Garden ones.
  """
  registered = exp_factory._REGISTERED_CONFIGS  # pylint: disable=protected-access
  return sorted(name for name, factory in registered.items()
                if factory.__module__.startswith(_PROJECT_PACKAGE))


def _write(path: str, text: str) -> None:
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)
  print(f'wrote {path}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if _OUTPUT_DIR.value:
    given = [f'--{name}' for name in ('experiment', 'output', 'config_file',
                                      'params_override')
             if flags.FLAGS[name].present]
    if given:
      raise cli.UserError(f'--output_dir writes the registered experiments '
                          f'as they are: drop {", ".join(given)}')
    cli.check_writable(_OUTPUT_DIR.value, '--output_dir')
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    for name in project_experiments():
      _write(os.path.join(_OUTPUT_DIR.value, f'{name}.yaml'),
             experiment_yaml(name, exp_factory.get_exp_config(name)))
    return 0
  cli.check_required(['experiment', 'output'])
  if _OUTPUT.value != '-':
    cli.check_writable(_OUTPUT.value, '--output')
  params = experiment_flags.load_experiment(_EXPERIMENT_FLAGS)
  text = experiment_yaml(_EXPERIMENT_FLAGS.experiment.value, params)
  if _OUTPUT.value == '-':
    sys.stdout.write(text)
  else:
    _write(_OUTPUT.value, text)
  return 0


if __name__ == '__main__':
  cli.run(main, user_errors=(ValueError,))
