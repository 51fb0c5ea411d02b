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

"""Loading the source files: input checks and errors, parallel workers, summary.

This module does not import TensorFlow: the loaders it runs in worker
processes only read and check files with numpy and PIL. The workers are
forked (like Model Garden's converters), so they start instantly; they never
touch TensorFlow, whose runtime state a fork does not carry over safely.
"""
import collections
import concurrent.futures
import dataclasses
import io
import multiprocessing
import os
from typing import Callable
from typing import Dict
from typing import Iterator
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import TypeVar
from typing import Union

import numpy as np
from PIL import Image
import tqdm

Task = TypeVar('Task')
Record = TypeVar('Record')

# How many file names the summary lists per skip reason.
_MAX_LISTED_SKIPS = 5
_IMAGE_FORMATS = {'JPEG': 'jpeg', 'PNG': 'png'}
_IMAGE_MODES = ('RGB', 'L')


class ConversionError(ValueError):
  """Bad input data; the message names the offending file.

  Attributes:
    reason: a short machine-readable reason, e.g. 'missing_image'.
    path: the file the problem was found in.
    detail: what is wrong with it.
  """

  def __init__(self, reason: str, path: str, detail: str):
    super().__init__(f'{path}: {detail} [{reason}]')
    self.reason = reason
    self.path = path
    self.detail = detail

  def __reduce__(self):
    # Rebuilt from all three fields when it crosses a process boundary.
    return (ConversionError, (self.reason, self.path, self.detail))


def read_image_file(path: str, height: Optional[int] = None,
                    width: Optional[int] = None) -> Tuple[bytes, str, int, int]:
  """Reads and fully decodes an image file to check it.

  Args:
    path: the image file.
    height: the expected height, if known.
    width: the expected width, if known.

  Returns:
    (file bytes, 'jpeg' or 'png', height, width).

  Raises:
    ConversionError: if the file is missing, corrupt, of an unsupported format
      or mode, or not of the expected size.
  """
  if not os.path.isfile(path):
    raise ConversionError('missing_image', path, 'image file not found')
  with open(path, 'rb') as f:
    data = f.read()
  try:
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      image_format, mode, size = image.format, image.mode, image.size
  except (OSError, SyntaxError, ValueError) as e:
    raise ConversionError('corrupt_image', path,
                          f'cannot decode the image: {e}') from e
  if image_format not in _IMAGE_FORMATS or mode not in _IMAGE_MODES:
    raise ConversionError(
        'unsupported_image', path,
        f'image is {image_format} in mode {mode}; expected JPEG or PNG in '
        f'mode {" or ".join(_IMAGE_MODES)}')
  actual_width, actual_height = size
  if (height is not None and height != actual_height) or (
      width is not None and width != actual_width):
    raise ConversionError(
        'size_mismatch', path,
        f'image is {actual_height}x{actual_width} (HxW), the annotations say '
        f'{height}x{width}')
  return data, _IMAGE_FORMATS[image_format], actual_height, actual_width


def read_label_png(path: str, mode: str, height: int, width: int,
                   missing_reason: str) -> Tuple[bytes, np.ndarray]:
  """Reads and decodes a label PNG (panoptic or semantic) to check it.

  Args:
    path: the PNG file.
    mode: the required PIL mode ('RGB' for panoptic, 'L' for semantic).
    height: required height (that of the image).
    width: required width.
    missing_reason: the error reason if the file does not exist.

  Returns:
    (file bytes, decoded pixels: uint8 [H, W, 3] for 'RGB', [H, W] for 'L').

  Raises:
    ConversionError: if the file is missing, corrupt, not a PNG of that mode,
      or not of the image's size.
  """
  if not os.path.isfile(path):
    raise ConversionError(missing_reason, path, 'label PNG not found')
  with open(path, 'rb') as f:
    data = f.read()
  try:
    with Image.open(io.BytesIO(data)) as png:
      png.load()
      png_format, png_mode = png.format, png.mode
      pixels = np.asarray(png)
  except (OSError, SyntaxError, ValueError) as e:
    raise ConversionError('corrupt_png', path,
                          f'cannot decode the PNG: {e}') from e
  if png_format != 'PNG' or png_mode != mode:
    raise ConversionError(
        'corrupt_png', path,
        f'expected a {mode} PNG, got {png_format} in mode {png_mode}')
  if pixels.shape[:2] != (height, width):
    raise ConversionError(
        'size_mismatch', path,
        f'PNG is {pixels.shape[0]}x{pixels.shape[1]} (HxW), the image is '
        f'{height}x{width}')
  return data, pixels


@dataclasses.dataclass(frozen=True)
class Skipped:
  """An input that was skipped instead of converted."""
  reason: str
  path: str
  message: str


@dataclasses.dataclass
class ConversionSummary:
  """What a conversion wrote and what it skipped.

  Attributes:
    images: examples written.
    segments: segments written (panoptic), or classes present summed over the
      images (semantic).
    crowd_segments: crowd segments written.
    empty_segments: segments without any pixel (area 0 in the annotations).
    max_segments_per_image: the largest number of segments of one image.
    shard_sizes: examples per shard.
    shard_files: the shards written.
    removed_files: shards of an earlier conversion into another shard count
      under the same prefix, removed.
    skipped: per reason, the number of skipped inputs.
    skipped_examples: per reason, the first few skip messages.
  """
  images: int = 0
  segments: int = 0
  crowd_segments: int = 0
  empty_segments: int = 0
  max_segments_per_image: int = 0
  shard_sizes: List[int] = dataclasses.field(default_factory=list)
  shard_files: List[str] = dataclasses.field(default_factory=list)
  removed_files: List[str] = dataclasses.field(default_factory=list)
  skipped: Dict[str, int] = dataclasses.field(
      default_factory=collections.Counter)
  skipped_examples: Dict[str, List[str]] = dataclasses.field(
      default_factory=lambda: collections.defaultdict(list))

  def add_skip(self, skip: Skipped) -> None:
    self.skipped[skip.reason] += 1
    if len(self.skipped_examples[skip.reason]) < _MAX_LISTED_SKIPS:
      self.skipped_examples[skip.reason].append(skip.message)

  def report(self) -> str:
    """A human-readable multi-line summary."""
    lines = [
        f'images written:          {self.images}',
        f'segments:                {self.segments}',
        f'crowd segments:          {self.crowd_segments}',
        f'empty (area 0) segments: {self.empty_segments}',
        f'max segments per image:  {self.max_segments_per_image}',
        f'shards:                  {len(self.shard_sizes)} '
        f'(examples per shard: {self.shard_sizes})',
        f'skipped:                 {sum(self.skipped.values())}',
    ]
    if self.removed_files:
      lines.insert(6, f'replaced:                {len(self.removed_files)} '
                   'shards of an earlier conversion with another shard count')
    for reason in sorted(self.skipped):
      lines.append(f'  {reason}: {self.skipped[reason]}')
      lines.extend(f'    {m}' for m in self.skipped_examples[reason])
    return '\n'.join(lines)


class _SkipInvalid:
  """Picklable wrapper turning a loader's `ConversionError` into `Skipped`."""

  def __init__(self, load_fn: Callable[[Task], Record]):
    self._load_fn = load_fn

  def __call__(self, task: Task) -> Union[Record, Skipped]:
    try:
      return self._load_fn(task)
    except ConversionError as e:
      return Skipped(reason=e.reason, path=e.path, message=str(e))


@dataclasses.dataclass(frozen=True)
class _Failed:
  """A worker's exception, returned as a value instead of raised."""
  error: BaseException


def _load_chunk(fn: Callable[[Task], Record], tasks: Sequence[Task]
                ) -> List[Union[Record, _Failed]]:
  """Runs `fn` on consecutive tasks in a worker; errors become `_Failed`.

  A chunk stops at its first error: the caller stops there too.
  """
  results = []
  for task in tasks:
    try:
      results.append(fn(task))
    except Exception as e:  # pylint: disable=broad-except
      results.append(_Failed(e))
      break
  return results


def load_in_parallel(
    load_fn: Callable[[Task], Record], tasks: Sequence[Task], num_workers: int,
    skip_invalid: bool, progress: bool = True
) -> Iterator[Tuple[int, Union[Record, Skipped]]]:
  """Runs `load_fn` on every task, in worker processes, in task order.

  Workers never raise: a loader's exception travels back as a value and is
  raised here, in the calling process. Tasks go to the workers in chunks,
  with a bounded number of chunks in flight; when the caller stops early (an
  error, or it closes the generator), the chunks not yet started are
  cancelled and the pool is shut down by letting the running ones finish
  and joining the workers, never by killing a worker that may hold a queue's
  lock. A worker that dies (e.g. killed for memory) raises
  `BrokenProcessPool` here instead of hanging.

  Args:
    load_fn: a picklable callable (module-level function or
      `functools.partial` of one) that reads and checks one input. It raises
      `ConversionError` on bad input.
    tasks: the inputs, in the order of the output.
    num_workers: worker processes; 0 or 1 loads in this process.
    skip_invalid: if True, bad inputs are yielded as `Skipped`; if False the
      first `ConversionError` propagates.
    progress: whether to show a progress bar.

  Yields:
    (task index, record or `Skipped`), in task order, so that whatever is
    derived from the index (e.g. the shard) does not depend on `num_workers`.

  Raises:
    ConversionError: on bad input when `skip_invalid` is False.
  """
  fn = _SkipInvalid(load_fn) if skip_invalid else load_fn
  bar = tqdm.tqdm(total=len(tasks), desc='converting', unit='img',
                  disable=not progress)
  try:
    if num_workers <= 1:
      for index, task in enumerate(tasks):
        yield index, fn(task)
        bar.update(1)
      return
    yield from _load_with_workers(fn, tasks, num_workers, bar)
  finally:
    bar.close()


def _load_with_workers(fn: Callable[[Task], Union[Record, Skipped]],
                       tasks: Sequence[Task], num_workers: int,
                       bar: tqdm.tqdm
                       ) -> Iterator[Tuple[int, Union[Record, Skipped]]]:
  """`load_in_parallel` with `num_workers` forked worker processes."""
  chunksize = max(1, min(32, len(tasks) // (4 * num_workers)))
  chunks = collections.deque(
      (start, tasks[start:start + chunksize])
      for start in range(0, len(tasks), chunksize))
  executor = concurrent.futures.ProcessPoolExecutor(
      num_workers, mp_context=multiprocessing.get_context('fork'))
  in_flight = collections.deque()
  try:
    while chunks or in_flight:
      while chunks and len(in_flight) < 2 * num_workers:
        start, chunk = chunks.popleft()
        in_flight.append((start, executor.submit(_load_chunk, fn, chunk)))
      start, future = in_flight.popleft()
      for offset, result in enumerate(future.result()):
        if isinstance(result, _Failed):
          raise result.error
        yield start + offset, result
        bar.update(1)
  finally:
    # Not-yet-started chunks are dropped; running ones finish; the workers
    # exit and are joined.
    executor.shutdown(wait=True, cancel_futures=True)
