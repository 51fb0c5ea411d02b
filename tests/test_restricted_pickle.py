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

"""Tests of the restricted unpickler used for checkpoint pickles."""
import collections
import io
import pickle
import pickletools

import numpy as np
import pytest

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import restricted_pickle


@pytest.mark.parametrize('relative_path', [
    'r50w16_enc/weights.pkl', 'r50w16_fpn/weights.pkl',
    'training/weights_initial.pkl'])
def test_loads_fixture_checkpoints(reference_dir, relative_path):
  content = restricted_pickle.load(reference_dir / relative_path)
  state = content['model']
  assert len(state) > 100
  assert all(isinstance(k, str) and isinstance(v, np.ndarray)
             for k, v in state.items())
  with open(reference_dir / relative_path, 'rb') as f:
    from_file_object = restricted_pickle.load(f)
  name = 'backbone.stem.conv1.weight'
  np.testing.assert_array_equal(from_file_object['model'][name], state[name])


def test_round_trips_arrays_scalars_and_containers():
  data = {
      'model': collections.OrderedDict(
          a=np.arange(6, dtype=np.float32).reshape(2, 3),
          b=np.array(3, np.int64)),
      'meta': [1, 2.5, 'x', (True, None), {np.float64(1.5)}],
  }
  loaded = restricted_pickle.loads(pickle.dumps(data, protocol=2))
  np.testing.assert_array_equal(loaded['model']['a'], data['model']['a'])
  assert loaded['meta'] == data['meta']


class _CreatesFile:
  """Unpickling this calls io.open(path, 'w'), which creates the file."""

  def __init__(self, path):
    self._path = path

  def __reduce__(self):
    return (io.open, (str(self._path), 'w'))


def _globals(payload):
  """(module, name) of every global a pickle references (protocol 2)."""
  return [tuple(arg.split(' ')) for op, arg, _ in pickletools.genops(payload)
          if op.name == 'GLOBAL']


def test_malicious_pickle_does_not_execute(tmp_path):
  marker = tmp_path / 'pwned'
  payload = pickle.dumps({'model': {'w': _CreatesFile(marker)}}, protocol=2)
  # The payload really calls io.open when unpickled without restrictions
  # (REDUCE on that global).
  assert ('io', 'open') in _globals(payload)
  assert any(op.name == 'REDUCE' for op, _, _ in pickletools.genops(payload))

  with pytest.raises(restricted_pickle.UnsafePickleError,
                     match=r'io\.open'):
    restricted_pickle.loads(payload)
  assert not marker.exists()

  checkpoint = tmp_path / 'model_final.pkl'
  checkpoint.write_bytes(payload)
  with pytest.raises(restricted_pickle.UnsafePickleError):
    converter.read_state_dict(checkpoint)
  assert not marker.exists()


def test_unknown_globals_are_named():
  payload = pickle.dumps(collections.Counter('aab'), protocol=2)
  with pytest.raises(restricted_pickle.UnsafePickleError,
                     match=r'collections\.Counter'):
    restricted_pickle.loads(payload)


def test_persistent_ids_are_refused():
  buffer = io.BytesIO()

  class _Pickler(pickle.Pickler):

    def persistent_id(self, obj):
      return 'storage' if isinstance(obj, bytearray) else None

  _Pickler(buffer, protocol=2).dump({'w': bytearray(b'x')})
  with pytest.raises(restricted_pickle.UnsafePickleError, match='persistent'):
    restricted_pickle.loads(buffer.getvalue())


def test_empty_truncated_and_corrupt_files_are_named(tmp_path):
  data = pickle.dumps({'model': {'w': np.arange(6.0)}}, protocol=4)
  cases = {
      'empty.pkl': (b'', 'empty or truncated'),
      'truncated.pkl': (data[:len(data) // 2], 'truncated or corrupt'),
      'garbage.pkl': (bytes(range(256)), 'truncated or corrupt'),
  }
  for name, (content, message) in cases.items():
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(restricted_pickle.CorruptPickleError) as error:
      restricted_pickle.load(path)
    assert str(error.value).startswith(f'{path} is not a readable pickle')
    assert message in str(error.value)
    # Callers that catch pickle's own error keep working.
    assert isinstance(error.value, pickle.UnpicklingError)
