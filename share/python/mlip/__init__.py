"""mlip: evaluate trained mlip potentials from Python, over libmlip.so.1.

    from mlip import MLIPCalculator       # an ASE calculator
    atoms.calc = MLIPCalculator("run/inference_ckpt.mlip", threads=2)

    import mlip                           # no ASE needed
    m = mlip.Model("run/inference_ckpt.mlip")
    r = m.compute(numbers, positions, cell, pbc)   # energy, forces, stress, ...

Model       an open model: cutoff, elements, heads, compute()
MLIPCalculator
            ase.calculators.calculator.Calculator over a Model (imported on
            first use, so that mlip.Model works without ASE)
MLIPError   a failed library call, with the library's message
version(), library_path()
            the library's version string and the file it was loaded from

The library is found through MLIP_LIBRARY, the install layout, the source
tree or the system's library path, in that order (see mlip._lib).
"""
from .model import MLIPError, Model, library_path, version

__all__ = ["MLIPCalculator", "MLIPError", "Model", "library_path", "version"]


def __getattr__(name):
    if name == "MLIPCalculator":
        from .calculator import MLIPCalculator
        return MLIPCalculator
    raise AttributeError("module 'mlip' has no attribute %r" % name)
