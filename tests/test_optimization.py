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

"""Tests of the PyTorch-exact AdamW against the reference training run."""
import json
import re
import types

import numpy as np
from official.modeling.optimization import optimizer_factory
import pytest
import tensorflow as tf

from projects.maskformer import optimization as mf_optimization
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.checkpoints import restricted_pickle
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.configs import optimization as optimization_cfg
from projects.maskformer.modeling.maskformer import maskformer_model

# The recipe's no-decay parameters under PyTorch names: GroupNorm of the pixel
# decoder, LayerNorms of the transformer decoder, the query embedding.
_TORCH_NO_DECAY_REGEXES = (
    r'pixel_decoder\.[^.]+\.norm\.',
    r'\.norm[123]\.',
    r'transformer\.decoder\.norm\.',
    r'query_embed\.',
)
_TORCH_BACKBONE_REGEXES = (r'^backbone\.',)


def _torch_adamw_reference(params, grads_per_step, lr_per_step, *, beta_1,
                           beta_2, eps, weight_decay, lr_multipliers,
                           decayed, max_norm, clip_epsilon=1e-6):
  """torch.optim.AdamW after clip_grad_norm_, in float64 numpy.

  Args:
    params: dict name -> initial array.
    grads_per_step: list of dicts name -> gradient.
    lr_per_step: the scheduled learning rate of each step.
    beta_1: first-moment decay.
    beta_2: second-moment decay.
    eps: epsilon, added to sqrt(v_hat).
    weight_decay: decoupled decay rate.
    lr_multipliers: dict name -> learning-rate factor.
    decayed: dict name -> whether the parameter is decayed.
    max_norm: clip_grad_norm_'s max_norm, or None.
    clip_epsilon: added to the total norm (1e-6 in torch).

  Returns:
    A list, per step, of dicts name -> parameters after that step.
  """
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  history = []
  for t, (grads, base_lr) in enumerate(zip(grads_per_step, lr_per_step), 1):
    g = {k: np.asarray(x, np.float64) for k, x in grads.items()}
    if max_norm is not None:
      total = np.sqrt(sum(np.sum(x * x) for x in g.values()))
      coef = min(max_norm / (total + clip_epsilon), 1.0)
      g = {k: x * coef for k, x in g.items()}
    for k in g:
      lr = base_lr * lr_multipliers[k]
      if decayed[k]:
        p[k] = p[k] * (1.0 - lr * weight_decay)
      m[k] = beta_1 * m[k] + (1.0 - beta_1) * g[k]
      v[k] = beta_2 * v[k] + (1.0 - beta_2) * g[k] * g[k]
      m_hat = m[k] / (1.0 - beta_1**t)
      v_hat = v[k] / (1.0 - beta_2**t)
      p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    history.append({k: x.copy() for k, x in p.items()})
  return history


def _assert_within(actual, expected, rel, what):
  """|actual - expected| <= rel * max(1, |expected|) element-wise."""
  err = np.max(np.abs(np.asarray(actual, np.float64) - expected) /
               np.maximum(1.0, np.abs(expected)))
  assert err <= rel, f'{what}: max error {err:.3g} > {rel:.3g}'


@pytest.fixture(scope='module')
def training_run(reference_dir):
  """The reference run: initial/final weights, gradients, trajectory."""
  training = reference_dir / 'training'
  initial = restricted_pickle.load(training / 'weights_initial.pkl')['model']
  final = restricted_pickle.load(training / 'weights_final.pkl')['model']
  trajectory = json.loads((training / 'trajectory.json').read_text())
  with np.load(training / 'gradients.npz') as npz:
    grads = {key: npz[key] for key in npz.files}
  steps = trajectory['steps']
  per_step = [{key.split('/', 1)[1]: value for key, value in grads.items()
               if key.startswith(f'step{s}/')} for s in range(steps)]
  return dict(initial=initial, final=final, trajectory=trajectory,
              grads=per_step)


def test_fixture_gradient_norms_match_trajectory(training_run):
  """Reading check: the torch total norm of each step's gradients."""
  history = training_run['trajectory']['history']
  assert len(training_run['grads']) == len(history) == 8
  for step, grads in enumerate(training_run['grads']):
    expected = history[step]['grad_norm_before_clip']
    clipped, total = mf_optimization.clip_by_global_norm_torch(
        [tf.constant(g) for g in grads.values()], max_norm=0.01)
    assert abs(float(total) - expected) <= 1e-5 * expected, step
    clipped_norm = np.sqrt(sum(np.sum(np.square(c.numpy(), dtype=np.float64))
                               for c in clipped))
    assert abs(clipped_norm - 0.01 * expected / (expected + 1e-6)) <= 1e-7


@pytest.mark.parametrize('jit_compile', [None, True], ids=['eager', 'xla'])
def test_replay_reproduces_reference_weights(training_run, jit_compile):
  """Acceptance (2): reference gradients -> `weights_final.pkl`."""
  spec = training_run['trajectory']['optimizer']
  initial, final = training_run['initial'], training_run['final']
  with_grad = sorted(training_run['grads'][0])
  # One variable per torch parameter, buffers and gradient-less FrozenBN
  # parameters included: they are passed without a gradient.
  variables = {name: tf.Variable(value, name=name)
               for name, value in initial.items()}
  optimizer = mf_optimization.MaskFormerAdamW(
      learning_rate=spec['lr'],
      beta_1=spec['betas'][0],
      beta_2=spec['betas'][1],
      epsilon=spec['eps'],
      weight_decay_rate=spec['weight_decay'],
      exclude_from_weight_decay=_TORCH_NO_DECAY_REGEXES,
      backbone_lr_multiplier=spec['backbone_lr_multiplier'],
      backbone_variable_regexes=_TORCH_BACKBONE_REGEXES,
      global_clipnorm=spec['full_model_grad_clip_norm'])
  no_decay = [n for n in with_grad
              if not optimizer.applies_weight_decay(variables[n])]
  # 7 GroupNorms, 6 x 3 decoder LayerNorms + the final one (weight and bias
  # each), and the query embedding.
  assert len(no_decay) == 2 * (7 + 6 * 3 + 1) + 1
  assert 'sem_seg_head.predictor.query_embed.weight' in no_decay
  backbone = [n for n in with_grad
              if optimizer.learning_rate_multiplier(variables[n]) != 1.0]
  assert backbone == [n for n in with_grad if n.startswith('backbone.')]

  def apply(grads):
    optimizer.apply_gradients(
        [(grads.get(name), var) for name, var in variables.items()])

  if jit_compile:
    apply = tf.function(apply, jit_compile=True)
  for grads in training_run['grads']:
    assert sorted(grads) == with_grad
    apply({name: tf.constant(g) for name, g in grads.items()})

  assert int(optimizer.iterations) == training_run['trajectory']['steps']
  for name, var in variables.items():
    if name in with_grad:
      _assert_within(var.numpy(), final[name], 1e-6, name)
    else:
      np.testing.assert_array_equal(var.numpy(), initial[name], err_msg=name)
      np.testing.assert_array_equal(final[name], initial[name], err_msg=name)


def _fixture_model(arch):
  """The TF model of the training fixture's architecture."""
  config = model_cfg.MaskFormer(num_classes=arch['num_classes'])
  config.backbone.torch_resnet.base_width = arch['width']
  config.backbone.torch_resnet.depths = list(arch['depths'])
  config.pixel_decoder.type = arch['pixel_decoder']
  config.pixel_decoder.conv_dim = arch['conv_dim']
  config.pixel_decoder.mask_dim = arch['mask_dim']
  predictor = config.transformer_predictor
  predictor.hidden_dim = arch['hidden_dim']
  predictor.num_heads = arch['nheads']
  predictor.dim_feedforward = arch['dim_feedforward']
  predictor.num_decoder_layers = arch['dec_layers']
  predictor.num_queries = arch['num_queries']
  predictor.dropout_rate = arch['dropout']
  return maskformer_model.build_maskformer_model(config)


def test_replay_on_the_model_with_default_regexes(training_run):
  """The defaults select the TF model's variables as the recipe selects the
  PyTorch parameters, and the replay holds on the model's own variables."""
  trajectory = training_run['trajectory']
  model = _fixture_model(trajectory['config'])
  targets = model_mapping.maskformer_targets(model)
  optimizer = mf_optimization.MaskFormerAdamW(
      learning_rate=trajectory['optimizer']['lr'],
      global_clipnorm=trajectory['optimizer']['full_model_grad_clip_norm'])
  torch_name = {id(v): name for name, target in targets.items()
                for v in target.variables}
  trainable = model.trainable_variables
  for var in trainable:
    name = torch_name[id(var)]
    assert optimizer.learning_rate_multiplier(var) == (
        0.1 if name.startswith('backbone.') else 1.0), var.name
    assert optimizer.applies_weight_decay(var) == (not any(
        re.search(r, name) for r in _TORCH_NO_DECAY_REGEXES)), var.name

  def tf_layout(state):
    arrays = {}
    for name, target in targets.items():
      if name in state:
        arrays.update(zip(map(id, target.variables), target.to_tf(state[name])))
    return arrays

  by_id = {id(v): v for v in model.variables}
  for var_id, value in tf_layout(training_run['initial']).items():
    by_id[var_id].assign(value)
  # The layout maps (transposes, q/k/v splits) apply to gradients as well.
  for grads in training_run['grads']:
    tf_grads = tf_layout(grads)
    optimizer.apply_gradients(
        [(tf.constant(tf_grads[id(v)]), v) for v in trainable])
  # Every variable, the gradient-less FrozenBN ones included.
  final = tf_layout(training_run['final'])
  assert len(final) == len(model.variables)
  for var in model.variables:
    _assert_within(var.numpy(), final[id(var)], 1e-6, var.name)


def test_one_step_by_hand():
  """p=1, g=0.5, lr=0.1, wd=0.5, eps=0.5: p = 1*(1-0.05) - 0.1*0.5/(0.5+0.5).

  Keras' Adam (epsilon on the uncorrected sqrt(v)) would give 0.947.
  """
  var = tf.Variable([1.0], name='transformer_predictor/class_embed/kernel')
  optimizer = mf_optimization.MaskFormerAdamW(
      learning_rate=0.1, epsilon=0.5, weight_decay_rate=0.5,
      global_clipnorm=None)
  optimizer.apply_gradients([(tf.constant([0.5]), var)])
  np.testing.assert_allclose(var.numpy(), [0.9], rtol=1e-6)


def test_three_steps_match_numpy_reference():
  """Clipping, decay, multiplier and epsilon all matter at this scale."""
  rng = np.random.default_rng(0)
  shapes = {'backbone/res2/0/conv1/kernel': (3, 4),
            'transformer_predictor/class_embed/kernel': (4, 5),
            'transformer_predictor/class_embed/bias': (5,),
            'pixel_decoder/layer_1/group_norm/gamma': (4,)}
  params = {k: rng.normal(size=s).astype(np.float32)
            for k, s in shapes.items()}
  grads = [{k: (1e-6 * rng.normal(size=s)).astype(np.float32)
            for k, s in shapes.items()} for _ in range(3)]
  hyper = dict(beta_1=0.9, beta_2=0.999, eps=1e-7, weight_decay=0.5,
               max_norm=2e-6)
  lr_multipliers = {k: 0.1 if k.startswith('backbone/') else 1.0
                    for k in shapes}
  decayed = {k: not k.endswith('gamma') for k in shapes}

  variables = {k: tf.Variable(v, name=k) for k, v in params.items()}
  optimizer = mf_optimization.MaskFormerAdamW(
      learning_rate=1e-2, epsilon=hyper['eps'],
      weight_decay_rate=hyper['weight_decay'],
      global_clipnorm=hyper['max_norm'])
  expected = _torch_adamw_reference(
      params, grads, [1e-2] * 3, lr_multipliers=lr_multipliers,
      decayed=decayed, **hyper)
  for step, step_grads in enumerate(grads):
    optimizer.apply_gradients(
        [(tf.constant(step_grads[k]), variables[k]) for k in shapes])
    for k in shapes:
      _assert_within(variables[k].numpy(), expected[step][k], 1e-6,
                     f'step {step} {k}')

  # The check discriminates: tf.clip_by_global_norm's formula (no 1e-6)
  # lands far outside the tolerance.
  tf_clip = _torch_adamw_reference(
      params, grads, [1e-2] * 3, lr_multipliers=lr_multipliers,
      decayed=decayed, clip_epsilon=0.0, **hyper)
  assert max(np.max(np.abs(tf_clip[-1][k] - expected[-1][k]))
             for k in shapes) > 1e-4


def test_backbone_lr_multiplier_alone():
  """Same weights and gradients: the backbone moves 0.1 times as far."""
  init = np.zeros([3], np.float32)
  grad = tf.constant([1e-3, -2e-3, 4e-8])
  backbone = tf.Variable(init, name='backbone/res2/0/conv1/kernel')
  head = tf.Variable(init, name='pixel_decoder/layer_1/conv/kernel')
  optimizer = mf_optimization.MaskFormerAdamW(
      learning_rate=1e-3, weight_decay_rate=0.0, global_clipnorm=None)
  assert optimizer.learning_rate_multiplier(backbone) == 0.1
  assert optimizer.learning_rate_multiplier(head) == 1.0
  optimizer.apply_gradients([(grad, backbone), (grad, head)])
  # Step 1 of Adam: p - lr * g / (|g| + eps).
  g = grad.numpy().astype(np.float64)
  step = g / (np.abs(g) + 1e-8)
  np.testing.assert_allclose(init - backbone.numpy(), 1e-4 * step,
                             rtol=1e-5)
  np.testing.assert_allclose(init - head.numpy(), 1e-3 * step, rtol=1e-5)


def test_weight_decay_exclusion_alone():
  """Zero gradients: only the decay moves a variable; norms/embedding stay.

  The names are the TF model's; biases are decayed, as in the original.
  """
  names = {
      'pixel_decoder/layer_1/group_norm/gamma': False,
      'pixel_decoder/adapter_1/group_norm/beta': False,
      'pixel_decoder/transformer_encoder/layer_0/layer_norm2/gamma': False,
      'transformer_predictor/transformer_decoder/layer_5/layer_norm3/beta':
          False,
      'transformer_predictor/transformer_decoder/decoder_layer_norm/gamma':
          False,
      'transformer_predictor/query_embed': False,
      'pixel_decoder/layer_1/conv/kernel': True,
      'pixel_decoder/mask_features/bias': True,
      'transformer_predictor/class_embed/bias': True,
      'transformer_predictor/transformer_decoder/layer_0/self_attention/'
      'query/kernel': True,
  }
  init = np.array([1.5, -0.25], np.float32)
  variables = {n: tf.Variable(init, name=n) for n in names}
  optimizer = mf_optimization.MaskFormerAdamW(
      learning_rate=0.1, weight_decay_rate=0.5, backbone_lr_multiplier=1.0)
  for name, decayed in names.items():
    assert optimizer.applies_weight_decay(variables[name]) == decayed, name
  optimizer.apply_gradients(
      [(tf.zeros_like(v), v) for v in variables.values()])
  for name, decayed in names.items():
    expected = init * np.float32(1.0 - 0.1 * 0.5) if decayed else init
    np.testing.assert_allclose(variables[name].numpy(), expected, rtol=1e-7,
                               err_msg=name)


def test_regexes_see_the_mirrored_variable_name():
  """A replica's copy is selected like the variable it mirrors."""
  optimizer = mf_optimization.MaskFormerAdamW()
  for suffix in ('', '/replica_1'):
    gamma = types.SimpleNamespace(
        name=f'pixel_decoder/layer_1/group_norm/gamma{suffix}:0')
    kernel = types.SimpleNamespace(
        name=f'backbone/res2/0/conv1/kernel{suffix}:0')
    assert mf_optimization.logical_variable_name(gamma) == (
        'pixel_decoder/layer_1/group_norm/gamma:0')
    assert not optimizer.applies_weight_decay(gamma)
    assert optimizer.applies_weight_decay(kernel)
    assert optimizer.learning_rate_multiplier(kernel) == 0.1
    assert optimizer.learning_rate_multiplier(gamma) == 1.0


def test_torch_clip_formula():
  """coef = max_norm / (norm + 1e-6), capped at 1; tf would use 1/5 here."""
  clipped, total = mf_optimization.clip_by_global_norm_torch(
      [tf.constant([3e-6]), tf.constant([[4e-6]])], max_norm=1e-6)
  np.testing.assert_allclose(float(total), 5e-6, rtol=1e-6)
  np.testing.assert_allclose(clipped[0].numpy(), [3e-6 / 6], rtol=1e-6)
  np.testing.assert_allclose(clipped[1].numpy(), [[4e-6 / 6]], rtol=1e-6)
  # Below the limit the gradients pass unchanged; duplicated sparse indices
  # are summed first.
  sparse = tf.IndexedSlices(tf.constant([[1.0], [2.0]]), tf.constant([1, 1]),
                            dense_shape=tf.constant([3, 1]))
  clipped, total = mf_optimization.clip_by_global_norm_torch(
      [sparse], max_norm=10.0)
  np.testing.assert_array_equal(clipped[0].numpy(), [[0.0], [3.0], [0.0]])
  assert float(total) == 3.0


@pytest.mark.parametrize('global_clipnorm', [None, 1.0])
def test_sparse_gradient_updates_like_dense(global_clipnorm):
  """An embedding's IndexedSlices gradient gives torch's dense update."""
  init = np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0
  values = tf.constant([[1.0, -2.0, 0.5], [0.25, 0.0, -1.0],
                        [2.0, 1.0, 1.0]])
  indices = tf.constant([0, 2, 2])
  sparse = tf.IndexedSlices(values, indices, dense_shape=tf.constant([4, 3]))
  dense = tf.convert_to_tensor(sparse)
  results = []
  for grad in (sparse, dense):
    var = tf.Variable(init, name='transformer_predictor/class_embed/kernel')
    optimizer = mf_optimization.MaskFormerAdamW(
        learning_rate=0.1, weight_decay_rate=0.5,
        global_clipnorm=global_clipnorm)
    for _ in range(2):
      optimizer.apply_gradients([(grad, var)])
    results.append(var.numpy())
  np.testing.assert_array_equal(results[0], results[1])
  # Rows without a gradient still decay (torch's dense semantics).
  assert np.all(results[0][1] < init[1]) and np.all(results[0][3] < init[3])


def _detectron2_multistep_lr(step, base, milestones, gamma):
  return base * gamma**sum(step >= m for m in milestones)


def _maskformer_poly_lr(step, base, max_iters, power):
  return base * (1.0 - step / max_iters)**power


@pytest.mark.parametrize(
    'lr_config, torch_lr',
    [
        # detectron2's WarmupMultiStepLR switches AT the milestone (3 here;
        # 369,600 for COCO); Model Garden's boundary is inclusive, so it is
        # milestone - 1.
        ({'type': 'stepwise',
          'stepwise': {'boundaries': [2], 'values': [0.1, 0.01]}},
         lambda k: _detectron2_multistep_lr(k, 0.1, [3], 0.1)),
        # MaskFormer's WarmupPolyLR: base * (1 - it / max_iters)^0.9.
        ({'type': 'polynomial',
          'polynomial': {'initial_learning_rate': 0.1, 'decay_steps': 5,
                         'power': 0.9, 'end_learning_rate': 0.0}},
         lambda k: _maskformer_poly_lr(k, 0.1, 5, 0.9)),
    ],
    ids=['stepwise', 'polynomial'])
def test_factory_schedule_drives_learning_rate(lr_config, torch_lr):
  """Built through OptimizerFactory; the step-k update uses lr(k)."""
  config = optimization_cfg.OptimizationConfig({
      'optimizer': {
          'type': 'maskformer_adamw',
          'maskformer_adamw': {
              'weight_decay_rate': 1.0,
              'exclude_from_weight_decay': [],
          },
      },
      'learning_rate': lr_config,
  })
  factory = optimizer_factory.OptimizerFactory(config)
  optimizer = factory.build_optimizer(factory.build_learning_rate())
  assert isinstance(optimizer, mf_optimization.MaskFormerAdamW)
  assert optimizer.global_clipnorm == 0.01

  # With zero gradients each step multiplies the weight by 1 - lr(k) * wd.
  var = tf.Variable([1.0], name='transformer_predictor/class_embed/kernel')

  @tf.function
  def step_fn():
    optimizer.apply_gradients([(tf.zeros([1]), var)])

  expected = 1.0
  for k in range(5):
    step_fn()
    expected *= 1.0 - torch_lr(k)
    np.testing.assert_allclose(var.numpy(), [expected], rtol=1e-6,
                               err_msg=f'step {k}')


def test_config_defaults_are_the_r50_recipe():
  config = optimization_cfg.OptimizationConfig({
      'optimizer': {'type': 'maskformer_adamw'},
      'learning_rate': {'type': 'constant',
                        'constant': {'learning_rate': 1e-4}},
  })
  factory = optimizer_factory.OptimizerFactory(config)
  optimizer = factory.build_optimizer(factory.build_learning_rate())
  assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
      0.9, 0.999, 1e-8)
  assert optimizer.weight_decay_rate == 1e-4
  assert optimizer.backbone_lr_multiplier == 0.1
  assert optimizer.global_clipnorm == 0.01
  assert optimizer.backbone_variable_regexes == list(
      optimization_cfg.DEFAULT_BACKBONE_VARIABLE_REGEXES)
  assert optimizer.exclude_from_weight_decay == list(
      optimization_cfg.DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY)
  rebuilt = mf_optimization.MaskFormerAdamW.from_config(optimizer.get_config())
  assert rebuilt.get_config() == optimizer.get_config()


@pytest.mark.parametrize('kwargs', [
    {'beta_1': 1.0}, {'beta_2': -0.1}, {'epsilon': -1.0},
    {'weight_decay_rate': -1e-4}, {'backbone_lr_multiplier': -0.1},
    {'global_clipnorm': 0.0},
])
def test_rejects_bad_hyperparameters(kwargs):
  with pytest.raises(ValueError):
    mf_optimization.MaskFormerAdamW(**kwargs)


def test_updates_run_one_variable_after_the_other():
  """In a graph each variable's update waits for the previous variable's.

  Without the chain TF's executor interleaves the independent updates and
  holds their temporaries at once (docs/memory.md); the values are the same.
  """
  variables = [tf.Variable(tf.fill([4], float(i + 1))) for i in range(3)]
  optimizer = mf_optimization.MaskFormerAdamW(learning_rate=0.1,
                                              global_clipnorm=1.0)

  @tf.function
  def step():
    optimizer.apply_gradients(
        [(tf.ones([4]) * (i + 1), v) for i, v in enumerate(variables)])

  graph = step.get_concrete_function().graph
  # The function reads each variable through a placeholder of its handle.
  handle_index = {internal.ref(): i for i, v in enumerate(variables)
                  for external, internal in graph.captures
                  if external is v.handle}
  assigns = [op for op in graph.get_operations()
             if op.type == 'AssignVariableOp' and
             op.inputs[0].ref() in handle_index]

  def ancestors(op):
    seen, stack = set(), [op]
    while stack:
      node = stack.pop()
      for parent in list(node.control_inputs) + [t.op for t in node.inputs]:
        if parent not in seen:
          seen.add(parent)
          stack.append(parent)
    return seen

  by_variable = {handle_index[op.inputs[0].ref()]: op for op in assigns}
  assert sorted(by_variable) == [0, 1, 2]
  for later in (1, 2):
    assert by_variable[later - 1] in ancestors(by_variable[later])
  step()
  eager = mf_optimization.MaskFormerAdamW(learning_rate=0.1,
                                          global_clipnorm=1.0)
  copies = [tf.Variable(tf.fill([4], float(i + 1))) for i in range(3)]
  eager.apply_gradients(
      [(tf.ones([4]) * (i + 1), v) for i, v in enumerate(copies)])
  for v, c in zip(variables, copies):
    np.testing.assert_array_equal(v.numpy(), c.numpy())
