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

The files in `configs/` are written by this tool and mirror the registered
experiments exactly (a test keeps them in sync):

  python tools/export_experiment_yaml.py --experiment=maskformer_coco_panoptic_r50 \
      --output=configs/maskformer_coco_panoptic_r50.yaml

The result is a starting point for `--config_file`.
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

from absl import app
from absl import flags
import yaml

import experiment_flags
from projects.maskformer.configs import maskformer as exp_cfg

_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags()
_OUTPUT = flags.DEFINE_string(
    'output', None, 'YAML file to write (its directory must exist); "-" '
    'prints to stdout.')


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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if _OUTPUT.value != '-':
    cli.check_writable(_OUTPUT.value, '--output')
  params = experiment_flags.load_experiment(_EXPERIMENT_FLAGS)
  text = experiment_yaml(_EXPERIMENT_FLAGS.experiment.value, params)
  if _OUTPUT.value == '-':
    sys.stdout.write(text)
  else:
    with open(_OUTPUT.value, 'w', encoding='utf-8') as f:
      f.write(text)
    print(f'wrote {_OUTPUT.value}')
  return 0


if __name__ == '__main__':
  cli.run(main, required=['experiment', 'output'], user_errors=(ValueError,))
