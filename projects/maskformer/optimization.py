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

"""AdamW in PyTorch's arithmetic with MaskFormer's recipe, for Model Garden.

The original trains with detectron2's `build_optimizer` over
`torch.optim.AdamW`: one parameter group per parameter, the backbone's
learning rate multiplied by `BACKBONE_MULTIPLIER`, no weight decay on
normalization parameters nor on the query embedding, and the whole model's
gradient clipped by `clip_grad_norm_` (`full_model` clipping) before every
step. `MaskFormerAdamW` reproduces that update element for element:

  g <- g * min(max_norm / (||all gradients||_2 + 1e-6), 1)   (after the
       cross-replica sum)
  p <- p * (1 - lr * wd)                                    (decoupled decay)
  m <- m + (1 - beta_1) * (g - m)
  v <- v * beta_2 + (1 - beta_2) * g * g
  p <- p - (lr / (1 - beta_1^t)) * m / (sqrt(v) / sqrt(1 - beta_2^t) + eps)

with `lr` the scheduled learning rate times the variable's multiplier and
`t` the 1-based step. This differs from Keras' and Model Garden's Adam, which
add epsilon to the uncorrected sqrt(v) (so an effectively larger epsilon) and,
in `AdamWeightDecay`, clip each replica's gradient before the all-reduce.

The decay factor `1 - lr * wd` is rounded to the variable's dtype, as torch
rounds its Python scalar: with the R50 recipe (lr 1e-4, wd 1e-4) it is
exactly 1.0 in float32, so float32 weights are not decayed at all, in the
original as here (the reference training run confirms it). Decay acts once
lr * wd exceeds about 3e-8 (e.g. the Swin recipes' wd 0.01).

Variables are selected by regular expressions (`re.search`) on their names
as `model.variables` shows them (e.g. 'transformer_predictor/query_embed:0'):
the `/replica_<k>` that a distribution strategy adds to the names of a
mirrored variable's copies is removed first, so every replica selects alike.
The defaults are the model's own (`configs/variable_names.py`); the
optimizer's config, `MaskFormerAdamWConfig`, is in `configs/optimization.py`.
Importing this module registers the optimizer with Model Garden's optimizer
factory as 'maskformer_adamw'.
"""
import functools
import math
import re
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from official.modeling import optimization
import tensorflow as tf
import tf_keras

from projects.maskformer.configs import optimization as optimization_cfg

# `torch.nn.utils.clip_grad_norm_` adds this to the total norm.
_TORCH_CLIP_NORM_EPSILON = 1e-6


def logical_variable_name(variable: tf.Variable) -> str:
  """The name that the regexes see: the variable's, less `/replica_<k>`.

  Args:
    variable: a variable, or one replica's copy of a mirrored variable.

  Returns:
    The name of the (mirrored) variable, e.g. 'pixel_decoder/layer_1/
    group_norm/gamma:0' for its copy 'pixel_decoder/layer_1/group_norm/gamma/
    replica_1:0'.
  """
  return re.sub(r'/replica_\d+(?=:\d+$)', '', variable.name)


def clip_by_global_norm_torch(
    gradients: Sequence[tf.Tensor],
    max_norm: float) -> Tuple[List[tf.Tensor], tf.Tensor]:
  """Clips gradients as `torch.nn.utils.clip_grad_norm_(params, max_norm)`.

  The scale is `min(max_norm / (total_norm + 1e-6), 1)`; `tf.clip_by_global_norm`
  omits the 1e-6, which matters once the norm is small.

  Args:
    gradients: gradient tensors (or `tf.IndexedSlices`, which are made dense)
      of any shapes and floating dtypes.
    max_norm: the largest L2 norm the concatenated gradients may have.

  Returns:
    The scaled gradients, dense, in the order and dtypes given, and the total
    L2 norm before clipping, a float32 scalar.
  """
  dense = [tf.convert_to_tensor(g) for g in gradients]
  norms = [tf.norm(tf.cast(tf.reshape(g, [-1]), tf.float32)) for g in dense]
  total_norm = tf.norm(tf.stack(norms))
  scale = tf.minimum(max_norm / (total_norm + _TORCH_CLIP_NORM_EPSILON), 1.0)
  return [g * tf.cast(scale, g.dtype) for g in dense], total_norm


def _clip_grads_and_vars(grads_and_vars, max_norm):
  """`clip_by_global_norm_torch` on (gradient, variable) pairs."""
  grads, variables = zip(*grads_and_vars)
  clipped, _ = clip_by_global_norm_torch(grads, max_norm)
  return list(zip(clipped, variables))


def _compile_all(patterns: Optional[Sequence[str]]) -> List[re.Pattern]:
  """Compiled regexes; None is no regex."""
  return [re.compile(p) for p in (patterns or ())]


class MaskFormerAdamW(tf_keras.optimizers.legacy.Optimizer):
  """PyTorch AdamW with a backbone learning-rate multiplier and torch clipping.

  `global_clipnorm` clips the whole model's gradient with torch's formula
  after the cross-replica sum (`apply_gradients` aggregates, then transforms).
  There is no per-replica clipping. Dense and sparse (`tf.IndexedSlices`)
  gradients give the same, dense, update, as torch does for an embedding.

  In a graph, the variables are updated one after the other (each update has
  a control dependency on the previous one), as torch's loop over the
  parameters does: otherwise TF's executor runs the independent updates
  breadth-first and holds several variable-sized temporaries of every
  variable at once (measured: about 190 MiB more peak memory in the R50
  train step, docs/memory.md). XLA schedules a compiled step itself.
  """

  _HAS_AGGREGATE_GRAD = True

  def __init__(self,
               learning_rate=1e-4,
               beta_1: float = 0.9,
               beta_2: float = 0.999,
               epsilon: float = 1e-8,
               weight_decay_rate: float = 1e-4,
               exclude_from_weight_decay: Optional[Sequence[str]] = (
                   optimization_cfg.DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY),
               backbone_lr_multiplier: float = 0.1,
               backbone_variable_regexes: Optional[Sequence[str]] = (
                   optimization_cfg.DEFAULT_BACKBONE_VARIABLE_REGEXES),
               name: str = 'MaskFormerAdamW',
               **kwargs):
    """Creates the optimizer.

    Args:
      learning_rate: a float or a `LearningRateSchedule` of the step (the
        `iterations` count before the update, 0 for the first step).
      beta_1: decay of the first moment, in [0, 1).
      beta_2: decay of the second moment, in [0, 1).
      epsilon: added to the bias-corrected sqrt(v), as torch does.
      weight_decay_rate: decoupled weight decay; a variable is multiplied by
        `1 - lr * weight_decay_rate` (its own `lr`) before the Adam step.
      exclude_from_weight_decay: regexes; a variable whose name matches any is
        not decayed.
      backbone_lr_multiplier: factor on the learning rate (and so on the
        decay) of the backbone's variables.
      backbone_variable_regexes: regexes; a variable whose name matches any
        gets `backbone_lr_multiplier`.
      name: the optimizer's name.
      **kwargs: `global_clipnorm` (torch's whole-model clipping, after the
        cross-replica sum), `clipnorm`, `clipvalue`, `gradient_aggregator`,
        `gradient_transformers` or `decay`, as for every legacy optimizer.

    Raises:
      ValueError: a hyperparameter is out of range.
    """
    for key, value in (('beta_1', beta_1), ('beta_2', beta_2)):
      if not 0.0 <= value < 1.0:
        raise ValueError(f'{key} must be in [0, 1), got {value}')
    for key, value in (('epsilon', epsilon),
                       ('weight_decay_rate', weight_decay_rate),
                       ('backbone_lr_multiplier', backbone_lr_multiplier)):
      if value < 0.0:
        raise ValueError(f'{key} must be >= 0, got {value}')
    super().__init__(name, **kwargs)
    self._set_hyper('learning_rate', learning_rate)
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.weight_decay_rate = weight_decay_rate
    self.backbone_lr_multiplier = backbone_lr_multiplier
    self.exclude_from_weight_decay = list(exclude_from_weight_decay or ())
    self.backbone_variable_regexes = list(backbone_variable_regexes or ())
    self._no_decay_patterns = _compile_all(self.exclude_from_weight_decay)
    self._backbone_patterns = _compile_all(self.backbone_variable_regexes)
    # The last update op of the `apply_gradients` being built (graphs only).
    self._previous_update = None

  @property
  def global_clipnorm(self):
    """`float` or `None`: torch's whole-model gradient clipping norm."""
    return self._global_clipnorm

  @global_clipnorm.setter
  def global_clipnorm(self, val):
    # The legacy base applies `_global_clipnorm_fn` in `_transform_gradients`,
    # after aggregation; only the formula is replaced by torch's.
    if val is not None and self.gradient_transformers:
      raise ValueError(
          '`global_clipnorm` cannot be set together with '
          f'`gradient_transformers`; got global_clipnorm={val}')
    if val is not None and val <= 0.0:
      raise ValueError(f'global_clipnorm must be > 0 or None, got {val}')
    self._global_clipnorm = val
    self._global_clipnorm_fn = functools.partial(
        _clip_grads_and_vars, max_norm=val)

  def learning_rate_multiplier(self, variable: tf.Variable) -> float:
    """The factor on the scheduled learning rate for `variable`.

    Args:
      variable: a model variable.

    Returns:
      `backbone_lr_multiplier` if the variable's name matches a backbone
      regex, else 1.0.
    """
    name = logical_variable_name(variable)
    if any(p.search(name) for p in self._backbone_patterns):
      return self.backbone_lr_multiplier
    return 1.0

  def applies_weight_decay(self, variable: tf.Variable) -> bool:
    """Whether `variable` is decayed.

    Args:
      variable: a model variable.

    Returns:
      False if the weight decay rate is 0 or the variable's name matches an
      exclusion regex, else True.
    """
    if self.weight_decay_rate == 0.0:
      return False
    name = logical_variable_name(variable)
    return not any(p.search(name) for p in self._no_decay_patterns)

  def _create_slots(self, var_list):
    for var in var_list:
      self.add_slot(var, 'm')
    for var in var_list:
      self.add_slot(var, 'v')

  def _prepare_local(self, var_device, var_dtype, apply_state):
    super()._prepare_local(var_device, var_dtype, apply_state)
    step = tf.cast(self.iterations + 1, var_dtype)
    # 1 - beta^t as -expm1(t * log(beta)), with log(beta) in float64 here:
    # `1 - beta_2` in float32 would lose five digits to cancellation.
    log_beta_1 = math.log(self.beta_1) if self.beta_1 > 0.0 else -math.inf
    log_beta_2 = math.log(self.beta_2) if self.beta_2 > 0.0 else -math.inf
    apply_state[(var_device, var_dtype)].update(
        bias_correction_1=-tf.math.expm1(step * log_beta_1),
        bias_correction_2_sqrt=tf.sqrt(-tf.math.expm1(step * log_beta_2)))

  def _distributed_apply(self, distribution, grads_and_vars, apply_state,
                         name):
    self._previous_update = None
    try:
      return super()._distributed_apply(distribution, grads_and_vars,
                                        apply_state, name)
    finally:
      self._previous_update = None

  def _resource_apply_dense(self, grad, var, apply_state=None):
    # One variable at a time (see the class docstring); eager ops run in
    # order anyway, and there `tf.group` returns None.
    previous = [] if self._previous_update is None else [self._previous_update]
    with tf.control_dependencies(previous):
      update = self._adamw_update(grad, var, apply_state)
    self._previous_update = update
    return update

  def _adamw_update(self, grad, var, apply_state):
    """The ops of torch's AdamW step of `var`; returns their group."""
    var_device, var_dtype = var.device, var.dtype.base_dtype
    coefficients = ((apply_state or {}).get((var_device, var_dtype))
                    or self._fallback_apply_state(var_device, var_dtype))
    lr = coefficients['lr_t'] * self.learning_rate_multiplier(var)
    m = self.get_slot(var, 'm')
    v = self.get_slot(var, 'v')

    # The same operations, in the same order, as torch's single-tensor AdamW;
    # the Python-float constants are rounded once to the variable's dtype.
    var_t = tf.identity(var)
    if self.applies_weight_decay(var):
      var_t = var_t * (1.0 - lr * self.weight_decay_rate)
    m_t = m + (1.0 - self.beta_1) * (grad - m)  # exp_avg.lerp_(grad, 1 - b1)
    v_t = v * self.beta_2 + (1.0 - self.beta_2) * grad * grad
    step_size = lr / coefficients['bias_correction_1']
    denom = tf.sqrt(v_t) / coefficients['bias_correction_2_sqrt'] + self.epsilon
    var_t = var_t - step_size * m_t / denom  # addcdiv_(m, denom, -step_size)
    return tf.group(
        m.assign(m_t, use_locking=self._use_locking, read_value=False),
        v.assign(v_t, use_locking=self._use_locking, read_value=False),
        var.assign(var_t, use_locking=self._use_locking, read_value=False))

  def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
    num_rows = tf.shape(var, out_type=indices.dtype)[0]
    dense_grad = tf.math.unsorted_segment_sum(grad, indices, num_rows)
    return self._resource_apply_dense(dense_grad, var, apply_state)

  def get_config(self):
    config = super().get_config()
    config.update({
        'learning_rate': self._serialize_hyperparameter('learning_rate'),
        'decay': self._initial_decay,
        'beta_1': self.beta_1,
        'beta_2': self.beta_2,
        'epsilon': self.epsilon,
        'weight_decay_rate': self.weight_decay_rate,
        'exclude_from_weight_decay': self.exclude_from_weight_decay,
        'backbone_lr_multiplier': self.backbone_lr_multiplier,
        'backbone_variable_regexes': self.backbone_variable_regexes,
    })
    return config


optimization.register_optimizer_cls('maskformer_adamw', MaskFormerAdamW)
