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

"""What the task's evaluation and the serving module both need for inference.

  * `read_category_map`: the category JSON that the TFRecord converters write
    (`categories_<split>.json`): thing/stuff flags and dataset ids by
    contiguous class id;
  * `resolve_checkpoint`: a checkpoint prefix, or a folder's latest one;
  * `architecture`, `build_model`, `num_queries`: the meta-architecture of a
    task config (MaskFormer or Mask2Former, by the config's type), its model
    and its number of queries;
  * `build_post_processor`: the original's inference
    (`modeling.postprocessing.MaskFormerPostProcessor`) for an experiment's
    evaluation data and thresholds, its thing classes from the category map.

It sits below `tasks/` and `serving/`, which both import it, so that serving
does not depend on the training task.
"""
import json
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence

import tensorflow as tf
import tf_keras

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.configs import mask2former as m2f_cfg
from projects.maskformer.configs import task as task_cfg
from projects.maskformer.modeling import postprocessing
from projects.maskformer.modeling.mask2former import mask2former_model
from projects.maskformer.modeling.maskformer import maskformer_model

# The meta-architectures, as `architecture` names them.
MASKFORMER = 'maskformer'
MASK2FORMER = 'mask2former'


def read_category_map(path: str) -> List[Dict[str, Any]]:
  """The 'categories' list of a converter's category JSON, by contiguous id.

  Args:
    path: the JSON file (`task.evaluation.category_map_file`).

  Returns:
    The category dicts ('contiguous_id', 'category_id', 'name', 'isthing',
    'color', ...), sorted by 'contiguous_id'.

  Raises:
    ValueError: the file is missing or its ids are not 0..K-1.
  """
  if not path or not tf.io.gfile.exists(path):
    raise ValueError(
        'panoptic evaluation needs task.evaluation.category_map_file, the '
        f'categories JSON written by the TFRecord converter; got {path!r}')
  with tf.io.gfile.GFile(path) as f:
    categories = json.load(f)['categories']
  categories = sorted(categories, key=lambda c: c['contiguous_id'])
  if [c['contiguous_id'] for c in categories] != list(range(len(categories))):
    raise ValueError(f'{path}: contiguous ids are not 0..{len(categories) - 1}')
  return categories


def architecture(params: task_cfg.MaskClassificationTask) -> str:
  """`MASK2FORMER` for a `Mask2FormerTask` config, else `MASKFORMER`."""
  if isinstance(params, m2f_cfg.Mask2FormerTask):
    return MASK2FORMER
  return MASKFORMER


def is_mask2former(params: task_cfg.MaskClassificationTask) -> bool:
  """Whether the task config is Mask2Former's (its losses, panoptic rule)."""
  return architecture(params) == MASK2FORMER


def build_model(params: task_cfg.MaskClassificationTask) -> tf_keras.Model:
  """The model of a task config: Mask2Former or MaskFormer, by its type.

  Weight decay is the optimizer's (decoupled), never an L2 loss, so no
  regularizer is attached.

  Args:
    params: a `MaskFormerTask` or `Mask2FormerTask` config.

  Returns:
    The built model (variables created, randomly initialized).
  """
  if is_mask2former(params):
    return mask2former_model.build_mask2former_model(params.model)
  return maskformer_model.build_maskformer_model(params.model)


def num_queries(params: task_cfg.MaskClassificationTask) -> int:
  """The model's number of queries Q.

  `model.transformer_decoder.num_queries` for Mask2Former,
  `model.transformer_predictor.num_queries` for MaskFormer.
  """
  if is_mask2former(params):
    return int(params.model.transformer_decoder.num_queries)
  return int(params.model.transformer_predictor.num_queries)


def resolve_checkpoint(path: str) -> str:
  """A checkpoint path, or a folder's latest checkpoint.

  Args:
    path: a checkpoint prefix (with a '.index' file) or a folder whose
      `checkpoint` file names one (a training model_dir).

  Returns:
    The checkpoint prefix.

  Raises:
    ValueError: if there is no such checkpoint.
  """
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      raise ValueError(f'no checkpoint in the folder {path}')
    return latest
  if not tf.io.gfile.exists(path + '.index'):
    raise ValueError(f'checkpoint {path} does not exist (expected '
                     f'{path}.index)')
  return path


def build_post_processor(
    categories: Optional[Sequence[Mapping[str, Any]]],
    data_config: data_cfg.DataConfig,
    evaluation: task_cfg.Evaluation,
    outputs: Sequence[str],
    *,
    paint_confident_pixels_only: bool,
    instance_top_k: int = 100) -> postprocessing.MaskFormerPostProcessor:
  """The original's inference on the canvas of `data_config`'s ground truth.

  Args:
    categories: the category map (`read_category_map`'s list; 'isthing' marks
      the thing classes); may be None when `outputs` is only 'semantic'.
    data_config: the evaluation data; its `parser.groundtruth_padded_size`
      [Hc, Wc] is the canvas of the results.
    evaluation: `object_mask_threshold` and `overlap_threshold` of the
      panoptic inference.
    outputs: any of 'semantic', 'panoptic', 'instance'.
    paint_confident_pixels_only: the panoptic painting rule of Mask2Former
      (True) or MaskFormer (False); see `inference.panoptic_inference`.
    instance_top_k: (query, class) pairs of the instance results.

  Returns:
    The post-processor; its results are [B, Hc, Wc, ...] maps (see
    `MaskFormerPostProcessor`).

  Raises:
    ValueError: no canvas is set, or panoptic or instance results are asked
      for without a category map.
  """
  canvas = data_config.parser.groundtruth_padded_size
  if not canvas:
    raise ValueError('evaluation needs task.validation_data.parser.'
                     'groundtruth_padded_size (the original-resolution '
                     'canvas of the ground truth and predictions)')
  if categories is None and set(outputs) & {'panoptic', 'instance'}:
    raise ValueError(
        'panoptic and instance results need the thing/stuff flags of the '
        'category map: set task.evaluation.category_map_file (the '
        'categories JSON written by the TFRecord converter)')
  thing_classes = [int(c['contiguous_id']) for c in categories or ()
                   if c.get('isthing')]
  return postprocessing.MaskFormerPostProcessor(
      thing_classes=thing_classes,
      canvas_size=[int(s) for s in canvas],
      outputs=tuple(outputs),
      object_mask_threshold=evaluation.object_mask_threshold,
      overlap_threshold=evaluation.overlap_threshold,
      instance_top_k=instance_top_k,
      paint_confident_pixels_only=paint_confident_pixels_only)
