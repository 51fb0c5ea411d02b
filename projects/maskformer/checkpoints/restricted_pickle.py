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

"""Restricted unpickler for checkpoint files: arrays and plain containers only.

detectron2 / MaskFormer checkpoints are pickles (`{"model": {name: ndarray}}`).
A pickle can name any importable callable and have it called while loading,
so untrusted files are never read with plain `pickle.load`. This loader
resolves only the globals needed to rebuild numpy arrays, numpy scalars and
dtypes, and the builtin containers; any other global raises
`UnsafePickleError` naming it, before anything is called.
"""
import io
import os
import pickle
from typing import Any
from typing import BinaryIO
from typing import Union

# (module, name) pairs a numpy-array pickle needs. numpy 2 pickles name
# `numpy._core`, numpy 1 pickles `numpy.core`; both map to the same objects.
_ALLOWED_GLOBALS = frozenset({
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'),
    ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('collections', 'OrderedDict'),
    ('_codecs', 'encode'),
}) | frozenset(
    # Protocol-2 pickles (and Python 2's) name the builtins `__builtin__`.
    (module, name) for module in ('builtins', '__builtin__')
    for name in ('dict', 'list', 'tuple', 'set', 'frozenset'))


class UnsafePickleError(pickle.UnpicklingError):
  """Raised when a pickle names a global outside the allow-list."""


class CorruptPickleError(pickle.UnpicklingError):
  """Raised when a file is not a readable pickle (empty, truncated, corrupt)."""


class _RestrictedUnpickler(pickle.Unpickler):

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) not in _ALLOWED_GLOBALS:
      raise UnsafePickleError(
          f'refusing to load global {module}.{name}: checkpoint pickles may '
          'only contain numpy arrays, numpy scalars and plain containers')
    return super().find_class(module, name)

  def persistent_load(self, pid: Any) -> Any:
    raise UnsafePickleError(
        f'refusing persistent id {pid!r}: not a plain-array checkpoint pickle '
        '(a torch.save zip file is not supported; export it to a dict of '
        'numpy arrays or safetensors first)')


def _unpickle(file: BinaryIO, name: str) -> Any:
  try:
    return _RestrictedUnpickler(file, encoding='latin1').load()
  except UnsafePickleError:
    raise
  except EOFError as e:
    raise CorruptPickleError(
        f'{name} is not a readable pickle: it is empty or truncated '
        f'({e})') from e
  except Exception as e:  # pylint: disable=broad-except
    # Damaged bytes make the unpickler fail in many ways (UnpicklingError,
    # ValueError, KeyError, IndexError, TypeError, ...).
    raise CorruptPickleError(
        f'{name} is not a readable pickle: it is truncated or corrupt '
        f'({type(e).__name__}: {e})') from e


def loads(data: bytes) -> Any:
  """Unpickles `data`, allowing only arrays and plain containers.

  Raises:
    UnsafePickleError: the pickle names anything outside the allow-list.
    CorruptPickleError: the data is not a readable pickle.
  """
  return _unpickle(io.BytesIO(data), 'the data')


def load(file: Union[str, os.PathLike, BinaryIO]) -> Any:
  """Unpickles a file (path or binary file object) with the allow-list.

  Args:
    file: a path, or a binary file object positioned at the pickle.

  Returns:
    The unpickled object (nested dicts/lists/tuples of numpy arrays,
    numbers and strings).

  Raises:
    UnsafePickleError: the pickle names anything outside the allow-list.
    CorruptPickleError: the file is empty, truncated or corrupt.
  """
  if isinstance(file, (str, os.PathLike)):
    with open(file, 'rb') as f:
      return _unpickle(f, os.fspath(file))
  return _unpickle(file, getattr(file, 'name', 'the pickle'))
