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

"""Foundation: packaging, the `official` namespace, registration, fixtures."""
import os
import pathlib
import site
import subprocess
import sys
import tempfile

import conftest
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
import pytest
import yaml

from projects.maskformer import registry_imports  # noqa: F401
from projects.maskformer.configs import maskformer as exp_cfg

REPO_ROOT = conftest.REPO_ROOT


def _run_python(code, cwd, isolated=False, timeout=300):
  """Runs `code` in a fresh interpreter of this environment; returns stdout."""
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '3'
  args = [sys.executable] + (['-I'] if isolated else []) + ['-c', code]
  result = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  return result.stdout


_WHERE = """
import official, official.core, official.projects.detr
import official.projects.maskformer as mf, projects.maskformer as impl
from official.core import exp_factory
exp_factory.get_exp_config('maskformer_coco_panoptic_r50')
print(official.core.__file__)
print(official.projects.detr.__file__)
print(mf.__file__)
print(impl.__file__)
"""


def test_checkout_resolves_project_and_model_garden():
  core, detr, entry, impl = _run_python(_WHERE, cwd=REPO_ROOT).split()
  # Model Garden's own packages come from the installed tf-models-official.
  assert 'site-packages' in core and 'site-packages' in detr
  # The project's entry points and implementation come from this checkout.
  assert pathlib.Path(entry).is_relative_to(REPO_ROOT)
  assert pathlib.Path(impl).is_relative_to(REPO_ROOT)


def _installed_project_root():
  """site-packages directory holding an installed maskformer-tf, or None.

  Only site-packages is searched: a source checkout may hold build metadata
  (`*.egg-info`) that must not count as an installation.
  """
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  dists = list(metadata.distributions(name='maskformer-tf',
                                      path=site.getsitepackages()))
  return pathlib.Path(dists[0].locate_file('')) if dists else None


def test_installed_package_resolves_outside_checkout():
  site = _installed_project_root()
  if site is None:
    pytest.skip('maskformer-tf is not installed in this interpreter; '
                '`make test` installs it (pip install .)')
  with tempfile.TemporaryDirectory() as cwd:
    core, detr, entry, impl = _run_python(_WHERE, cwd=cwd,
                                          isolated=True).split()
  for path in (core, detr, entry, impl):
    assert pathlib.Path(path).is_relative_to(site), path
  # The wheel ships no `official/__init__.py` of its own: Model Garden's stays.
  assert (site / 'official' / 'projects' / 'maskformer' / 'train.py').exists()


@pytest.mark.parametrize('where', ['checkout', 'installed'])
def test_train_entry_point_helpfull(where):
  if where == 'installed' and _installed_project_root() is None:
    pytest.skip('maskformer-tf is not installed in this interpreter')
  with tempfile.TemporaryDirectory() as tmp:
    cwd = REPO_ROOT if where == 'checkout' else tmp
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['TF_CPP_MIN_LOG_LEVEL'] = '3'
    args = [sys.executable] + (['-I'] if where == 'installed' else [])
    result = subprocess.run(
        args + ['-m', 'official.projects.maskformer.train', '--helpfull'],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False)
  # absl prints the help and exits with status 1 by design.
  assert result.returncode == 1, result.stderr[-4000:]
  assert 'Traceback' not in result.stderr, result.stderr[-4000:]
  for flag in ('--experiment', '--mode', '--model_dir', '--config_file',
               '--params_override', '--tpu'):
    assert flag in result.stdout


def test_experiment_is_registered_with_reference_defaults():
  params = exp_factory.get_exp_config('maskformer_coco_panoptic_r50')
  assert isinstance(params, cfg.ExperimentConfig)
  assert isinstance(params.task, exp_cfg.MaskFormerTask)
  model = params.task.model
  assert model.num_classes == 133
  assert model.backbone.type == 'torch_resnet'
  assert model.backbone.torch_resnet.model_id == 50
  assert model.pixel_decoder.type == 'transformer_encoder'
  assert model.pixel_decoder.transformer_encoder.num_layers == 6
  assert model.transformer_predictor.num_queries == 100
  assert model.transformer_predictor.num_decoder_layers == 6


# Every YAML mirror; tests/test_export_experiment_yaml.py checks that they
# are the tool's output, byte for byte, for every experiment of the project.
EXPERIMENTS = sorted(path.stem for path in (REPO_ROOT / 'configs').glob('*.yaml'))


@pytest.mark.parametrize('name', EXPERIMENTS)
def test_yaml_config_mirrors_registered_experiment(name):
  registered = exp_factory.get_exp_config(name)
  registered.validate()
  path = REPO_ROOT / 'configs' / f'{name}.yaml'
  with open(path, encoding='utf-8') as f:
    assert yaml.safe_load(f) == registered.as_dict(), (
        f'{path} is out of date: python tools/export_experiment_yaml.py '
        f'--experiment={name} --output={path.relative_to(REPO_ROOT)}')
  # Applied with --config_file semantics, it changes nothing.
  params = hyperparams.override_params_dict(
      exp_factory.get_exp_config(name), str(path), is_strict=True)
  assert params.as_dict() == registered.as_dict()


def test_shared_fixtures_are_found(reference_dir, coco_sample_dir):
  assert (reference_dir / 'README.md').is_file()
  assert (reference_dir / 'r50w16_enc' / 'manifest.json').is_file()
  assert (coco_sample_dir / 'panoptic.json').is_file()


def test_shared_dir_environment_override(monkeypatch, tmp_path):
  monkeypatch.setenv(conftest.SHARED_DIR_ENV, str(tmp_path))
  assert conftest.shared_dir_path() == tmp_path.resolve()
  monkeypatch.delenv(conftest.SHARED_DIR_ENV)
  assert conftest.shared_dir_path() == (REPO_ROOT.parent / 'shared').resolve()
