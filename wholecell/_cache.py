"""The persistent compilation cache: compiled programs kept on disk between processes.

Compiling a model's solver with XLA takes seconds to minutes; the run after it takes
milliseconds. JAX can keep each compiled program on disk, keyed by the program itself
(its HLO, so every model expression, shape and option), the compile options, the device
and the versions of jax and jaxlib, so a key cannot be reused by another model or another
version. wholecell turns that cache on at import, in the user's cache directory:

- ``$WHOLECELL_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/wholecell/jax``, else
  ``~/.cache/wholecell/jax``;
- ``WHOLECELL_NO_CACHE=1`` in the environment leaves it off, as does
  `compilation_cache(False)` before the first simulation;
- `clear_compilation_cache` deletes its files.

Programs that compiled in under `MIN_COMPILE_SECONDS` are not stored: reading them back
would cost about as much as compiling them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import jax

#: programs that compile faster than this are compiled again rather than stored
MIN_COMPILE_SECONDS = 0.2


def default_cache_dir() -> Path:
    """Where the cache lives unless `compilation_cache` is given another folder."""
    if os.environ.get("WHOLECELL_CACHE_DIR"):
        return Path(os.environ["WHOLECELL_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "wholecell" / "jax"


def compilation_cache(enable: bool = True, path: str | os.PathLike | None = None,
                      min_compile_seconds: float = MIN_COMPILE_SECONDS) -> Path | None:
    """Turn the persistent compilation cache on (in ``path``, default `default_cache_dir`)
    or off. Programs that compile faster than ``min_compile_seconds`` are not stored.
    Returns the folder in use, or None when off.

    JAX reads the setting when it compiles, so this applies to programs compiled after
    the call; call it before the first simulation to keep a process entirely off disk.
    """
    if not enable:
        jax.config.update("jax_enable_compilation_cache", False)
        jax.config.update("jax_compilation_cache_dir", None)
        return None
    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    return folder


def compilation_cache_dir() -> Path | None:
    """The folder of the cache in use, or None when it is off."""
    if not jax.config.jax_enable_compilation_cache:
        return None
    folder = jax.config.jax_compilation_cache_dir
    return Path(folder) if folder else None


def clear_compilation_cache(path: str | os.PathLike | None = None) -> int:
    """Delete the cached programs in ``path`` (default: the folder in use, else
    `default_cache_dir`). Returns the number of files removed."""
    folder = Path(path) if path is not None else (compilation_cache_dir() or default_cache_dir())
    if not folder.is_dir():
        return 0
    n = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return n


def enable_default_cache() -> None:
    """The default: on, unless ``WHOLECELL_NO_CACHE`` is set or the folder cannot be made
    (a read-only home: then every process compiles, as without the cache)."""
    if os.environ.get("WHOLECELL_NO_CACHE", "").strip() not in ("", "0"):
        compilation_cache(False)
        return
    try:
        compilation_cache(True)
    except OSError:
        compilation_cache(False)
