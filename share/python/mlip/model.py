"""mlip.Model: one open mlip model (an inference checkpoint) over libmlip.

Needs numpy only; the ASE calculator (mlip.calculator) is built on it.
"""
import ctypes
import os
import threading

import numpy as np

from . import _lib

# mlip.h enum mlip_status
STATUS_NAMES = {
    0: "MLIP_OK",
    -1: "MLIP_EINVAL",
    -2: "MLIP_EDATA",
    -3: "MLIP_EIO",
    -4: "MLIP_ENOMEM",
    -5: "MLIP_EPLUGIN",
    -6: "MLIP_ERUN",
}


class MLIPError(RuntimeError):
    """A failed libmlip call.

    str(error) is the library's message (mlip_errmsg, or mlip_open's message,
    which names the file); .status is the negative mlip.h status and
    .status_name its name, e.g. "MLIP_EDATA" for an element the model does
    not know.
    """

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.status_name = STATUS_NAMES.get(status, "status %d" % status)
        self.message = message


def _c(arr, ctype):
    return arr.ctypes.data_as(ctypes.POINTER(ctype))


class Model:
    """An mlip model opened from an inference checkpoint (model.mlip).

    Model(path, head=None, threads=None)

    path     the inference checkpoint (RUN/inference_ckpt.mlip, or what
             mlip-ckpt-convert wrote); a training checkpoint directory is
             refused by the library.
    head     the output head to evaluate (a name from .heads); None: the
             model's first head, as mlip-eval.
    threads  OpenMP threads per evaluation; None or 0: OMP_NUM_THREADS if
             set, else 1. Results do not depend on it.

    Raises MLIPError (the message names the file) when the model cannot be
    opened, and OSError when libmlip itself cannot be found (see mlip._lib).

    One Model may be shared between Python threads: calls on it are
    serialised, since a libmlip handle serves one thread at a time. Use
    one Model per thread to evaluate concurrently.

    Example:
        m = mlip.Model("run/inference_ckpt.mlip")
        r = m.compute([14, 14], [[0, 0, 0], [1.3575, 1.3575, 1.3575]],
                      cell=[[0, 2.715, 2.715], [2.715, 0, 2.715], [2.715, 2.715, 0]], pbc=True)
        r["energy"], r["forces"], r["stress"]
    """

    def __init__(self, path, head=None, threads=None):
        self._h = None
        self._lock = threading.Lock()
        lib = _lib.load()
        self.path = os.fspath(path)
        h = _lib.handle_p()
        msg = ctypes.create_string_buffer(1024)
        st = lib.mlip_open(os.fsencode(self.path), ctypes.byref(h), msg, len(msg))
        if st < 0:
            text = msg.value.decode("utf-8", "replace")
            # the library's message names the file; keep that promise even
            # if it ever comes back empty
            raise MLIPError(st, text or "%s: cannot open (%s)" % (self.path, STATUS_NAMES.get(st, st)))
        self._lib = lib
        self._h = h
        self.cutoff = lib.mlip_cutoff(h)
        self.elements = tuple(lib.mlip_element(h, k) for k in range(lib.mlip_n_elements(h)))
        self.heads = tuple(lib.mlip_head_name(h, k).decode("utf-8")
                           for k in range(lib.mlip_n_heads(h)))
        self.head = self.heads[0] if self.heads else None
        if head is not None:
            self.set_head(head)
        if threads is not None:
            self.set_threads(threads)

    # -- lifecycle ---------------------------------------------------------

    def close(self):
        """Release the library handle (idempotent); the Model is unusable after."""
        with self._lock:
            if self._h is not None:
                self._lib.mlip_close(self._h)
                self._h = None

    def __del__(self):
        # no lock: nothing else can hold a reference; _h is None when
        # __init__ failed before the handle was opened
        if getattr(self, "_h", None) is not None:
            self._lib.mlip_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "Model(%r, head=%r)" % (self.path, self.head)

    def _handle(self):
        if self._h is None:
            raise ValueError("mlip.Model %r is closed" % self.path)
        return self._h

    def _check(self, st):
        # called with the lock held: the message is valid until the next call
        if st < 0:
            raise MLIPError(st, self._lib.mlip_errmsg(self._h).decode("utf-8", "replace"))

    # -- settings ----------------------------------------------------------

    def set_head(self, name):
        """Evaluate head `name` from now on (None: the first head).

        Raises MLIPError (MLIP_EINVAL, the message lists the heads) for a
        head the model does not have.
        """
        if name is None:
            name = self.heads[0]
        with self._lock:
            self._check(self._lib.mlip_set_head(self._handle(), str(name).encode("utf-8")))
            self.head = str(name)

    def set_threads(self, n):
        """OpenMP threads per evaluation: n > 0, or 0 / None for the default."""
        n = 0 if n is None else int(n)
        if n < 0:
            raise ValueError("threads must be >= 0, got %d" % n)
        with self._lock:
            self._check(self._lib.mlip_set_threads(self._handle(), n))

    @property
    def energy_shift(self):
        """The constant the current head adds once per structure (eV)."""
        with self._lock:
            return self._lib.mlip_energy_shift(self._handle())

    # -- evaluation --------------------------------------------------------

    def compute(self, numbers, positions, cell=None, pbc=False, stress=True, atomic_energies=True,
                head=None):
        """Energy, forces, stress, virial and per-atom energies of one structure.

        numbers    (n,) atomic numbers (any integer dtype)
        positions  (n, 3) Å, Cartesian; atoms need not lie inside the cell
        cell       (3, 3) rows a, b, c in Å (an ase.Cell works); needed when
                   any axis is periodic, ignored otherwise
        pbc        a bool or three, one per cell vector
        stress, atomic_energies
                   False skips that output (its key is then None)
        head       evaluate this head (and keep it for later calls), switched
                   in the same locked call, so that users of one shared
                   Model with different heads do not race; None: the
                   current head

        Returns a dict of numpy arrays (fresh copies):
          energy           float, eV
          forces           (n, 3) eV/Å, -dE/dr
          stress           (3, 3) eV/Å³, ASE's sign (positive = tensile), or
                           None when no axis is periodic
          virial           (3, 3) eV, -sum r_e (x) dE/dr_e over the model's edges
          energies         (n,) eV, per-atom energies; they sum to energy
                           less energy_shift (the library's convention)
          energy_shift     float, eV

        The results equal mlip-eval's for the same structure. Raises
        MLIPError with the library's message for bad data (an element the
        model does not know, atoms on top of each other, a singular cell,
        non-finite coordinates) and ValueError for arrays of the wrong shape.
        """
        num = np.ascontiguousarray(numbers, dtype=np.intc)
        pos = np.ascontiguousarray(positions, dtype=np.float64)
        if num.ndim != 1:
            raise ValueError("numbers: expected a 1-d array, got shape %s" % (num.shape,))
        n = num.shape[0]
        if pos.shape != (n, 3):
            raise ValueError("positions: expected shape (%d, 3), got %s" % (n, pos.shape))
        if np.any(num != np.asarray(numbers)):
            raise ValueError("numbers: values do not fit a C int")
        p = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
        periodic = bool(p.any())
        pbc_c = np.ascontiguousarray(p, dtype=np.intc)
        cell_c = None
        if periodic:
            if cell is None:
                raise ValueError("cell: required when an axis is periodic (pbc=%s)" % (p.tolist(),))
            cell_c = np.ascontiguousarray(np.asarray(cell, dtype=np.float64))
            if cell_c.shape != (3, 3):
                raise ValueError("cell: expected shape (3, 3), got %s" % (cell_c.shape,))
        # With no periodic axis the cell means nothing to the energy, so it
        # is not passed at all: a zero cell (ASE's default) is then no error.

        energy = ctypes.c_double()
        forces = np.empty((n, 3), dtype=np.float64)
        virial = np.empty((3, 3), dtype=np.float64)
        want_stress = stress and periodic
        stress_a = np.empty((3, 3), dtype=np.float64) if want_stress else None
        eat = np.empty(n, dtype=np.float64) if atomic_energies else None
        with self._lock:
            h = self._handle()
            if head is not None and head != self.head:
                self._check(self._lib.mlip_set_head(h, str(head).encode("utf-8")))
                self.head = str(head)
            self._check(self._lib.mlip_compute(
                h, n, _c(num, ctypes.c_int), _c(pos, ctypes.c_double),
                None if cell_c is None else _c(cell_c, ctypes.c_double),
                _c(pbc_c, ctypes.c_int), ctypes.byref(energy), _c(forces, ctypes.c_double),
                None if stress_a is None else _c(stress_a, ctypes.c_double),
                _c(virial, ctypes.c_double), None if eat is None else _c(eat, ctypes.c_double)))
            shift = self._lib.mlip_energy_shift(h)
        return {"energy": energy.value, "forces": forces, "stress": stress_a,
                "virial": virial, "energies": eat, "energy_shift": shift}


def version():
    """The library's version string, e.g. "0.1.0"."""
    return _lib.load().mlip_version().decode("ascii")


def library_path():
    """The file libmlip was loaded from (loading it if need be)."""
    _lib.load()
    return _lib.path
