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

"""The MaskFormer tf.data pipeline on Model Garden's InputReader.

Model Garden's `InputReader` provides the performance features: parallel
interleave over the TFRecord shards (`cycle_length`, `block_length`), shuffling
(`shuffle_buffer_size`, `seed`), parallel decode and parse maps, batching to the
per-replica batch size, per-replica sharding of files (or of TFDS data) through
the `tf.distribute.InputContext`, `deterministic` and prefetching. This module
adds the decoder and parser chosen by the `DataConfig`, and a per-example
augmentation seed: training examples are zipped with `tf.data.Dataset.random`,
so with `seed` set and `deterministic=True` every batch is reproducible. Each
example's ops run on one thread (`max_intra_op_parallelism=1`): the parallel
maps spread the examples over the cores.
"""
from typing import Optional

from official.common import dataset_fn
from official.vision.dataloaders import decoder as decoder_lib
from official.vision.dataloaders import input_reader_factory
import tensorflow as tf
import tensorflow_datasets as tfds

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.dataloaders import canvases
from projects.maskformer.dataloaders import decoders
from projects.maskformer.dataloaders import segmentation_parser

TFDS_COCO_PANOPTIC = 'coco/2017_panoptic'
TFDS_SCENE_PARSE150 = 'scene_parse150'
# Spreads the augmentation seeds of the input pipelines of different hosts.
_PIPELINE_SEED_STRIDE = 1_000_003


def build_decoder(params: data_cfg.DataConfig) -> decoder_lib.Decoder:
  """The decoder for `params.tfds_name` or the TFRecords of `input_path`.

  Args:
    params: the data config.

  Returns:
    A Model Garden `Decoder`.

  Raises:
    ValueError: on an unsupported TFDS dataset or label type, or a TFDS
      dataset whose labels do not match `decoder.label_type`.
  """
  label_type = params.decoder.label_type
  if params.tfds_name:
    name = params.tfds_name.split(':')[0]
    expected = {TFDS_COCO_PANOPTIC: data_cfg.PANOPTIC,
                TFDS_SCENE_PARSE150: data_cfg.SEMANTIC}
    if name not in expected:
      raise ValueError(f'tfds_name {params.tfds_name!r} is not supported; use '
                       f'one of {sorted(expected)}')
    if label_type != expected[name]:
      raise ValueError(f'tfds_name {name!r} has {expected[name]} labels but '
                       f'decoder.label_type is {label_type!r}')
    if name == TFDS_COCO_PANOPTIC:
      return decoders.CocoPanopticTfdsDecoder()
    return decoders.SceneParse150TfdsDecoder(params.decoder.num_classes)
  if label_type == data_cfg.PANOPTIC:
    return decoders.PanopticTfExampleDecoder()
  if label_type == data_cfg.SEMANTIC:
    return decoders.SemanticTfExampleDecoder(params.decoder.num_classes)
  raise ValueError(f"decoder.label_type must be 'panoptic' or 'semantic', "
                   f'got {label_type!r}')


def build_parser(params: data_cfg.DataConfig) -> segmentation_parser.Parser:
  """The parser configured by `params.parser`."""
  p = params.parser
  return segmentation_parser.Parser(
      output_size=p.output_size,
      label_type=params.decoder.label_type,
      max_segments=p.max_segments,
      segment_overflow=p.segment_overflow,
      augmentation_params=p.augmentation,
      eval_short_edge=p.eval_short_edge,
      eval_max_size=p.eval_max_size,
      eval_padding=p.eval_padding,
      size_divisibility=p.size_divisibility,
      groundtruth_padded_size=p.groundtruth_padded_size,
      label_resize=p.label_resize,
      dtype=p.dtype)


def _seed_attacher(seed: Optional[int],
                   input_context: Optional[tf.distribute.InputContext]):
  """A `sample_fn` giving every decoded example its own augmentation seed."""
  if seed is not None and input_context is not None:
    seed += _PIPELINE_SEED_STRIDE * input_context.input_pipeline_id

  def attach(dataset: tf.data.Dataset) -> tf.data.Dataset:
    seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
    return tf.data.Dataset.zip((dataset, seeds)).map(
        lambda example, s: {
            **example, segmentation_parser.AUGMENTATION_SEED: s},
        num_parallel_calls=tf.data.AUTOTUNE)

  return attach


def _check_tfds_prepared(params: data_cfg.DataConfig) -> None:
  builder = tfds.builder(params.tfds_name,
                         data_dir=params.tfds_data_dir or None)
  if not builder.is_prepared():
    raise ValueError(
        f'TFDS dataset {params.tfds_name!r} is not prepared in '
        f'{builder.data_dir}; prepare it first (e.g. `tfds build '
        f'{params.tfds_name}` with the data downloaded); this pipeline does '
        'not download.')


def _check_dynamic_shapes_batch_one(
    params: data_cfg.DataConfig,
    input_context: Optional[tf.distribute.InputContext]) -> None:
  """Images of per-image shapes can only be batched one at a time."""
  if (params.is_training or params.parser.eval_padding ==
      data_cfg.EVAL_PADDING_CANVAS):
    return
  per_replica = (input_context.get_per_replica_batch_size(
      params.global_batch_size) if input_context else params.global_batch_size)
  if per_replica != 1:
    raise ValueError(
        f"parser.eval_padding={params.parser.eval_padding!r} gives every "
        'image its own shape: the per-replica batch size must be 1, got '
        f'{per_replica} (global_batch_size {params.global_batch_size})')


def check_padding_exact(params: data_cfg.DataConfig) -> None:
  """`parser.padding_exact` needs a canvas that holds the rounded regions.

  Raises:
    ValueError: `padding_exact` with a canvas that is not a multiple of
      `size_divisibility` (a rounded-up region could then leave the canvas).
  """
  if params.parser.eval_padding == data_cfg.EVAL_PADDING_CANVAS:
    check_padding_exact_canvas(params.parser)


def check_padding_exact_canvas(parser: data_cfg.Parser) -> None:
  """The canvases hold every padding-exact rounded region.

  Raises:
    ValueError: `padding_exact` with a canvas (`output_size`, or one of
      `canvases`) that is not a multiple of `size_divisibility`.
  """
  divisor = parser.size_divisibility
  if not (parser.padding_exact and divisor):
    return
  for size in [list(parser.output_size)] + [
      list(size) for size in canvases.sizes(parser)]:
    if any(s % divisor for s in size):
      raise ValueError(
          f'parser.padding_exact rounds each image up to a multiple of '
          f'size_divisibility={divisor}; the canvas {size} must be a '
          f'multiple of it too')


def _canvas_batches(params: data_cfg.DataConfig, canvas_index: int):
  """`(filter_fn, transform_and_batch_fn)` of canvas `canvas_index`'s data.

  The filter keeps the parsed examples assigned to the canvas; the
  transform cuts them to it and batches them as the reader would.
  """
  canvas_sizes = canvases.sizes(params.parser)
  canvas = canvas_sizes[canvas_index]

  def keeps(image, labels):
    del image
    return canvases.keeps(labels, canvas_sizes, canvas_index)

  def transform_and_batch(dataset, input_context):
    batch_size = (input_context.get_per_replica_batch_size(
        params.global_batch_size) if input_context
                  else params.global_batch_size)
    dataset = dataset.map(
        lambda image, labels: canvases.crop(image, labels, canvas),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size, drop_remainder=params.drop_remainder)

  return keeps, transform_and_batch


def build_input(params: data_cfg.DataConfig,
                input_context: Optional[tf.distribute.InputContext] = None,
                canvas_index: Optional[int] = None) -> tf.data.Dataset:
  """The batched dataset of `(image, labels)` (see `maskformer_input`).

  Args:
    params: the data config (`input_path` or `tfds_name`).
    input_context: the replica's input context, for per-host sharding and the
      per-replica batch size.
    canvas_index: with `parser.canvases` (training data), the canvas whose
      images this dataset yields (`canvases`); None otherwise.

  Returns:
    A `tf.data.Dataset` of per-replica batches, with static shapes unless
    evaluation data uses 'size_divisibility' padding (then batches of one).

  Raises:
    ValueError: on an invalid config, a TFDS dataset that is not prepared,
      or a `canvas_index` that does not match `parser.canvases`.
  """
  if params.tfds_name:
    _check_tfds_prepared(params)
  _check_dynamic_shapes_batch_one(params, input_context)
  check_padding_exact(params)
  canvases.check(params.parser)
  num_canvases = len(params.parser.canvases)
  if num_canvases and not params.is_training:
    raise ValueError('parser.canvases is for training data; evaluation data '
                     'uses output_size')
  if num_canvases and (params.seed is None or params.deterministic is False):
    raise ValueError(
        'train_data.parser.canvases needs train_data.seed set and '
        'train_data.deterministic not false: the pipelines of the canvases '
        'must read and augment every image alike to agree on its canvas')
  if num_canvases and canvas_index is None:
    raise ValueError(
        f'train_data.parser.canvases holds {num_canvases} canvases: each has '
        f'its own input pipeline (canvas_index), which the trainer of '
        f'projects/maskformer/train.py (canvas_trainer) builds and schedules')
  if canvas_index is not None and not 0 <= canvas_index < num_canvases:
    raise ValueError(f'canvas_index {canvas_index} is not one of the '
                     f'{num_canvases} parser.canvases')
  filter_fn, transform_and_batch_fn = (
      _canvas_batches(params, canvas_index) if num_canvases else (None, None))
  decoder = build_decoder(params)
  parser = build_parser(params)
  reader = input_reader_factory.input_reader_generator(
      params,
      dataset_fn=dataset_fn.pick_dataset_fn(params.file_type),
      decoder_fn=decoder.decode,
      sample_fn=(_seed_attacher(params.seed, input_context)
                 if params.is_training else None),
      parser_fn=parser.parse_fn(params.is_training),
      filter_fn=filter_fn,
      transform_and_batch_fn=transform_and_batch_fn)
  dataset = reader.read(input_context=input_context)
  # The parallel maps keep the cores busy with whole examples; splitting one
  # example's ops over threads only adds synchronization (about 5% more CPU
  # time per image on 2 cores).
  options = tf.data.Options()
  options.threading.max_intra_op_parallelism = 1
  return dataset.with_options(options)
