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

"""MaskFormer and Mask2Former segmentation (panoptic or semantic) for Model Garden.

One task class for both architectures: the task config's type chooses the
model and its criterion (`configs/maskformer.py`: MaskFormer, full-size
focal and dice losses; `configs/mask2former.py`: Mask2Former, point-sampled
losses whose random points come from a stateless seed per step,
`Mask2FormerTask.point_sampling_seed` and the step index).

Train step: model forward, one matcher call for every decoder layer, the
loss terms normalised by globally all-reduced counts (each replica returns
its share of the global loss, so the optimizer's cross-replica gradient sum is
the gradient of the global loss and nothing is divided by the number of
replicas), then the optimizer (whole-model clipping after that sum). It is
static-shaped and compiles with XLA. The metric `first_nonfinite_step` records
the first step whose loss or updated weights are not finite, for the driver
to stop before checkpointing them.

Validation step: the same losses, then the original's inference (panoptic
and semantic) on a fixed canvas; the host accumulates PQ (panopticapi's
definition) or mIoU over the whole evaluation set in `aggregate_logs`.
"""
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

from absl import logging
from official.core import base_task
from official.core import task_factory
import tensorflow as tf
import tf_keras

from projects.maskformer import inference_setup
from projects.maskformer import optimization as mf_optimization  # noqa: F401  (registers 'maskformer_adamw')
from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.configs import mask2former as m2f_cfg
from projects.maskformer.configs import maskformer as exp_cfg
from projects.maskformer.configs import task as task_cfg
from projects.maskformer.dataloaders import input_pipeline
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.evaluation import panoptic_quality
from projects.maskformer.evaluation import semantic_metrics
from projects.maskformer.losses import criterion as criterion_lib
from projects.maskformer.losses import mask2former_criterion
from projects.maskformer.modeling import layers
from projects.maskformer.modeling import postprocessing
from projects.maskformer.ops import precision

FIRST_NONFINITE_STEP = 'first_nonfinite_step'
_PANOPTIC_LOGS = 'panoptic_evaluation'
_SEMANTIC_LOGS = 'semantic_confusion'
_GROUNDTRUTH_KEYS = (maskformer_input.GROUNDTRUTH_SEGMENT_MAP,
                     maskformer_input.SEGMENT_CLASSES,
                     maskformer_input.SEGMENT_IS_CROWD,
                     maskformer_input.SEGMENT_VALID,
                     maskformer_input.IMAGE_INFO, maskformer_input.IMAGE_ID)
# Root objects of whole-model (and training) and backbone-only checkpoints.
_MODEL_ROOT = 'model'
_BACKBONE_ROOT = 'backbone'


def _call_model(model: tf_keras.Model, images: tf.Tensor, training: bool,
                valid_sizes: Optional[tf.Tensor]) -> Dict[str, Any]:
  """The model on `images`, padding-exact where `valid_sizes` are given."""
  if valid_sizes is None:
    return model(images, training=training)
  return model(images, training=training, valid_sizes=valid_sizes)


class FirstNonFiniteStep(tf_keras.metrics.Metric):
  """The first step of the current loop that produced non-finite values.

  A step counts when its global loss, or any trainable weight after its
  update, is NaN or infinite: a finite loss can still come with a corrupting
  update (an overflowing gradient, a NaN learning rate), and such weights
  must not reach a checkpoint. The value is the step index (the optimizer's
  `iterations` before the step, 0-based), -1 while every step was finite.
  It is the same on every replica (the loss is all-reduced and the weights
  are mirrored), so replicas average to it.
  """

  def __init__(self, name: str = FIRST_NONFINITE_STEP, **kwargs):
    super().__init__(name=name, dtype=tf.float32, **kwargs)
    self._step = self.add_weight(
        'step', initializer=tf_keras.initializers.Constant(-1.0),
        aggregation=tf.VariableAggregation.MEAN)

  def update_state(self, step: tf.Tensor, finite: tf.Tensor) -> None:
    """Records `step` if it is the first non-finite one.

    Args:
      step: an integer scalar tensor, the step index.
      finite: a bool scalar tensor, whether the step's loss and updated
        weights were all finite.
    """
    record = tf.logical_and(self._step < 0.0, tf.logical_not(finite))
    self._step.assign(tf.where(record, tf.cast(step, tf.float32), self._step))

  def result(self) -> tf.Tensor:
    return tf.identity(self._step)

  def reset_state(self) -> None:
    self._step.assign(-1.0)


def _all_finite(tensors: List[tf.Tensor]) -> tf.Tensor:
  """A bool scalar tensor: whether every element of `tensors` is finite."""
  return tf.reduce_all(
      tf.stack([tf.reduce_all(tf.math.is_finite(t)) for t in tensors]))


def _child_name(parent: tf.Module, child: tf.Module) -> str:
  """The name under which `parent` tracks `child` in its checkpoints."""
  names = [name for name, value in
           tf.train.TrackableView(parent).children(parent).items()
           if value is child]
  if len(names) != 1:
    raise ValueError(f'{parent.name} does not track {child.name} once')
  return names[0]


def compiles_criterion(xla_compile: str) -> bool:
  """Whether the task compiles its criterion (`MaskFormerTask.xla_compile`).

  Raises:
    ValueError: an unknown `xla_compile`.
  """
  if xla_compile == task_cfg.XLA_COMPILE_AUTO:
    return not (tf.config.list_physical_devices('GPU') or
                tf.config.list_physical_devices('TPU'))
  if xla_compile not in (task_cfg.XLA_COMPILE_WHOLE_STEP,
                         task_cfg.XLA_COMPILE_CRITERION):
    raise ValueError("task.xla_compile must be 'auto', 'whole_step' or "
                     f"'criterion', got {xla_compile!r}")
  return xla_compile == task_cfg.XLA_COMPILE_CRITERION


@task_factory.register_task_cls(m2f_cfg.Mask2FormerTask)
@task_factory.register_task_cls(exp_cfg.MaskFormerTask)
class MaskFormerSegmentationTask(base_task.Task):
  """Trains and evaluates MaskFormer or Mask2Former (by the config's type)."""

  def __init__(self, params: task_cfg.MaskClassificationTask,
               logging_dir=None, name=None):
    super().__init__(params, logging_dir=logging_dir, name=name)
    if params.init_checkpoint_modules not in ('all', 'backbone'):
      raise ValueError("task.init_checkpoint_modules must be 'all' or "
                       f"'backbone', got {params.init_checkpoint_modules!r}")
    criterion_class = (mask2former_criterion.Mask2FormerCriterion
                       if inference_setup.is_mask2former(params)
                       else criterion_lib.MaskFormerCriterion)
    self._criterion = criterion_class(
        params.losses, jit_compile=compiles_criterion(params.xla_compile))
    self._label_type = params.validation_data.decoder.label_type
    self._categories = None
    # With instance results or without -> post-processor, built when used.
    self._post_processors = {}
    if self._label_type == data_cfg.PANOPTIC and params.validation_data.input_path:
      self._categories = inference_setup.read_category_map(
          params.evaluation.category_map_file)

  @property
  def criterion(self) -> criterion_lib.MaskClassificationCriterion:
    return self._criterion

  @property
  def categories(self) -> Optional[List[Dict[str, Any]]]:
    """Panoptic categories by contiguous id (from the category map)."""
    return self._categories

  def build_model(self) -> tf_keras.Model:
    return inference_setup.build_model(self.task_config)

  def initialize(self, model: tf_keras.Model) -> None:
    """Restores `init_checkpoint`: all weights, or the backbone only.

    'all' reads a whole-model checkpoint (`tools/convert_pytorch_checkpoint.py`
    or one of this task's own training checkpoints); 'backbone' reads the
    backbone of such a checkpoint, or a backbone-only one (`--backbone_only`),
    and leaves the other weights as they are.

    Args:
      model: the built model.

    Raises:
      ValueError: `init_checkpoint` names no checkpoint, or one without the
        requested weights.
    """
    if not self.task_config.init_checkpoint:
      return
    try:
      path = inference_setup.resolve_checkpoint(
          self.task_config.init_checkpoint)
    except ValueError as e:
      raise ValueError(
          f'task.init_checkpoint {self.task_config.init_checkpoint!r} is not '
          f'a TF checkpoint ({e}): give a prefix with a .index file, or a '
          'folder whose `checkpoint` file names one') from e
    modules = self.task_config.init_checkpoint_modules
    roots = {name.split('/')[0] for name in
             tf.train.load_checkpoint(path).get_variable_to_shape_map()}
    if modules == 'all' and _MODEL_ROOT in roots:
      checkpoint = tf.train.Checkpoint(model=model)
    elif modules == 'backbone' and _BACKBONE_ROOT in roots:
      checkpoint = tf.train.Checkpoint(backbone=model.backbone)
    elif modules == 'backbone' and _MODEL_ROOT in roots:
      checkpoint = tf.train.Checkpoint(
          model=tf.train.Checkpoint(**{_child_name(model, model.backbone):
                                       model.backbone}))
    elif modules == 'all' and _BACKBONE_ROOT in roots:
      raise ValueError(
          f'task.init_checkpoint {path} holds a backbone only; restore it '
          "with init_checkpoint_modules='backbone'")
    else:
      raise ValueError(
          f'task.init_checkpoint {path} holds neither a model nor a '
          f'backbone (its root objects: {sorted(roots)})')
    checkpoint.read(path).expect_partial().assert_existing_objects_matched()
    logging.info('Restored %s weights from %s', modules, path)

  def build_inputs(self, params: data_cfg.DataConfig,
                   input_context: Optional[tf.distribute.InputContext] = None,
                   canvas_index: Optional[int] = None) -> tf.data.Dataset:
    """The input pipeline of `params` (of one canvas of `parser.canvases`).

    Raises:
      ValueError: padding-exact training data for Mask2Former, whose
        point-sampled losses do not leave the padding out (the original
        trains it on padded canvases anyway).
    """
    if (params.is_training and params.parser.padding_exact and
        inference_setup.is_mask2former(self.task_config)):
      raise ValueError(
          'train_data.parser.padding_exact: Mask2Former\'s point-sampled '
          'losses do not leave the padding out; train it on the canvas (as '
          'the original does, on its padded large-scale-jitter canvas)')
    return input_pipeline.build_input(params, input_context, canvas_index)

  def build_metrics(self, training: bool = True) -> List[tf_keras.metrics.Metric]:
    if not training:
      return []
    if inference_setup.is_mask2former(self.task_config):
      decoder = self.task_config.model.transformer_decoder
      num_layers = decoder.dec_layers
    else:
      decoder = self.task_config.model.transformer_predictor
      num_layers = decoder.num_decoder_layers
    if not decoder.deep_supervision:
      num_layers = 1
    names = ['total_loss'] + [
        term + suffix for suffix in criterion_lib.layer_suffixes(num_layers)
        for term in ('loss_ce', 'loss_mask', 'loss_dice')]
    return ([tf_keras.metrics.Mean(name, dtype=tf.float32) for name in names] +
            [FirstNonFiniteStep()])

  def run_model(self, model: tf_keras.Model, images: tf.Tensor,
                labels: Dict[str, tf.Tensor], params: data_cfg.DataConfig,
                training: bool) -> Dict[str, Any]:
    """The model on a batch of `params`' data, padding-exact if it says so.

    Args:
      model: the model.
      images: the float [B, H, W, 3] batch (`prepare_model_inputs`).
      labels: its labels.
      params: the data config the batch was read with; with
        `parser.padding_exact`, each image is computed on its own region
        (`maskformer_input.computed_sizes`).
      training: whether dropout is active.

    Returns:
      The model's output dict.
    """
    return _call_model(model, images, training,
                       maskformer_input.computed_sizes(labels, params))

  def _losses(self, images: tf.Tensor, labels: Dict[str, tf.Tensor],
              model: tf_keras.Model, training: bool, step: tf.Tensor,
              params: data_cfg.DataConfig):
    """Forward pass and this replica's share of the weighted global loss.

    `step` (int64 scalar) seeds Mask2Former's random points with
    `point_sampling_seed`: the same on every replica (the draws are keyed by
    each image's index in the global batch) and reproducible. `params` is
    the data config of the batch (`run_model`); with padding-exact data,
    MaskFormer's losses see each image's region only (Mask2Former's
    validation losses still see the canvas).
    """
    valid_sizes = maskformer_input.computed_sizes(labels, params)
    outputs = _call_model(model, images, training, valid_sizes)
    # bfloat16 endpoints widen to float32; float64 (the exact mode) stays.
    outputs = tf.nest.map_structure(precision.widen, outputs)
    targets = maskformer_input.loss_targets(labels)
    if valid_sizes is not None and not inference_setup.is_mask2former(
        self.task_config):
      targets[maskformer_input.VALID_SIZES] = valid_sizes
    if inference_setup.is_mask2former(self.task_config):
      targets = mask2former_criterion.with_point_sampling(
          targets, seed=tf.stack([
              tf.constant(self.task_config.point_sampling_seed, tf.int64),
              tf.cast(step, tf.int64)]))
    total, terms = self._criterion(
        {k: outputs[k] for k in criterion_lib.PREDICTION_KEYS if k in outputs},
        targets)
    return outputs, total, terms

  def _global_logs(self, total: tf.Tensor, terms: Dict[str, tf.Tensor]
                   ) -> Dict[str, tf.Tensor]:
    """Sums the replicas' shares: every replica then logs the global values."""
    names = ['total_loss'] + sorted(terms)
    values = tf.stack([total] + [terms[n] for n in sorted(terms)])
    values = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, values)
    return dict(zip(names, tf.unstack(values)))

  def train_step(self, inputs, model: tf_keras.Model,
                 optimizer: tf_keras.optimizers.Optimizer,
                 metrics: Optional[List[tf_keras.metrics.Metric]] = None):
    """One optimizer step on a per-replica batch.

    Args:
      inputs: `(images, labels)` from the input pipeline (of `train_data`;
        uint8 images are normalized here, `prepare_model_inputs`).
      model: the MaskFormer.
      optimizer: the optimizer (for the recipe, `MaskFormerAdamW`).
      metrics: the training metrics of `build_metrics(training=True)`.

    Returns:
      A dict with `self.loss` (the global weighted loss) and every term.
    """
    images, labels = maskformer_input.prepare_model_inputs(
        *inputs, self.task_config.train_data)
    with tf.GradientTape() as tape:
      _, total, terms = self._losses(images, labels, model, training=True,
                                     step=optimizer.iterations,
                                     params=self.task_config.train_data)
      scaled = total
      if isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer):
        scaled = optimizer.get_scaled_loss(total)
    variables = model.trainable_variables
    grads = tape.gradient(scaled, variables)
    if isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer):
      grads = optimizer.get_unscaled_gradients(grads)
    optimizer.apply_gradients(list(zip(grads, variables)))
    logs = self._global_logs(total, terms)
    for metric in metrics or []:
      if isinstance(metric, FirstNonFiniteStep):
        # Read after the update (automatic control dependencies order it).
        finite = tf.logical_and(tf.math.is_finite(logs['total_loss']),
                                _all_finite(variables))
        metric.update_state(optimizer.iterations - 1, finite)
      else:
        metric.update_state(logs[metric.name])
    logs[self.loss] = logs['total_loss']
    return logs

  def build_post_processor(self, params: data_cfg.DataConfig,
                           instances: bool = False
                           ) -> postprocessing.MaskFormerPostProcessor:
    """The original's inference for `params`' data (panoptic or semantic).

    Args:
      params: the evaluation data.
      instances: also the instance results (panoptic data only).

    Returns:
      The post-processor.

    Raises:
      ValueError: instance results asked for on semantic data.
    """
    paint_rule = inference_setup.is_mask2former(self.task_config)
    if self._label_type == data_cfg.PANOPTIC:
      return inference_setup.build_post_processor(
          self._categories, params, self.task_config.evaluation,
          outputs=('panoptic', 'instance') if instances else ('panoptic',),
          paint_confident_pixels_only=paint_rule)
    if instances:
      raise ValueError('instance results need panoptic data (the thing '
                       'classes of its category map)')
    return inference_setup.build_post_processor(
        None, params, self.task_config.evaluation, outputs=('semantic',),
        paint_confident_pixels_only=paint_rule)

  def post_process(self, outputs: Dict[str, Any], images: tf.Tensor,
                   labels: Dict[str, tf.Tensor],
                   instances: bool = False) -> Dict[str, tf.Tensor]:
    """Inference at the original image sizes (validation data settings).

    Args:
      outputs: the model's outputs for `images`.
      images: the float [B, H, W, 3] input batch.
      labels: the input pipeline's labels (for `image_info`).
      instances: also the instance results (panoptic data only).

    Returns:
      The `MaskFormerPostProcessor` outputs.
    """
    if instances not in self._post_processors:
      self._post_processors[instances] = self.build_post_processor(
          self.task_config.validation_data, instances)
    image_info = labels[maskformer_input.IMAGE_INFO]
    sizes = tf.cast(tf.round(image_info[:, 1]), tf.int32)
    original_sizes = tf.cast(tf.round(image_info[:, 0]), tf.int32)
    return self._post_processors[instances](
        outputs, layers.spatial_size(images), sizes, original_sizes,
        maskformer_input.computed_sizes(labels,
                                        self.task_config.validation_data))

  def validation_step(self, inputs, model: tf_keras.Model,
                      metrics: Optional[List[tf_keras.metrics.Metric]] = None):
    """Losses and inference on a per-replica batch.

    `inputs` come from the `validation_data` pipeline (uint8 images are
    normalized here, `maskformer_input.prepare_model_inputs`).

    Returns:
      A dict with `self.loss` and, for `aggregate_logs`, the ground truth and
      the panoptic predictions (panoptic data) or the confusion matrix
      (semantic data).
    """
    del metrics
    if (self.task_config.validation_data.parser.eval_padding !=
        data_cfg.EVAL_PADDING_CANVAS):
      raise ValueError(
          "the validation step needs task.validation_data.parser.eval_padding="
          "'canvas' (static shapes); evaluate with 'size_divisibility' padding "
          'through tools/evaluate_coco_panoptic.py')
    params = self.task_config.validation_data
    images, labels = maskformer_input.prepare_model_inputs(*inputs, params)
    # Validation losses draw Mask2Former's points from one fixed seed.
    outputs, total, terms = self._losses(images, labels, model,
                                         training=False,
                                         step=tf.constant(-1, tf.int64),
                                         params=params)
    logs = {self.loss: self._global_logs(total, terms)['total_loss']}
    results = self.post_process(outputs, images, labels)
    if self._label_type == data_cfg.PANOPTIC:
      predictions = {k: results[k] for k in (
          'panoptic', 'segment_valid', 'segment_id', 'segment_category',
          'segment_score')}
      groundtruth = {k: labels[k] for k in _GROUNDTRUTH_KEYS}
      logs[_PANOPTIC_LOGS] = (groundtruth, predictions)
    else:
      gt_classes = semantic_metrics.semantic_labels_from_segments(
          labels[maskformer_input.GROUNDTRUTH_SEGMENT_MAP],
          labels[maskformer_input.SEGMENT_CLASSES])
      predicted = tf.argmax(results['semantic'], axis=-1, output_type=tf.int32)
      logs[_SEMANTIC_LOGS] = semantic_metrics.semantic_confusion_matrix(
          gt_classes, predicted, self.task_config.model.num_classes,
          valid_mask=results['valid_mask'])
    return logs

  def aggregate_logs(self, state=None, step_outputs=None):
    if state is None:
      if self._label_type == data_cfg.PANOPTIC:
        state = panoptic_quality.PanopticQualityEvaluator(
            {c['category_id']: c for c in self._categories},
            category_ids=[c['category_id'] for c in self._categories])
      else:
        state = semantic_metrics.SemanticSegmentationMetrics(
            self.task_config.model.num_classes)
    if self._label_type == data_cfg.PANOPTIC:
      state.update_state(*step_outputs[_PANOPTIC_LOGS])
    else:
      state.update_state(step_outputs[_SEMANTIC_LOGS])
    return state

  def reduce_aggregated_logs(self, aggregated_logs, global_step=None
                             ) -> Dict[str, float]:
    """PQ / SQ / RQ (all, things, stuff) or mIoU / fwIoU / mACC / pACC, in %."""
    result = aggregated_logs.result()
    per_class = self.task_config.evaluation.report_per_class_metrics
    logs = {}
    if self._label_type == data_cfg.PANOPTIC:
      for group, suffix in (('All', ''), ('Things', '_th'), ('Stuff', '_st')):
        for metric in ('pq', 'sq', 'rq'):
          logs[metric.upper() + suffix] = 100.0 * result[group][metric]
      if per_class:
        for category_id, values in result['per_class'].items():
          logs[f'PQ/{category_id}'] = 100.0 * values['pq']
    else:
      for metric in ('mIoU', 'fwIoU', 'mACC', 'pACC'):
        logs[metric] = 100.0 * result[metric]
      if per_class:
        for k, iou in enumerate(result['per_class_iou']):
          logs[f'IoU/{k}'] = 100.0 * iou
    return logs
