"""Programs kept on disk, so that a new process skips tracing as well as XLA.

The persistent compilation cache (`wholecell._cache`) stores XLA's output, but it is
keyed by the program text, so a new process must still trace and lower a solve to find
it: for the repressilator about 0.8 s of a 0.85 s warm `wc.simulate`. Here the traced
program itself is stored (`jax.export`, serialised StableHLO; no Python objects) under a
key computed without tracing:

- what determines the program besides its arrays (``describe``): for a model's solve,
  every field of the `Model` (its sympy expressions as `srepr`, numbers by their exact
  `repr`), the order of its parameter, state and output ids, and the trace-time switches;
- what the call traces with: the name of the entry point, the shapes and dtypes of the
  array arguments, the value of every other argument, JAX's dtype settings;
- the code: a digest of wholecell's own source files and the versions of jax, jaxlib,
  diffrax, equinox, lineax and numpy;
- the machine: the JAX backend, its devices, the processor and ``XLA_FLAGS``.

Beside the program the process that compiled it keeps XLA's executable (``.xla``,
compressed), so a later process loads that without lowering the program at all. That
executable is compiled past JAX's persistent cache: one read from there serialises
without its code, so a program whose HLO an earlier version had cached would never be
kept. A program with custom calls other than LAPACK's is compiled through JAX's cache
and not kept as an executable (a new process reads the program and finds XLA's output
in that cache); an executable that fails at its first run is deleted and the program
runs instead. Anything outside that description (a model built by other means than
`compile`, an argument that is neither an array nor a plain value, a program that
cannot be exported, more than one device) is not stored and runs as it would without
this. The files live in the compilation cache's folder (``executables/``), so they are
turned off and cleared with it; a file that cannot be read is deleted and made again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import pickle
import platform
import re
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import sympy as sp

from ._cache import compilation_cache_dir
from ._now import trace_state_clean

#: the subfolder of the compilation cache that holds the executables
FOLDER = "executables"
#: executables kept loaded in this process (least recently used dropped first)
IN_MEMORY = 32
#: a format number: stored files of another format are never read
FORMAT = 1
#: XLA's options for a `cached_call(..., quick=True)`: no LLVM optimisation passes
QUICK_COMPILE = {"xla_backend_optimization_level": 0}

_LOADED: OrderedDict[str, Callable] = OrderedDict()
_NOT_EXPORTABLE = object()  # in `_LOADED`: run the function itself
_RESOLVING = threading.RLock()  # one thread traces or reads a program at a time
_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}  # object id -> (object, its digest)
_CODE: str | None = None


class _Uncacheable(Exception):
    """The call cannot be described exactly enough to be stored."""


def cached_call(name: str, fn: Callable, held: tuple, args: tuple, static: tuple = (), *,
                describe: object = None, quick: bool = False):
    """``fn(*held, *args, *static)`` through a compiled program kept on disk.

    ``held`` are objects (a `CompiledModel`, its structure) whose arrays are traced and
    whose everything else ``describe`` determines: the caller vouches for that (see
    `wholecell.solve._registry.stored_description`). ``args`` are arrays (traced) or
    plain numbers (static), ``static`` plain values (numbers, strings, booleans, None,
    tuples of them). ``name`` names ``fn`` and differs between entry points. ``quick``:
    XLA compiles it without LLVM's optimisations (`QUICK_COMPILE`), for a program that
    runs once per process and whose result needs no last bit (the stiffness check of
    ``solver="auto"``: 0.35 s against 0.62 s for the repressilator). Without a
    compilation cache, without ``describe`` or for a call that cannot be described
    exactly (see the module's docstring), this is ``fn(*held, *args, *static)``.
    """
    if describe is None or not _trace_free():
        return fn(*held, *args, *static)
    dynamic, fixed = eqx.partition((tuple(held), tuple(args)), eqx.is_array)
    compiled = _program(name, fn, dynamic, fixed, static, lambda: describe, quick)
    if compiled is None:
        return fn(*held, *args, *static)
    return compiled(*jax.tree_util.tree_leaves(dynamic))


def _program(name, fn, dynamic, fixed, static, describe: Callable[[], object],
             quick: bool = False):
    """The program of ``fn`` for these arguments (flat array leaves in), from this
    process's memory, the disk, or traced and stored now; None where the call cannot be
    described (no compilation cache, ``describe()`` None, a value without a digest) or
    exported."""
    folder = compilation_cache_dir()
    if folder is None:
        return None
    try:
        description = describe()
        if description is None:
            return None
        key = _key(name, description, dynamic, fixed, static)
    except _Uncacheable:
        return None
    with _RESOLVING:  # threads running chunks of one ensemble wait for the first
        compiled = _LOADED.get(key)
        if compiled is None:
            compiled = _load_or_export(Path(folder) / FOLDER / f"{key}.bin", fn, dynamic,
                                       fixed, static, quick) or _NOT_EXPORTABLE
            _LOADED[key] = compiled
            while len(_LOADED) > IN_MEMORY:
                _LOADED.popitem(last=False)
        else:
            _LOADED.move_to_end(key)
    return None if compiled is _NOT_EXPORTABLE else compiled


class StoredJit:
    """``jax.jit(fn)`` for a function of arrays whose program a new process reads from
    disk (`cached_call`), as for a model's solve. ``describe()`` says what determines the
    program besides its arguments and the code (called at the first call of each
    argument shape, when the program is traced or read, as `jax.jit` traces then); it
    returns None where that cannot be said, and the call is then ``jax.jit(fn)``'s.
    ``fn`` must be wholecell's own code (its source is in the key), not a user's."""

    def __init__(self, name: str, fn: Callable, describe: Callable[[], object]):
        self.name, self.fn, self.describe = name, fn, describe
        self._jit = jax.jit(fn)
        self._programs: dict[tuple, Callable] = {}

    def __call__(self, *args, **kwargs):
        # inside an outer trace (jax.grad, vmap, jit) the stored program cannot be
        # differentiated or batched: the function is traced into the outer program
        if kwargs or not _trace_free():
            return self._jit(*args, **kwargs)
        leaves, treedef = jax.tree_util.tree_flatten(args)
        try:
            signature = (treedef, tuple(_aval(a) for a in leaves))
        except AttributeError:  # a leaf that is not an array: as jax.jit does
            return self._jit(*args)
        program = self._programs.get(signature)
        if program is None:
            with _RESOLVING:
                program = self._programs.get(signature) or self._resolve(args)
                self._programs[signature] = program
        return program(*args)

    def _resolve(self, args) -> Callable:
        if not all(eqx.is_array(a) for a in jax.tree_util.tree_leaves(args)):
            return self._jit
        dynamic, fixed = eqx.partition(((), tuple(args)), eqx.is_array)
        run = _program(self.name, self.fn, dynamic, fixed, (), self.describe)
        if run is None:
            return self._jit
        return lambda *a: run(*jax.tree_util.tree_leaves(a))


def _load_or_export(path: Path, fn, dynamic, fixed, static, quick: bool = False):
    """A jitted call of the program stored at ``path``; else the program traced now,
    stored there and called the same way (so that XLA compiles one and the same module
    in this process and the next, and the next finds it in the compilation cache).
    None when it cannot be exported (a host callback, a custom call without stability
    guarantees): then the caller runs ``fn`` itself."""
    refused = path.with_suffix(".refused")
    if refused.exists():  # an earlier process could not export it: not traced twice
        return None
    machine = _read_machine(path.with_suffix(".xla"))
    if machine is not None:
        return _Checked(machine, path.with_suffix(".xla"),
                        lambda: _exported(path, fn, dynamic, fixed, static, quick))
    return _exported(path, fn, dynamic, fixed, static, quick)


def _exported(path: Path, fn, dynamic, fixed, static, quick: bool = False):
    """`_load_or_export` from the exported program alone (no stored executable)."""
    refused = path.with_suffix(".refused")
    stored = _read(path)
    if stored is None:
        treedef = jax.tree_util.tree_structure(dynamic)
        out = []

        def run(*leaves):  # flat arrays in and out: the program holds no Python objects
            held, args = eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), fixed)
            values, out_tree = jax.tree_util.tree_flatten(fn(*held, *args, *static))
            out.append(out_tree)
            return values

        try:
            blob = jax.export.export(jax.jit(run))(
                *jax.tree_util.tree_leaves(dynamic)).serialize()
            stored = jax.export.deserialize(blob), out[-1]
        except Exception:  # noqa: BLE001 - not exportable: compiled as usual
            with contextlib.suppress(OSError):
                refused.parent.mkdir(parents=True, exist_ok=True)
                refused.touch()
            return None
        _write(path, blob, out[-1])
    exported, out_tree = stored
    return _Compiling(jax.jit(exported.call), out_tree, path.with_suffix(".xla"),
                      QUICK_COMPILE if quick else None)


class _Checked:
    """A stored executable whose first call, if XLA cannot run it, deletes it and runs
    the exported program instead (``fallback()`` makes that call)."""

    def __init__(self, run, path: Path, fallback: Callable[[], Callable | None]):
        self.run, self.path, self.fallback = run, path, fallback
        self.checked = False

    def __call__(self, *leaves):
        if self.checked:
            return self.run(*leaves)
        try:
            out = self.run(*leaves)
        except jax.errors.JaxRuntimeError:
            self.path.unlink(missing_ok=True)
            self.run = self.fallback()
            if self.run is None:
                raise
            out = self.run(*leaves)
        self.checked = True
        return out


class _Compiling:
    """An exported program that XLA compiles at its first call (from the persistent
    cache where it is there), then stores as a machine executable at ``machine`` so that
    the next process skips lowering as well (`_read_machine`)."""

    def __init__(self, call, out_tree, machine: Path, options: dict | None = None):
        self.call, self.out_tree, self.machine = call, out_tree, machine
        self.options = options
        self.compiled = None
        self._lock = threading.Lock()

    def __call__(self, *leaves):
        if self.compiled is None:
            with self._lock:
                if self.compiled is None:
                    self.compiled = self._compile(leaves)
        return jax.tree_util.tree_unflatten(self.out_tree, self.compiled(*leaves))

    def _compile(self, leaves):
        lowered = self.call.lower(*leaves)
        calls = _custom_calls(lowered.as_text())
        unstorable = self.machine.with_suffix(".unstorable")
        if any(not c.startswith(_LAPACK) for c in calls) or unstorable.exists():
            return lowered.compile(self.options)  # not kept: through XLA's cache
        # An executable XLA read from its own cache serialises without its code (a new
        # process fails to run it), so this one is compiled afresh, past that cache:
        # else a program whose HLO an earlier version had cached would never be stored.
        with _past_xla_cache() as fresh:
            compiled = lowered.compile(self.options)
        if fresh() and not _write_machine(self.machine, compiled, self.out_tree,
                                          lapack=bool(calls)):
            with contextlib.suppress(OSError):  # next time through XLA's cache
                unstorable.touch()
        return compiled


_HITS = threading.local()  # this thread's count of XLA compilation-cache hits


def _count_hit(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _HITS.n = getattr(_HITS, "n", 0) + 1


@functools.cache
def _listen() -> None:
    """Count cache hits (`_count_hit`), from the first compilation that asks on."""
    jax.monitoring.register_event_listener(_count_hit)


def _cache_hits() -> int:
    """How many compilations this thread has read from XLA's persistent cache."""
    _listen()
    return getattr(_HITS, "n", 0)


@contextlib.contextmanager
def _past_xla_cache():
    """Compilations inside neither read nor write JAX's persistent cache (where this JAX
    lets that be done: its cache switch is read once per process, so it is set through
    the module's state). Yields a function that says whether no compilation inside was
    read from that cache."""
    hits = _cache_hits()
    try:
        from jax._src import compilation_cache as xla_cache

        lock = xla_cache._cache_initialized_mutex
        with lock:
            saved = xla_cache._cache_checked, xla_cache._cache_used
            xla_cache._cache_checked, xla_cache._cache_used = True, False
    except (ImportError, AttributeError):  # another JAX: hits are counted all the same
        saved = None
    try:
        yield lambda: _cache_hits() == hits
    finally:
        if saved is not None:
            with lock:
                xla_cache._cache_checked, xla_cache._cache_used = saved


#: XLA custom calls a stored machine executable may make: LAPACK's (registered by
#: ``initialize_lapack`` before loading). A program with any other is not stored so.
_LAPACK = "lapack_"


def _custom_calls(stablehlo: str) -> set[str]:
    """The custom-call targets of a lowered program's StableHLO text."""
    return set(re.findall(r"custom_call @([\w.]+)", stablehlo))


def _write_machine(path: Path, compiled, out_tree, lapack: bool) -> bool:
    """Store XLA's executable of ``compiled`` (whose only custom calls, if ``lapack``,
    are LAPACK's); False where it cannot be (a backend without executable
    serialisation)."""
    try:
        from jax.experimental import serialize_executable

        blob, in_tree, flat_out = serialize_executable.serialize(compiled)
        # compressed: XLA's code for the CPU shrinks 5-6x (JAX's cache compresses too)
        _store(path, (lapack, in_tree, flat_out, out_tree), zlib.compress(blob, 1))
    except Exception:  # noqa: BLE001 - not serialisable here: compiled from the cache
        return False
    return True


def _read_machine(path: Path):
    """The call of the executable stored at ``path`` (flat leaves in, the output tree
    out), or None (missing, or unreadable: then deleted)."""
    try:
        parts = _parts(path)
        if parts is None:
            return None
        from jax.experimental import serialize_executable

        (lapack, in_tree, flat_out, out_tree), blob = parts
        if lapack:  # its kernels must be registered before the executable loads
            from jax._src.lax.linalg import initialize_lapack

            initialize_lapack()
        compiled = serialize_executable.deserialize_and_load(
            zlib.decompress(blob), in_tree, flat_out)
    except Exception:  # noqa: BLE001 - a damaged or foreign file: compiled again
        path.unlink(missing_ok=True)
        return None
    return lambda *leaves: jax.tree_util.tree_unflatten(out_tree, compiled(*leaves))


def _trace_free() -> bool:
    """No JAX trace is active (a call inside a trace is part of that trace's program),
    and the arrays live on one device."""
    return trace_state_clean() and jax.device_count() == 1


def _key(name, describe, dynamic, fixed, static) -> str:
    h = hashlib.sha256()
    parts = [
        f"format {FORMAT}", name, _code_digest(), _digest(describe),
        repr([_aval(a) for a in jax.tree_util.tree_leaves(dynamic)]),
        str(jax.tree_util.tree_structure(dynamic[1])),
        _plain(jax.tree_util.tree_leaves(fixed[1])), str(jax.tree_util.tree_structure(fixed[1])),
        _plain(static), _settings(),
    ]
    for part in parts:
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def _aval(a) -> str:
    return f"{a.dtype}{tuple(a.shape)}{bool(getattr(a, 'weak_type', False))}"


def _plain(values) -> str:
    """The exact text of plain values; anything else cannot be keyed."""
    def ok(v) -> bool:
        if v is None or isinstance(v, bool | int | float | str):
            return True
        return isinstance(v, tuple) and all(ok(x) for x in v)

    values = tuple(values)
    if not ok(values):
        raise _Uncacheable
    return repr(tuple((type(v).__name__, v) for v in values))


def _settings() -> str:
    """JAX's settings that change a traced program."""
    c = jax.config
    return repr((c.jax_enable_x64, c.jax_numpy_dtype_promotion, c.jax_numpy_rank_promotion,
                 c.jax_default_matmul_precision))


def _code_digest() -> str:
    """wholecell's source files, the versions of the libraries that trace and compile,
    and the machine."""
    global _CODE
    if _CODE is None:
        from importlib.metadata import version

        from jax._src.lib import version_str as jaxlib_version

        h = hashlib.sha256()
        root = Path(__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        dev = jax.devices()[0]
        h.update(repr((
            jax.__version__, jaxlib_version, version("diffrax"), eqx.__version__,
            version("lineax"), np.__version__, jax.default_backend(), dev.device_kind,
            dev.client.platform_version, platform.machine(), platform.processor(),
            _cpu_flags(), os.environ.get("XLA_FLAGS", ""),
        )).encode())
        _CODE = h.hexdigest()
    return _CODE


def _cpu_flags() -> str:
    """The processor's instruction-set flags (an executable compiled for the CPU uses
    them), where the system lists them."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.strip()
    except OSError:
        pass
    return ""


def _digest(describe) -> str:
    """A digest of every value in ``describe``; a model's (the first item, when it is a
    dataclass) is computed once per model object."""
    h = hashlib.sha256()
    items = describe if isinstance(describe, tuple) else (describe,)
    for item in items:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            h.update(_object_digest(item).encode())
        else:
            _feed(h, item)
    return h.hexdigest()


def _object_digest(obj) -> str:
    """`_feed`'s digest of ``obj``, kept while ``obj`` lives (a model is read once)."""
    hit = _DIGESTS.get(id(obj))
    if hit is not None and hit[0]() is obj:
        return hit[1]
    h = hashlib.sha256()
    _feed(h, obj)
    digest = h.hexdigest()
    try:
        ref = weakref.ref(obj)
    except TypeError:  # not weakly referable: digested again next time
        return digest
    key = id(obj)
    _DIGESTS[key] = (ref, digest)
    weakref.finalize(obj, _DIGESTS.pop, key, None)
    return digest


def _feed(h, obj) -> None:
    """Every value under ``obj``, each with its type, in a form that tells any two
    different values apart; an unknown kind of value raises `_Uncacheable`."""
    if obj is None or isinstance(obj, bool | int | float | str):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, sp.Basic):
        h.update(f"sympy:{sp.srepr(obj)};".encode())
    elif isinstance(obj, tuple | list):
        h.update(f"{type(obj).__name__}[{len(obj)}:".encode())
        for item in obj:
            _feed(h, item)
        h.update(b"]")
    elif isinstance(obj, dict):
        h.update(f"dict[{len(obj)}:".encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
        h.update(b"]")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"{type(obj).__module__}.{type(obj).__qualname__}(".encode())
        for f in dataclasses.fields(obj):
            if f.compare:  # fields outside equality (a file name) do not change the model
                h.update(f"{f.name}=".encode())
                _feed(h, getattr(obj, f.name))
        h.update(b")")
    elif isinstance(obj, np.ndarray | jax.Array):
        obj = np.asarray(obj)
        if obj.dtype == object:
            _feed(h, obj.tolist())
            return
        h.update(f"ndarray:{obj.dtype.str}{obj.shape}:".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, np.generic):
        h.update(f"{obj.dtype.str}:{obj.item()!r};".encode())
    elif isinstance(obj, os.PathLike):
        h.update(f"path:{os.fspath(obj)!r};".encode())
    elif type(obj).__name__ in ("DataFrame", "Series") and hasattr(obj, "to_numpy"):
        _feed_table(h, obj)
    elif _ours(obj):
        h.update(f"{type(obj).__module__}.{type(obj).__qualname__}{{".encode())
        for k in sorted(vars(obj)):
            _feed(h, k)
            _feed(h, vars(obj)[k])
        h.update(b"}")
    else:
        raise _Uncacheable


def _ours(obj) -> bool:
    """A plain object of this package's own (its state is its attributes)."""
    return (type(obj).__module__.startswith("wholecell.") and hasattr(obj, "__dict__")
            and not callable(obj) and not hasattr(type(obj), "__slots__"))


def _feed_table(h, table) -> None:
    """A pandas table: its shape, index, columns with their dtypes, and every value."""
    frame = table.to_frame() if type(table).__name__ == "Series" else table
    h.update(f"table{frame.shape}:".encode())
    _feed(h, frame.index.to_numpy())
    for name in frame.columns:
        column = frame[name]
        _feed(h, name)
        h.update(str(column.dtype).encode())
        _feed(h, column.to_numpy())


def _write(path: Path, blob: bytearray, out_tree) -> None:
    try:
        _store(path, out_tree, bytes(blob))
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return  # a read-only or full cache, an output that cannot be named: not stored


def _store(path: Path, head: object, body: bytes) -> None:
    """Write the format number, ``head`` pickled, and ``body`` to ``path`` (through a
    temporary file, so a reader never sees half of it)."""
    head = pickle.dumps(head)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(FORMAT.to_bytes(4, "little"))
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        f.write(body)
    os.replace(tmp, path)


def _parts(path: Path) -> tuple[object, bytes] | None:
    """(head, body) that `_store` wrote at ``path``; None where there is no file. Raises
    for a file of another format or a damaged one."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if int.from_bytes(data[:4], "little") != FORMAT:
        raise ValueError("another format")
    n = int.from_bytes(data[4:12], "little")
    return pickle.loads(data[12:12 + n]), data[12 + n:]


def _read(path: Path):
    """(`jax.export.Exported`, output tree) stored at ``path``, or None (missing, or
    unreadable: then deleted)."""
    try:
        parts = _parts(path)
        if parts is None:
            return None
        out_tree, blob = parts
        return jax.export.deserialize(bytearray(blob)), out_tree
    except Exception:  # noqa: BLE001 - a damaged or foreign file: export again
        path.unlink(missing_ok=True)
        return None
