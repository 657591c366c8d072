"""ssm: state-space sequence model ops for PyTorch, from the ssm engine's C++/CUDA library.

``import ssm`` loads the ops library that this package carries (libssm_ops.so) into PyTorch's dispatcher, after
checking that it was built against the torch that is running: the library links torch's C++ ABI, which changes with
every torch release. The ops are then ``torch.ops.ssm.*``, with typed and documented wrappers in :mod:`ssm.ops`.
"""
from __future__ import annotations

import os

import torch

__all__ = ["__version__", "build_info", "library_path", "nn", "ops"]


def _release(version: str) -> str:
    """'2.11.0+cu130' -> '2.11.0': the part of a torch version that fixes its C++ ABI."""
    return version.split("+", 1)[0]


def _check_torch(built: dict, torch_version: str, torch_cuda: str | None) -> None:
    """Raises ImportError, naming both sides, when the running torch is not the one the library was built against."""
    if _release(built["torch"]) != _release(torch_version):
        raise ImportError(
            f"ssm {built['version']} was built against torch {built['torch']}, but this Python runs torch "
            f"{torch_version}: its ops library links torch's C++ ABI, which changes with every torch release. "
            f"Reinstall ssm against this torch (pip install --force-reinstall --no-deps <ssm source>) or install "
            f"torch=={_release(built['torch'])}.")
    if built["cuda"] and not torch_cuda:
        raise ImportError(
            f"ssm {built['version']} was built with its CUDA kernels (CUDA {built['cuda']}, torch {built['torch']}), "
            f"but this torch ({torch_version}) has no CUDA: install a CUDA build of torch {_release(built['torch'])}, "
            f"or reinstall ssm without its CUDA kernels (SSM_CUDA=OFF pip install --force-reinstall --no-deps <ssm "
            f"source>).")
    if built["cuda"] and torch_cuda and built["cuda"].split(".")[0] != torch_cuda.split(".")[0]:
        raise ImportError(
            f"ssm {built['version']} was built with CUDA {built['cuda']}, but this torch ({torch_version}) uses CUDA "
            f"{torch_cuda}: the CUDA runtime libraries differ between major versions. Reinstall ssm against this torch "
            f"(pip install --force-reinstall --no-deps <ssm source>).")


def _build_record() -> dict:
    try:  # an installed package: written into it by the build
        from . import _build_info as record
    except ImportError:
        try:  # an editable install (pip install -e .): the record lives in the build folder
            import _ssm_build_info as record  # type: ignore[no-redef]
        except ImportError:
            raise ImportError(
                "ssm: this copy of the package has no built ops library (it looks like the source folder "
                f"{os.path.dirname(__file__)}): install it with 'pip install .' or 'pip install -e .' from the ssm "
                "checkout") from None
    library = record.LIBRARY
    if not os.path.isabs(library):
        library = os.path.join(os.path.dirname(__file__), library)
    return {"version": record.VERSION, "torch": record.TORCH, "cuda": record.CUDA, "library": library}


def _load() -> dict:
    built = _build_record()
    _check_torch(built, torch.__version__, torch.version.cuda)
    if not os.path.isfile(built["library"]):
        raise ImportError(f"ssm: the ops library {built['library']} is missing: reinstall the package (for an "
                          "editable install, rebuild it with 'pip install -e .')")
    if not _registered_here(built["library"]):
        torch.ops.load_library(built["library"])
    # The library's own record must be the package's: a stale editable build or a second copy would say otherwise.
    expected = f"ssm {built['version']}; torch {_release(built['torch'])}; cuda {built['cuda'] or 'none'}"
    try:
        got = torch.ops.ssm.build_info()
    except (RuntimeError, AttributeError):
        got = "(no build record: a library older than this package)"
    if got != expected:
        raise ImportError(f"ssm: the loaded ops library ({torch.ops.ssm.library_path()}) says '{got}', but this "
                          f"package was built as '{expected}': rebuild it (pip install . or pip install -e .)")
    return built


def _registered_here(library: str) -> bool:
    try:
        return os.path.realpath(torch.ops.ssm.library_path()) == os.path.realpath(library)
    except (RuntimeError, AttributeError):
        return False


_built = _load()
__version__: str = _built["version"]


def build_info() -> dict:
    """What the loaded ops library was built as and against: {'version', 'torch', 'cuda' (None without CUDA
    kernels), 'library' (its path)}."""
    return dict(_built)


def library_path() -> str:
    """The path of the loaded ops library (libssm_ops.so), e.g. for torch.ops.load_library in a subprocess."""
    return _built["library"]


from . import ops  # noqa: E402  (after the library is loaded)
from . import nn  # noqa: E402
