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

"""Tiny synthetic COCO-panoptic TFRecords and a tiny experiment for tests.

The dataset is written by `tools/make_synthetic_coco.py` (in a subprocess: it
defines absl flags) and converted in-process with the project's COCO panoptic
converter, so the tests read exactly what a user's pipeline reads. The tiny
experiment is `maskformer_synthetic_cpu` shrunk to a one-block-per-stage
ResNet, 32 channels and 8 queries on a 64 x 64 canvas: the same architecture
family, small enough to trace and run in seconds on a shared 2-core CPU.
"""
import copy
import dataclasses
import os
import pathlib
import subprocess
import sys
from typing import Any
from typing import Dict

from official.core import config_definitions as cfg
from official.core import exp_factory

from projects.maskformer import registry_imports  # noqa: F401
from projects.maskformer.conversion import tfrecords

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENT = 'maskformer_synthetic_cpu'
CANVAS = 64
NUM_QUERIES = 8
# make_synthetic_coco.py draws at most 4 things and 2 stuff regions.
MAX_SEGMENTS = 8

TINY_MODEL: Dict[str, Any] = {
    'input_size': [CANVAS, CANVAS, 3],
    'backbone': {'torch_resnet': {'depths': [1, 1, 1, 1], 'base_width': 8}},
    'pixel_decoder': {
        'conv_dim': 32, 'mask_dim': 32, 'num_groups': 8,
        'transformer_encoder': {'num_layers': 1, 'num_heads': 2,
                                'dim_feedforward': 64},
    },
    'transformer_predictor': {
        'hidden_dim': 32, 'num_queries': NUM_QUERIES, 'num_heads': 2,
        'dim_feedforward': 64, 'num_decoder_layers': 2,
    },
}

MASK2FORMER_EXPERIMENT = 'mask2former_synthetic_cpu'
MASK2FORMER_HEADS = 3  # 2 masked-attention layers, 3 supervised heads.
TINY_MASK2FORMER: Dict[str, Any] = {
    'input_size': [CANVAS, CANVAS, 3],
    'backbone': {'torch_resnet': {'depths': [1, 1, 1, 1], 'base_width': 8}},
    'pixel_decoder': {'conv_dim': 32, 'mask_dim': 32, 'num_groups': 8,
                      'num_layers': 1, 'num_heads': 2, 'num_points': 2,
                      'dim_feedforward': 64},
    'transformer_decoder': {'hidden_dim': 32, 'num_queries': NUM_QUERIES,
                            'num_heads': 2, 'dim_feedforward': 64,
                            'dec_layers': MASK2FORMER_HEADS},
}
# Fewer points than the recipe's 12,544, for speed.
TINY_MASK2FORMER_LOSSES: Dict[str, Any] = {'train_num_points': 64}

@dataclasses.dataclass(frozen=True)
class SyntheticRecords:
  """A synthetic dataset and its TFRecords.

  Attributes:
    coco_dir: the COCO-layout dataset (`{split}2017/`, `annotations/`).
    train_pattern: file pattern of the training TFRecords.
    val_pattern: file pattern of the validation TFRecords.
    category_map: the converter's category JSON of the validation split.
  """
  coco_dir: pathlib.Path
  train_pattern: str
  val_pattern: str
  category_map: str

  def groundtruth(self, split: str = 'val'):
    """(panoptic JSON, PNG folder) of a split, in panopticapi's format."""
    annotations = self.coco_dir / 'annotations'
    return (str(annotations / f'panoptic_{split}2017.json'),
            str(annotations / f'panoptic_{split}2017'))


def subprocess_env() -> Dict[str, str]:
  """The environment for a child Python running this checkout's code."""
  paths = [str(REPO_ROOT)] + [
      p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
  return dict(os.environ, PYTHONPATH=os.pathsep.join(paths),
              TF_CPP_MIN_LOG_LEVEL='3')


def build_records(root: pathlib.Path, num_train: int, num_val: int,
                  image_size: int = CANVAS, seed: int = 0) -> SyntheticRecords:
  """Writes a synthetic dataset under `root` and converts both splits.

  Args:
    root: an empty folder.
    num_train: training images.
    num_val: validation images.
    image_size: image height and width.
    seed: the dataset seed.

  Returns:
    The dataset's paths.
  """
  coco_dir = root / 'coco'
  result = subprocess.run(
      [sys.executable, str(REPO_ROOT / 'tools' / 'make_synthetic_coco.py'),
       f'--output_dir={coco_dir}', f'--num_train={num_train}',
       f'--num_val={num_val}', f'--image_size={image_size}', f'--seed={seed}'],
      env=subprocess_env(), capture_output=True, text=True, timeout=300,
      check=False)
  if result.returncode != 0:
    raise RuntimeError(f'make_synthetic_coco.py failed:\n{result.stderr}')
  for split in ('train', 'val'):
    tfrecords.convert_coco_panoptic(
        annotation_file=str(coco_dir / 'annotations' /
                            f'panoptic_{split}2017.json'),
        image_dir=str(coco_dir / f'{split}2017'),
        panoptic_dir=str(coco_dir / 'annotations' / f'panoptic_{split}2017'),
        output_prefix=str(root / 'tfrecords' / split), num_shards=1,
        progress=False)
  return SyntheticRecords(
      coco_dir=coco_dir,
      train_pattern=str(root / 'tfrecords' / 'train-*'),
      val_pattern=str(root / 'tfrecords' / 'val-*'),
      category_map=tfrecords.category_map_path(
          str(root / 'tfrecords' / 'val')))


def fixed_size_augmentation() -> Dict[str, Any]:
  """Training 'augmentation' that keeps every image as it is.

  Large-scale jitter with the factor fixed at 1 and no flip: the synthetic
  images already have the canvas size, so every epoch yields the same
  batches, whatever the augmentation seeds.
  """
  return {'type': 'large_scale_jitter',
          'large_scale_jitter': {'scale_min': 1.0, 'scale_max': 1.0,
                                 'flip_prob': 0.0}}


def tiny_overrides(records: SyntheticRecords, train_batch: int = 2,
                   val_batch: int = 2) -> Dict[str, Any]:
  """Overrides of `maskformer_synthetic_cpu` for the tiny model and data.

  Training data is read in file order (a one-element shuffle buffer) with a
  fixed seed and deterministic tf.data, without random augmentation.

  Args:
    records: the dataset.
    train_batch: global training batch size.
    val_batch: global validation batch size.

  Returns:
    A nested dict for `ExperimentConfig.override` (or a YAML config file).
  """
  parser = {'output_size': [CANVAS, CANVAS], 'max_segments': MAX_SEGMENTS,
            'eval_short_edge': CANVAS, 'eval_max_size': CANVAS}
  return {
      'task': {
          'model': copy.deepcopy(TINY_MODEL),
          'train_data': {
              'input_path': records.train_pattern,
              'global_batch_size': train_batch,
              'shuffle_buffer_size': 1,
              'seed': 1,
              'deterministic': True,
              'parser': dict(parser, augmentation=fixed_size_augmentation()),
          },
          'validation_data': {
              'input_path': records.val_pattern,
              'global_batch_size': val_batch,
              'parser': dict(parser, groundtruth_padded_size=[CANVAS, CANVAS]),
          },
          'evaluation': {'category_map_file': records.category_map},
      },
  }


def tiny_experiment(records: SyntheticRecords,
                    **kwargs) -> cfg.ExperimentConfig:
  """`maskformer_synthetic_cpu` with `tiny_overrides(records, **kwargs)`."""
  params = exp_factory.get_exp_config(EXPERIMENT)
  params.override(tiny_overrides(records, **kwargs), is_strict=True)
  params.validate()
  return params
