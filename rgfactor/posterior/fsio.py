"""Writing directories without destroying what rgfactor did not write.

A fit or run directory is written into a hidden sibling and moved into place in one step; the files
it holds are listed in a manifest (:data:`MANIFEST`). An existing directory is replaced only if it is
empty or every file in it is listed in its manifest (an earlier rgfactor output); otherwise the write
is refused with the files named. The replacement is one atomic exchange of the two directories
(Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, the old directory parked as a hidden
sibling until the new one is in place), after which the old copy is removed. New directories get
the user's umask.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from rgfactor.errors import FitFileError

MANIFEST = "rgfactor-manifest.json"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def check_replaceable(path: Path) -> None:
    """Raise FitFileError unless ``path`` is absent, an empty directory, or an earlier rgfactor output
    (every file listed in its manifest)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise FitFileError(f"'{path}' exists and is a file, not a directory; choose another path.")
    files = _listing(path)
    if not files:
        return
    try:
        listed = set(json.loads((path / MANIFEST).read_text())["files"]) | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):
        raise FitFileError(f"'{path}' is not empty and is not an rgfactor output (no readable {MANIFEST}); it "
                           f"holds {files[:8]}{' ...' if len(files) > 8 else ''}. Nothing was written: choose "
                           "an empty or new directory.") from None
    foreign = [f for f in files if f not in listed]
    if foreign:
        raise FitFileError(f"'{path}' holds file(s) rgfactor did not write: {foreign[:8]}"
                           f"{' ...' if len(foreign) > 8 else ''}. Nothing was written: move them away or choose "
                           "another directory.")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two existing paths (Linux renameat2); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _apply_umask(directory: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)


def atomic_directory(path, fill) -> Path:
    """Create or replace directory ``path`` all at once: ``fill(tmp_dir)`` writes into a hidden
    sibling, a manifest of its files is added, and it replaces ``path`` only when ``fill`` returns.
    On failure (or Ctrl-C) nothing is left behind and an existing ``path`` is untouched.

    Raises
    ------
    FitFileError  if ``path`` holds files rgfactor did not write (see :func:`check_replaceable`).
    """
    path = Path(path)
    check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        _apply_umask(tmp)
        fill(tmp)
        (tmp / MANIFEST).write_text(json.dumps({"files": _listing(tmp)}, indent=1))
        check_replaceable(path)   # again: nothing may have appeared there meanwhile
        if path.exists():
            if _exchange(tmp, path):
                shutil.rmtree(tmp)   # tmp now holds the old directory
            else:
                parked = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
                os.replace(path, parked / "old")
                os.replace(tmp, path)
                shutil.rmtree(parked)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
