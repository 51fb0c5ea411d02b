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

"""`loading.load_in_parallel`: order, errors, and no deadlock.

The converters once hung (about 1 run in 15) when the worker pool was
terminated while a worker held the result queue's lock. The looped test
drives the error paths hundreds of times in a child process under a time
limit, so that a hang fails the test instead of stalling the suite; the
former implementation hung in it within a few hundred iterations.
"""
import pathlib
import subprocess
import sys
import textwrap

import pytest

from projects.maskformer.conversion import loading

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Loaders at module level so that the worker processes can unpickle them.


def _square(task):
  return task * task


def _fail_on_multiples_of_7(task):
  if task % 7 == 0:
    raise loading.ConversionError('corrupt_image', f'{task}.jpg', 'bad')
  return task


def _bug(task):
  raise KeyError(f'bug at {task}')


@pytest.mark.parametrize('num_workers', [0, 2])
def test_results_in_task_order(num_workers):
  results = list(loading.load_in_parallel(
      _square, list(range(100)), num_workers, skip_invalid=False,
      progress=False))
  assert results == [(i, i * i) for i in range(100)]


@pytest.mark.parametrize('num_workers', [0, 2])
def test_skip_invalid_yields_skips_in_order(num_workers):
  results = list(loading.load_in_parallel(
      _fail_on_multiples_of_7, list(range(1, 50)), num_workers,
      skip_invalid=True, progress=False))
  assert [i for i, _ in results] == list(range(49))
  for index, result in results:
    task = index + 1
    if task % 7 == 0:
      assert result == loading.Skipped(
          'corrupt_image', f'{task}.jpg', f'{task}.jpg: bad [corrupt_image]')
    else:
      assert result == task


@pytest.mark.parametrize('num_workers', [0, 2])
def test_first_error_is_raised_after_the_good_results(num_workers):
  seen = []
  with pytest.raises(loading.ConversionError) as error:
    for index, result in loading.load_in_parallel(
        _fail_on_multiples_of_7, list(range(1, 100)), num_workers,
        skip_invalid=False, progress=False):
      seen.append((index, result))
  assert error.value.path == '7.jpg' and error.value.reason == 'corrupt_image'
  assert seen == [(i, i + 1) for i in range(6)]


def test_unexpected_worker_exception_is_raised_in_the_caller():
  with pytest.raises(KeyError, match='bug at 0'):
    list(loading.load_in_parallel(_bug, [0, 1, 2], 2, skip_invalid=True,
                                     progress=False))


_LOOP = textwrap.dedent('''
    import concurrent.futures
    import os
    import sys
    import time

    from projects.maskformer.conversion import loading

    def fail(task):
      raise loading.ConversionError('corrupt_image', f'{task}.jpg', 'bad')

    def fail_at_37(task):
      if task == 37:
        raise loading.ConversionError('corrupt_image', '37.jpg', 'bad')
      return task

    def die_at_5(task):
      if task == 5:
        os._exit(3)
      return task

    start = time.monotonic()
    iterations = int(sys.argv[1])
    for i in range(iterations):
      # Every input bad (the reported hang: images without annotations).
      try:
        for _ in loading.load_in_parallel(fail, [0, 1], 2, False, False):
          pass
        raise SystemExit('no error raised')
      except loading.ConversionError:
        pass
      # An error midway, with chunks still queued and running.
      try:
        for _ in loading.load_in_parallel(fail_at_37, list(range(200)), 2,
                                             False, False):
          pass
        raise SystemExit('no error raised')
      except loading.ConversionError:
        pass
      # The caller stops early.
      results = loading.load_in_parallel(fail_at_37, list(range(200)), 2,
                                            True, False)
      next(results)
      results.close()
      if i % 10 == 0:
        # A worker that dies: an error, not a hang.
        try:
          list(loading.load_in_parallel(die_at_5, list(range(20)), 2, False,
                                           False))
          raise SystemExit('no error raised')
        except concurrent.futures.process.BrokenProcessPool:
          pass
    print(f'{iterations} iterations in {time.monotonic() - start:.1f} s')
''')


def test_error_paths_never_hang():
  iterations = 300
  try:
    result = subprocess.run(
        [sys.executable, '-c', _LOOP, str(iterations)], cwd=_REPO_ROOT,
        capture_output=True, text=True, timeout=90)
  except subprocess.TimeoutExpired:
    pytest.fail(f'load_in_parallel hung: {iterations} iterations of its error '
                'paths did not finish in 90 s')
  assert result.returncode == 0, result.stderr
  assert f'{iterations} iterations in' in result.stdout
