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

"""COCO panoptic and ADE20K-150 to sharded TFRecords, written atomically.

Images are processed in a fixed order (COCO: by image id; ADE20K: by file
name) and the i-th image written goes to shard i mod num_shards, so the output
does not depend on the number of workers; with fewer images than shards,
there are as many shards as images (no shard is empty). Shards and the
category map are written under hidden temporary names (`.<name>.incomplete`)
and renamed only once everything succeeded, replacing the shards of an
earlier conversion into the same prefix, whatever its shard count; on any
error (including an input without images, or every image skipped) the
temporary files are removed and nothing is left under, or removed from, the
final names.
"""
import contextlib
import functools
import os
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence

from absl import logging
import tensorflow as tf

from projects.maskformer.conversion import ade20k
from projects.maskformer.conversion import coco_panoptic
from projects.maskformer.conversion import loading
from projects.maskformer.dataloaders import example_schema


def shard_paths(output_prefix: str, num_shards: int) -> List[str]:
  """`<prefix>-00000-of-0000N.tfrecord`, ... for every shard."""
  return [f'{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord'
          for i in range(num_shards)]


def category_map_path(output_prefix: str) -> str:
  """`<dir>/categories_<name>.json`; no shard pattern `<prefix>*` matches it."""
  directory, name = os.path.split(output_prefix)
  return os.path.join(directory, f'categories_{name}.json')


def _temporary_path(path: str) -> str:
  directory, name = os.path.split(path)
  return os.path.join(directory, f'.{name}.incomplete')


def _stale_shards(output_prefix: str, num_shards: int) -> List[str]:
  """Shards under `output_prefix` of a conversion into another shard count."""
  keep = set(shard_paths(output_prefix, num_shards))
  found = tf.io.gfile.glob(f'{output_prefix}-[0-9][0-9][0-9][0-9][0-9]-of-'
                           '[0-9][0-9][0-9][0-9][0-9].tfrecord')
  return sorted(path for path in found if path not in keep)


class AtomicShardedWriter:
  """Writes examples to shards under temporary names; renames them on success.

  Use as a context manager. Examples go round-robin to the shards in the
  order they are written. Leaving the block without an exception renames
  every non-empty shard and extra file to its final name: with fewer
  examples than shards only as many shards as examples are kept (named
  `-of-<that many>`), so no shard is empty; shards of an earlier conversion
  into another shard count under the same prefix are removed just before
  (their names are listed in `removed`), so that the prefix's shard pattern
  reads exactly this dataset. Leaving the block with an exception, or
  without any example written, deletes the temporary files and leaves the
  final names untouched.
  """

  def __init__(self, output_prefix: str, num_shards: int,
               extra_files: Optional[dict] = None):
    """Opens the temporary shards.

    Args:
      output_prefix: path prefix of the shards.
      num_shards: the largest number of shards.
      extra_files: final path -> text of files (e.g. the category map) to write
        together with the shards.

    Raises:
      ValueError: if `num_shards` < 1.
    """
    if num_shards < 1:
      raise ValueError(f'num_shards must be at least 1, got {num_shards}')
    self._prefix = output_prefix
    self._temporary = [_temporary_path(p)
                       for p in shard_paths(output_prefix, num_shards)]
    self._extra_files = dict(extra_files or {})
    self._writers = []
    self._count = 0
    self.shard_sizes = [0] * num_shards
    self.paths: List[str] = []
    self.removed: List[str] = []

  def __enter__(self) -> 'AtomicShardedWriter':
    directory = os.path.dirname(self._prefix)
    if directory:
      tf.io.gfile.makedirs(directory)
    try:
      for path in self._temporary:
        self._writers.append(tf.io.TFRecordWriter(path))
    except BaseException:
      self._discard()
      raise
    return self

  def write(self, example: tf.train.Example) -> None:
    """Writes the next example, the n-th to shard `n % num_shards`."""
    shard = self._count % len(self._temporary)
    self._writers[shard].write(example.SerializeToString())
    self.shard_sizes[shard] += 1
    self._count += 1

  def _close_writers(self) -> None:
    for writer in self._writers:
      writer.close()
    self._writers = []

  def _discard(self) -> None:
    self._close_writers()
    for temporary in self._temporary + [
        _temporary_path(p) for p in self._extra_files]:
      if tf.io.gfile.exists(temporary):
        tf.io.gfile.remove(temporary)

  def __exit__(self, exc_type, exc_value, traceback) -> None:
    if exc_type is not None or not self._count:
      self._discard()
      return
    try:
      self._close_writers()
      for path, text in self._extra_files.items():
        with tf.io.gfile.GFile(_temporary_path(path), 'w') as f:
          f.write(text)
      num_shards = min(self._count, len(self._temporary))
      for temporary in self._temporary[num_shards:]:
        tf.io.gfile.remove(temporary)
      self._temporary = self._temporary[:num_shards]
      self.shard_sizes = self.shard_sizes[:num_shards]
      self.paths = shard_paths(self._prefix, num_shards)
      self.removed = _stale_shards(self._prefix, num_shards)
      for path in self.removed:
        tf.io.gfile.remove(path)
      for temporary, path in zip(self._temporary, self.paths):
        tf.io.gfile.rename(temporary, path, overwrite=True)
      for path in self._extra_files:
        tf.io.gfile.rename(_temporary_path(path), path, overwrite=True)
    except BaseException:
      self._discard()
      raise


def _convert(tasks: Sequence[object], load_fn: Callable[[object], object],
             to_example: Callable[[object], tf.train.Example],
             count_segments: Callable[[object], tuple], source: str,
             output_prefix: str, num_shards: int, num_workers: int,
             skip_invalid: bool, extra_files: dict,
             progress: bool) -> loading.ConversionSummary:
  """Loads every task in parallel and writes the examples atomically."""
  if not tasks:
    raise loading.ConversionError('empty_input', source,
                                     'there are no images to convert')
  summary = loading.ConversionSummary()
  with AtomicShardedWriter(output_prefix, num_shards, extra_files) as writer:
    results = loading.load_in_parallel(load_fn, tasks, num_workers,
                                          skip_invalid, progress)
    with contextlib.closing(results):
      for _, result in results:
        if isinstance(result, loading.Skipped):
          logging.warning('Skipped: %s', result.message)
          summary.add_skip(result)
          continue
        writer.write(to_example(result))
        segments, crowd, empty = count_segments(result)
        summary.images += 1
        summary.segments += segments
        summary.crowd_segments += crowd
        summary.empty_segments += empty
        summary.max_segments_per_image = max(summary.max_segments_per_image,
                                             segments)
    if not summary.images:
      raise loading.ConversionError(
          'empty_output', source,
          f'all {len(tasks)} images were skipped as invalid; nothing to write')
  summary.shard_sizes = list(writer.shard_sizes)
  summary.shard_files = list(writer.paths)
  summary.removed_files = list(writer.removed)
  return summary


def _panoptic_example(
    record: coco_panoptic.PanopticRecord) -> tf.train.Example:
  return example_schema.panoptic_example(
      image_bytes=record.image_bytes, image_format=record.image_format,
      height=record.height, width=record.width, file_name=record.file_name,
      image_id=record.image_id,
      segment_index_png=record.segment_index_png,
      segment_ids=record.segment_ids, segment_classes=record.segment_classes,
      segment_category_ids=record.segment_category_ids,
      segment_is_crowd=record.segment_is_crowd,
      segment_areas=record.segment_areas)


def _panoptic_counts(record: coco_panoptic.PanopticRecord) -> tuple:
  return (len(record.segment_ids), sum(record.segment_is_crowd),
          sum(1 for a in record.segment_areas if a == 0))


def convert_coco_panoptic(
    annotation_file: str, image_dir: str, panoptic_dir: str,
    output_prefix: str, num_shards: int, num_workers: int = 0,
    categories_file: Optional[str] = None, skip_invalid: bool = False,
    progress: bool = True) -> loading.ConversionSummary:
  """Converts a COCO panoptic split to sharded TFRecords.

  Args:
    annotation_file: the split's `panoptic_*.json`.
    image_dir: folder of its images.
    panoptic_dir: folder of its panoptic PNGs.
    output_prefix: path prefix of the shards; the category map is written to
      `category_map_path(output_prefix)`.
    num_shards: the number of shards; fewer (one per image) with fewer
      images.
    num_workers: worker processes reading and checking the inputs (0: none).
    categories_file: optional category list replacing the file's own.
    skip_invalid: skip (and count) bad images instead of failing.
    progress: whether to show a progress bar.

  Returns:
    The summary of what was written and skipped.

  Raises:
    ConversionError: on bad input (naming the file), unless `skip_invalid`
      applies, and when no image is left to write; nothing is left under the
      final names then.
  """
  tasks, categories = coco_panoptic.read_tasks(
      annotation_file, image_dir, panoptic_dir, categories_file)
  load_fn = functools.partial(
      coco_panoptic.load_record,
      categories={c.category_id: c.contiguous_id for c in categories})
  extra = {category_map_path(output_prefix):
           coco_panoptic.category_map_json(categories)}
  return _convert(tasks, load_fn, _panoptic_example, _panoptic_counts,
                  annotation_file, output_prefix, num_shards, num_workers,
                  skip_invalid, extra, progress)


def _semantic_example(
    record: ade20k.SemanticRecord) -> tf.train.Example:
  return example_schema.semantic_example(
      image_bytes=record.image_bytes, image_format=record.image_format,
      height=record.height, width=record.width, file_name=record.file_name,
      image_id=record.image_id, label_png=record.label_png)


def _semantic_counts(record: ade20k.SemanticRecord) -> tuple:
  return len(record.classes_present), 0, 0


def convert_ade20k(image_dir: str, label_dir: str, output_prefix: str,
                   num_shards: int, num_workers: int = 0,
                   num_classes: int = 150, skip_invalid: bool = False,
                   progress: bool = True) -> loading.ConversionSummary:
  """Converts an ADE20K-150 split (images + label PNGs) to sharded TFRecords.

  Args:
    image_dir: folder of the images (e.g. ADEChallengeData2016/images/training).
    label_dir: folder of the label PNGs (.../annotations/training).
    output_prefix: path prefix of the shards; the category map is written to
      `category_map_path(output_prefix)`.
    num_shards: the number of shards; fewer (one per image) with fewer
      images.
    num_workers: worker processes reading and checking the inputs (0: none).
    num_classes: number of classes (label values 1..num_classes).
    skip_invalid: skip (and count) bad images instead of failing.
    progress: whether to show a progress bar.

  Returns:
    The summary; `segments` counts the classes present per image.

  Raises:
    ConversionError: on bad input (naming the file), unless `skip_invalid`
      applies, and when no image is left to write; nothing is left under the
      final names then.
  """
  tasks = ade20k.read_tasks(image_dir, label_dir)
  load_fn = functools.partial(ade20k.load_record,
                              num_classes=num_classes)
  extra = {category_map_path(output_prefix):
           ade20k.category_map_json(num_classes)}
  return _convert(tasks, load_fn, _semantic_example, _semantic_counts,
                  image_dir, output_prefix, num_shards, num_workers,
                  skip_invalid, extra, progress)


def run_conversion_tool(convert: Callable[[], loading.ConversionSummary],
                        output_prefix: str) -> int:
  """Runs a converter for a command-line tool; returns the exit status.

  Prints the summary, the shards and the category map path.

  Raises:
    ConversionError: on bad input, naming the file; nothing was written.
  """
  try:
    summary = convert()
  except loading.ConversionError as e:
    raise loading.ConversionError(
        e.reason, e.path, f'{e.detail}; nothing was written') from e
  print(summary.report())
  if summary.removed_files:
    print('removed the shards of an earlier conversion: '
          f'{", ".join(summary.removed_files)}')
  pattern = f'{output_prefix}-*-of-{len(summary.shard_files):05d}.tfrecord'
  print(f'shards: {pattern}')
  print(f'category map: {category_map_path(output_prefix)}')
  return 0
