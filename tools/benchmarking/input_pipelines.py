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

"""The input pipeline benchmark's datasets (tools/benchmark_input.py).

A panoptic dataset made of the COCO sample's images repeated, the baseline
and partial pipelines over its TFRecords, and the rate of one pipeline.
"""
import json
import os
import time

import tensorflow as tf

from projects.maskformer.dataloaders import augmentation
from projects.maskformer.dataloaders import input_pipeline


def replicated_dataset(sample_dir: str, num_images: int, out_dir: str) -> str:
  """Writes a panoptic JSON listing the sample's images `num_images` times."""
  with open(os.path.join(sample_dir, 'panoptic.json'), 'rb') as f:
    source = json.load(f)
  images, annotations = [], []
  by_id = {a['image_id']: a for a in source['annotations']}
  for i in range(num_images):
    image = dict(source['images'][i % len(source['images'])])
    annotation = dict(by_id[image['id']])
    image['id'] = annotation['image_id'] = i + 1
    images.append(image)
    annotations.append(annotation)
  path = os.path.join(out_dir, 'panoptic_benchmark.json')
  with open(path, 'w') as f:
    json.dump({'images': images, 'annotations': annotations,
               'categories': source['categories']}, f)
  return path


def _jpeg_bytes(files):
  images = []
  for record in tf.data.TFRecordDataset(files):
    example = tf.train.Example.FromString(record.numpy())
    images.append(example.features.feature['image/encoded'].bytes_list.value[0])
  return images


def _batched(dataset: tf.data.Dataset, fn, batch_size: int) -> tf.data.Dataset:
  return (dataset.repeat().map(fn, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch_size).prefetch(tf.data.AUTOTUNE))


def _bare_decode(encoded):
  image = tf.io.decode_jpeg(encoded, channels=3, dct_method='INTEGER_ACCURATE')
  return tf.shape(image)


def stage_datasets(files, params, batch_size: int):
  """The baseline and the two partial pipelines, keyed by table row."""
  decoder = input_pipeline.build_decoder(params)
  recipe = params.parser.augmentation

  def decode(record):
    decoded = decoder.decode(record)
    return (tf.cast(decoded['image'][-1, -1, -1], tf.int32) +
            decoded['segment_map'][-1, -1])

  def decode_and_augment(record, seed):
    decoded = decoder.decode(record)
    sample = augmentation.new_sample(decoded['image'], decoded['segment_map'])
    if recipe.type == 'detr_panoptic':
      sample = augmentation.detr_panoptic(sample, recipe.detr_panoptic, seed,
                                          params.parser.label_resize)
    else:
      sample = augmentation.large_scale_jitter(
          sample, recipe.large_scale_jitter, params.parser.output_size, seed,
          params.parser.label_resize)
    return (sample.image[-1, -1, -1] +
            tf.cast(sample.segment_map[-1, -1], tf.float32))

  records = tf.data.TFRecordDataset(files)
  seeds = tf.data.Dataset.random(seed=0).batch(2)
  return {
      'bare JPEG decode': _batched(
          tf.data.Dataset.from_tensor_slices(_jpeg_bytes(files)),
          _bare_decode, batch_size),
      'record decode (JPEG + segment PNG)': _batched(records, decode,
                                                     batch_size),
      'decode + augment (no canvas)': _batched(
          tf.data.Dataset.zip((records.repeat(), seeds)), decode_and_augment,
          batch_size),
  }


def rate(dataset: tf.data.Dataset, batch_size: int, num_images: int,
         warmup_batches: int):
  """Images/s and CPU ms/image over `num_images` images of a fresh iterator.

  The iterator is warmed up by `warmup_batches` batches (its buffers filled,
  AUTOTUNE settled) and
  deleted after the timing, so that no other pipeline refills its buffers in
  the background meanwhile. The CPU time is this process's (all threads):
  unlike the rate, it hardly depends on other processes sharing the cores.
  """
  iterator = iter(dataset)
  for _ in range(warmup_batches):
    next(iterator)
  batches = max(1, num_images // batch_size)
  start, cpu_start = time.perf_counter(), time.process_time()
  for _ in range(batches):
    next(iterator)
  images = batches * batch_size
  rate = images / (time.perf_counter() - start)
  cpu_ms = 1000.0 * (time.process_time() - cpu_start) / images
  del iterator
  return rate, cpu_ms
