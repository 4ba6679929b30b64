"""ctypes bindings of libmlip.so.1 (mlip.h) and where the library is found.

The library is looked up once, on first use, in this order:

1. the environment variable MLIP_LIBRARY: the path of the library (or of a
   directory holding libmlip.so.1); when set, nothing else is tried, so a
   wrong value is an error rather than a silent fall-back to another build;
2. an installed package (``make install``): the library directory recorded
   in _paths.py at install time, first relative to this file (the install
   tree may have been moved as a whole), then as the absolute path;
3. a source tree: ``lib/libmlip.so.1`` three levels above this file
   (share/python/mlip/ -> lib/), built by ``make shlib``;
4. the system's library search (``ctypes.util.find_library("mlip")``, i.e.
   ldconfig's cache).

Every mlip.h function is declared with its exact C signature: ctypes would
otherwise pass a size_t or a pointer as a C int.
"""
import ctypes
import ctypes.util
import os
import threading

SONAME = "libmlip.so.1"

# The API version whose functions this module declares (mlip.h
# MLIP_API_VERSION); a library reporting less lacks some of them.
API_VERSION = 1

_here = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_lib = None
path = None  # the file the library was loaded from, once loaded

c_double_p = ctypes.POINTER(ctypes.c_double)
c_int_p = ctypes.POINTER(ctypes.c_int)


class _Handle(ctypes.Structure):
    """The opaque mlip_calculator."""


handle_p = ctypes.POINTER(_Handle)


def _candidates():
    """(description, path) pairs in lookup order, MLIP_LIBRARY excluded."""
    out = []
    try:
        from . import _paths
    except ImportError:
        _paths = None
    if _paths is not None:
        out.append(("installed (relative)",
                    os.path.normpath(os.path.join(_here, _paths.LIBDIR_RELATIVE, SONAME))))
        out.append(("installed", os.path.join(_paths.LIBDIR, SONAME)))
    else:
        out.append(("source tree", os.path.normpath(os.path.join(_here, "..", "..", "..", "lib", SONAME))))
    return out


def _declare(lib):
    def fn(name, restype, *argtypes):
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    size_t, c_int, c_double, c_char_p = ctypes.c_size_t, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
    fn("mlip_version", c_char_p)
    fn("mlip_api_version", c_int)
    fn("mlip_open", c_int, c_char_p, ctypes.POINTER(handle_p), c_char_p, size_t)
    fn("mlip_close", None, handle_p)
    fn("mlip_errmsg", c_char_p, handle_p)
    fn("mlip_cutoff", c_double, handle_p)
    fn("mlip_n_elements", c_int, handle_p)
    fn("mlip_element", c_int, handle_p, c_int)
    fn("mlip_n_heads", c_int, handle_p)
    fn("mlip_head_name", c_char_p, handle_p, c_int)
    fn("mlip_set_head", c_int, handle_p, c_char_p)
    fn("mlip_set_threads", c_int, handle_p, c_int)
    fn("mlip_energy_shift", c_double, handle_p)
    fn("mlip_compute", c_int, handle_p, size_t, c_int_p, c_double_p, c_double_p, c_int_p,
       c_double_p, c_double_p, c_double_p, c_double_p, c_double_p)


def _load_file(p):
    lib = ctypes.CDLL(p)
    _declare(lib)
    have = lib.mlip_api_version()
    if have < API_VERSION:
        raise OSError("%s: API version %d, this package needs %d or later" % (p, have, API_VERSION))
    return lib


def load():
    """The loaded library (a ctypes.CDLL), loading it on the first call.

    Raises OSError naming every place tried when no usable library is found.
    """
    global _lib, path
    with _lock:
        if _lib is not None:
            return _lib
        env = os.environ.get("MLIP_LIBRARY")
        if env:
            p = os.path.join(env, SONAME) if os.path.isdir(env) else env
            try:
                _lib, path = _load_file(p), p
            except (OSError, AttributeError) as e:
                raise OSError("MLIP_LIBRARY=%s: cannot load libmlip: %s" % (env, e)) from None
            return _lib
        tried = []
        for what, p in _candidates():
            if not os.path.exists(p):
                tried.append("%s (%s: missing)" % (p, what))
                continue
            try:
                _lib, path = _load_file(p), p
                return _lib
            except (OSError, AttributeError) as e:
                tried.append("%s (%s: %s)" % (p, what, e))
        name = ctypes.util.find_library("mlip")
        if name:
            try:
                _lib, path = _load_file(name), name
                return _lib
            except (OSError, AttributeError) as e:
                tried.append("%s (system: %s)" % (name, e))
        else:
            tried.append("no libmlip in the system's library path")
        raise OSError("cannot find %s; tried: %s. Build it with 'make shlib' or set "
                      "MLIP_LIBRARY to its path" % (SONAME, "; ".join(tried)))
