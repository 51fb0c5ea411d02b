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

"""What every tool in tools/ shares: plain errors, plain help, quiet start-up.

A tool calls `cli.quiet_tensorflow_startup()` before anything imports
TensorFlow and ends with `cli.run(main, required=[...])` instead of
`app.run(main)`:

  * user mistakes (missing or unknown flags, bad flag values, stray
    arguments, a `UserError`, a file system error such as a missing input or
    an unwritable output, and the tool's own `user_errors`) print one line
    `error: <what is wrong>` on stderr and exit with status 1, without a
    traceback; programming errors still raise with their traceback;
  * `--help` (also `-h`) prints the tool's usage and its flags and exits
    with status 0;
  * TensorFlow's C++ start-up log (CUDA probing, oneDNN and CPU-feature
    notices) is off: `quiet_tensorflow_startup` sets TF_CPP_MIN_LOG_LEVEL=3
    unless the environment already sets it (TF_CPP_MIN_LOG_LEVEL=0 shows
    everything again). Python-side logs show warnings (TensorFlow's own
    logger: errors) unless absl's --verbosity flag is given (e.g.
    --verbosity=0 for information messages).
"""
import errno
import json
import logging as std_logging
import os
import sys
from typing import Any
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Type

from absl import app
from absl import flags
from absl import logging

_HELP_FLAGS = ('help', 'helpshort', 'helpfull', 'helpxml', '?')


def quiet_tensorflow_startup() -> None:
  """Turns TensorFlow's C++ log off unless TF_CPP_MIN_LOG_LEVEL is set.

  Call it before TensorFlow is imported: TensorFlow reads the variable once.
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


class UserError(Exception):
  """A mistake of the user (input, output or flags); printed as one line."""


def one_line(error: BaseException) -> str:
  """The error as one line naming the problem (and the file, if any)."""
  if isinstance(error, OSError) and error.strerror:
    names = [n for n in (error.filename, error.filename2) if n]
    text = error.strerror + (f': {" -> ".join(map(str, names))}'
                             if names else '')
  else:
    text = getattr(error, 'message', None) or str(error)
    if not isinstance(text, str) or not text.strip():
      text = type(error).__name__
  return ' '.join(part.strip() for part in text.splitlines() if part.strip())


def fail(error: BaseException) -> None:
  """Prints `error: ...` on one line on stderr and exits with status 1."""
  sys.stderr.write(f'error: {one_line(error)}\n')
  sys.stderr.flush()
  sys.exit(1)


def _is_url(path: str) -> bool:
  return '://' in path


def check_writable(path: str, what: str = 'output') -> None:
  """Checks, without creating anything, that `path` can be created.

  The nearest existing folder above `path` must be a writable folder (the
  missing ones in between are created by the writer). Remote paths (with
  `://`) are not checked.

  Args:
    path: a file, folder or prefix (e.g. `/tmp/out/ckpt`) to be written.
    what: how the error message names it, e.g. '--output'.

  Raises:
    UserError: naming `path` and why it cannot be written.
  """
  if not path or _is_url(path):
    return
  absolute = os.path.abspath(path)
  if os.path.isdir(absolute) and not absolute.endswith(os.sep):
    parent = absolute
  else:
    parent = os.path.dirname(absolute)
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise UserError(f'cannot write {what} {path}: {parent} is not a folder')
  if not os.access(parent, os.W_OK | os.X_OK):
    raise UserError(f'cannot write {what} {path}: {parent} is not writable '
                    f'({os.strerror(errno.EACCES)})')


def write_json(path: Optional[str], results: Any) -> None:
  """Writes `results` as indented JSON to `path`, creating missing folders.

  Nothing is written when `path` is None or empty (the tools' `--output_json`
  is optional).
  """
  if not path:
    return
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=1)
    f.write('\n')


def check_required(names: Sequence[str]) -> None:
  """Checks that the flags `names` were given (not None, '' or []).

  Raises:
    UserError: naming every missing flag.
  """
  missing = [f'--{name}' for name in names
             if flags.FLAGS[name].value in (None, '', [])]
  if missing:
    raise UserError(
        f'missing required flag{"s" if len(missing) > 1 else ""}: '
        f'{", ".join(missing)} (see --help)')


def _parse_flags(argv: List[str]) -> List[str]:
  """absl's flag parsing, with one-line errors and help that exits with 0."""
  argv = ['--help' if arg == '-h' else arg for arg in argv]
  wants_help = any(arg.lstrip('-').split('=')[0] in _HELP_FLAGS
                   for arg in argv[1:] if arg.startswith('-'))
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(e)
  except SystemExit as e:
    # absl's help flags print the help and exit with status 1.
    if wants_help and e.code == 1:
      sys.exit(0)
    raise


def _quiet_python_logs() -> None:
  """Python-side logs show warnings (TensorFlow's: errors) unless verbose."""
  if flags.FLAGS['verbosity'].present:
    return
  logging.set_verbosity(logging.WARNING)
  std_logging.getLogger('tensorflow').setLevel(std_logging.ERROR)


def run(main: Callable[[List[str]], Optional[int]],
        required: Sequence[str] = (),
        user_errors: Tuple[Type[BaseException], ...] = ()) -> None:
  """Runs a tool's `main` like `absl.app.run`, with plain one-line errors.

  Args:
    main: the tool's main function; it gets the positional arguments (the
      program name first) and returns the exit status (None is 0).
    required: names of flags that must be given; all missing ones are named
      in one error.
    user_errors: exception types that `main` raises for user mistakes (bad
      input data, a checkpoint that does not fit, ...), besides `UserError`,
      `app.UsageError` and `OSError`.
  """

  def guarded(argv: List[str]) -> Optional[int]:
    _quiet_python_logs()
    try:
      check_required(required)
      return main(argv)
    except (UserError, app.UsageError, OSError) + tuple(user_errors) as e:
      fail(e)

  app.run(guarded, flags_parser=_parse_flags)
