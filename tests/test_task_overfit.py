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

"""A small MaskFormer overfits the two real COCO sample images.

The sample is converted with the project's COCO panoptic converter and read
by the real input pipeline (evaluation resize, no random augmentation) onto a
96 x 160 canvas; all 133 COCO panoptic classes, 32 queries for the up to 32
segments of an image.
"""
import numpy as np
import pytest
import synthetic_data
import tensorflow as tf
import tf_keras

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.configs import maskformer as exp_cfg
from projects.maskformer.conversion import tfrecords
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.ops import precision
from projects.maskformer.tasks import maskformer_segmentation

NUM_STEPS = 48
NUM_SEGMENTS = 32  # Image 439180 has 32 segments (2 crowd).


@pytest.fixture(scope='module')
def sample_records(coco_sample_dir, tmp_path_factory):
  prefix = tmp_path_factory.mktemp('coco_sample') / 'sample'
  tfrecords.convert_coco_panoptic(
      annotation_file=str(coco_sample_dir / 'panoptic.json'),
      image_dir=str(coco_sample_dir / 'images'),
      panoptic_dir=str(coco_sample_dir / 'panoptic'),
      output_prefix=str(prefix), num_shards=1, progress=False)
  return f'{prefix}-*'


def _experiment(input_path: str):
  params = exp_cfg.maskformer_synthetic_cpu()
  model = dict(synthetic_data.TINY_MODEL, num_classes=133,
               input_size=[96, 160, 3])
  model['transformer_predictor'] = dict(model['transformer_predictor'],
                                        num_queries=NUM_SEGMENTS)
  params.override({
      'task': {
          'model': model,
          'train_data': {
              'input_path': input_path, 'global_batch_size': 2,
              'shuffle_buffer_size': 1, 'seed': 1, 'deterministic': True,
              'decoder': {'num_classes': 133},
              'parser': {'output_size': [96, 160],
                         'max_segments': NUM_SEGMENTS,
                         'eval_short_edge': 96, 'eval_max_size': 160,
                         'augmentation': {'type': 'none'}},
          },
      },
      'trainer': {'optimizer_config': {'learning_rate': {
          'type': 'constant', 'constant': {'learning_rate': 1e-3}}}},
  }, is_strict=True)
  assert params.task.train_data.parser.augmentation.type == 'none'
  assert params.task.train_data.decoder.label_type == data_cfg.PANOPTIC
  return params


@pytest.fixture(scope='module')
def overfit(sample_records):
  """The tiny model trained NUM_STEPS steps on the sample: (task, model,
  batch, losses)."""
  params = _experiment(sample_records)
  task = maskformer_segmentation.MaskFormerSegmentationTask(params.task)
  tf_keras.utils.set_random_seed(1)  # A reproducible initialization.
  model = task.build_model()
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  optimizer._create_all_weights(model.trainable_variables)  # pylint: disable=protected-access
  metrics = task.build_metrics(training=True)
  batch = next(iter(task.build_inputs(params.task.train_data)))
  step = tf.function(task.train_step)
  losses = [float(step(batch, model=model, optimizer=optimizer,
                       metrics=metrics)['total_loss'])
            for _ in range(NUM_STEPS)]
  return task, model, batch, losses


def test_loss_falls_steadily_on_the_real_sample(overfit):
  _, _, batch, losses = overfit
  images, labels = batch
  assert images.shape == (2, 96, 160, 3)
  # Both images, with their non-crowd segments as targets.
  assert sorted(labels['image_id'].numpy().tolist()) == [142238, 439180]
  targets = np.sum(labels['segment_valid'].numpy() &
                   ~labels['segment_is_crowd'].numpy(), axis=1)
  assert sorted(targets.tolist()) == [17, 30]
  print('overfit losses:', ' '.join(f'{loss:.3f}' for loss in losses))
  first, last = np.mean(losses[:5]), np.mean(losses[-5:])
  print(f'first-5 mean {first:.3f}, last-5 mean {last:.3f}, '
        f'ratio {last / first:.3f}')
  assert all(np.isfinite(losses))
  assert last < 0.5 * first
  # A steady fall: every block of 8 steps ends lower on average.
  blocks = np.mean(np.reshape(losses, [-1, 8]), axis=1)
  assert np.all(np.diff(blocks) < 0), blocks


def _relative_errors(ours, reference):
  """(||ours - ref|| / ||ref||, max |ours - ref| / max |ref|)."""
  ours = np.asarray(tf.cast(ours, tf.float64))
  reference = np.asarray(tf.cast(reference, tf.float64))
  return (np.linalg.norm(ours - reference) / np.linalg.norm(reference),
          np.abs(ours - reference).max() / np.abs(reference).max())


def test_bfloat16_outputs_of_the_trained_model_within_2e_2(overfit):
  """mixed_bfloat16 with the trained weights against float32.

  bfloat16 is judged on a trained model: with the reference fixtures' random
  weights the activations reach ~2,000 and the GroupNorms amplify bfloat16's
  1-3% per-part rounding into 6-11% on the masks (docs/numerics.md), which
  says nothing about a model that has learnt anything.

  The asserted error is the relative L2 error of each output tensor.
  Measured 2026-12-03 (AMD EPYC, oneDNN with AVX512_BF16): logits 2.5e-3,
  masks 3.8e-3 of the final layer, the worst of all layers 4.0e-3: 5x below
  2e-2. The elementwise maximum over the tensor's peak is printed too; it
  measured 3.6e-3 (logits) and 9.1e-3 (masks), 2x below 2e-2, and the same
  model trained 4x longer gave the same figures (0.7-1.0%).
  """
  task, model, batch, _ = overfit
  with precision.keras_policy('mixed_bfloat16'):
    bfloat16_model = task.build_model()
  assert bfloat16_model.backbone.compute_dtype == 'bfloat16'
  assert all(v.dtype == tf.float32 for v in bfloat16_model.variables)
  bfloat16_model.set_weights(model.get_weights())
  images, _ = maskformer_input.prepare_model_inputs(
      *batch, task.task_config.train_data)
  reference = model(images, training=False)
  ours = bfloat16_model(images, training=False)
  assert ours['backbone_features']['5'].dtype == tf.bfloat16
  assert ours['pred_logits'].dtype == ours['pred_masks'].dtype == tf.float32
  layers = [('', ours, reference)] + [
      (f'aux{j}_', aux, aux_reference) for j, (aux, aux_reference) in
      enumerate(zip(ours['aux_outputs'], reference['aux_outputs']))]
  errors = {prefix + key: _relative_errors(outputs[key], expected[key])
            for prefix, outputs, expected in layers
            for key in ('pred_logits', 'pred_masks')}
  print('bfloat16 relative errors (L2, max):',
        {k: (round(float(l2), 5), round(float(peak), 5))
         for k, (l2, peak) in errors.items()})
  assert len(errors) == 4
  assert max(l2 for l2, _ in errors.values()) <= 2e-2, errors
