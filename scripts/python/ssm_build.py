"""The build backend of the ssm Python package (PEP 517 and PEP 660; pyproject.toml names it).

``pip install .`` builds the ops library (libssm_ops.so, target ssm_ops of the top-level CMakeLists.txt) against the
torch that is installed in the environment pip installs into, and packs it with the Python sources of src/python/ssm
into a wheel; ``pip install -e .`` builds the library in place and installs a path file that points at the sources
and the build folder. No build requirement is downloaded: the backend needs only cmake (and ninja, when present),
a C++17 compiler and, for the CUDA kernels, nvcc.

Settings (``pip install . --config-settings=KEY=VALUE`` or the environment):
  build-dir / SSM_PY_BUILD_DIR   the CMake build folder (default: build-python/ in the checkout; kept, so that
                                 rebuilds are incremental and ccache is used as in the regular build)
  cuda / SSM_CUDA                AUTO (default: the CUDA kernels when nvcc is found), ON or OFF
  jobs / SSM_PY_BUILD_JOBS       parallel compile jobs (default: CMake's)
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "python" / "ssm"
NAME = "ssm"
SUMMARY = "State-space sequence model ops (S4D, FFT and butterfly convolutions, S5 and selective scans) for PyTorch"


class BuildError(RuntimeError):
    pass


def _version() -> str:
    m = re.search(r"project\(\s*ssm\s+VERSION\s+([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    if not m:
        raise BuildError(f"ssm build: no 'project(ssm VERSION ...)' in {ROOT / 'CMakeLists.txt'}")
    return m.group(1)


def _setting(config_settings, key: str, env: str, default: str | None = None) -> str | None:
    if config_settings and config_settings.get(key) not in (None, ""):
        return str(config_settings[key])
    return os.environ.get(env, default) or default


def _torch() -> dict:
    """The torch of the environment being installed into. pip's isolated build environment hides it from this
    process (through PYTHONPATH and PYTHONNOUSERSITE), so ask the same interpreter without them."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONSAFEPATH")}
    code = ("import json, torch, torch.utils; print(json.dumps({'version': torch.__version__, "
            "'cuda': torch.version.cuda, 'cmake_prefix_path': torch.utils.cmake_prefix_path}))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=str(ROOT))
    if r.returncode != 0:
        raise BuildError(
            f"ssm build: ssm builds its ops against the torch installed in this environment ({sys.executable}), "
            f"and importing torch failed there:\n{r.stderr.strip()[-2000:]}\nInstall torch first "
            "(e.g. pip install torch==2.11.0).")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _run(cmd: list[str], log: list[str]) -> None:
    log.append(" ".join(cmd))
    print("[ssm build] " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, cwd=str(ROOT), stdout=sys.stderr, stderr=sys.stderr)
    if r.returncode != 0:
        raise BuildError(f"ssm build: command failed with exit code {r.returncode}: {' '.join(cmd)}")


def _build(config_settings) -> tuple[Path, dict]:
    """Configure and build ssm_ops; returns (the library, the build record)."""
    torch_info = _torch()
    build_dir = Path(_setting(config_settings, "build-dir", "SSM_PY_BUILD_DIR", str(ROOT / "build-python")))
    if not build_dir.is_absolute():
        build_dir = ROOT / build_dir
    cuda = _setting(config_settings, "cuda", "SSM_CUDA", "AUTO").upper()
    if cuda not in ("AUTO", "ON", "OFF"):
        raise BuildError(f"ssm build: setting 'cuda' (SSM_CUDA) must be AUTO, ON or OFF, got '{cuda}'")
    if shutil.which("cmake") is None:
        raise BuildError("ssm build: cmake (>= 3.24) is not on PATH: install it (apt-get install cmake, or "
                         "pip install cmake) and retry")
    log: list[str] = []
    configure = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                 f"-DCMAKE_PREFIX_PATH={torch_info['cmake_prefix_path']}", "-DSSM_BUILD_TESTS=OFF",
                 "-DSSM_PYTHON_PACKAGE=ON", f"-DSSM_CUDA={cuda}"]
    if shutil.which("ninja") and not (build_dir / "CMakeCache.txt").exists():
        configure += ["-G", "Ninja"]
    _run(configure, log)
    build = ["cmake", "--build", str(build_dir), "--target", "ssm_ops"]
    jobs = _setting(config_settings, "jobs", "SSM_PY_BUILD_JOBS")
    if jobs:
        build += ["--parallel", jobs]
    _run(build, log)
    library = build_dir / "libssm_ops.so"
    if not library.is_file():
        raise BuildError(f"ssm build: the build finished without {library}")
    built = dict(line.split("=", 1) for line in (build_dir / "ssm_build_record.txt").read_text().splitlines() if line)
    if built["version"] != _version():
        raise BuildError(f"ssm build: {build_dir} built ssm {built['version']}, the sources are {_version()}")
    if built["torch"] != torch_info["version"].split("+", 1)[0]:
        raise BuildError(f"ssm build: {build_dir} was configured with torch {built['torch']}, but this environment "
                         f"has torch {torch_info['version']}: remove {build_dir} and build again")
    cuda_version = built["cuda"] or None
    record = {"version": _version(), "torch": torch_info["version"], "cuda": cuda_version, "build_dir": build_dir}
    return library, record


def _record_source(record: dict, library: str) -> str:
    return ("# Written by the ssm build (scripts/python/ssm_build.py): what the ops library was built against.\n"
            f"VERSION = {record['version']!r}\nTORCH = {record['torch']!r}\nCUDA = {record['cuda']!r}\n"
            f"LIBRARY = {library!r}\n")


def _tag() -> str:
    return "py3-none-" + re.sub(r"[-.]", "_", sysconfig.get_platform())


def _metadata(record: dict) -> str:
    release = record["torch"].split("+", 1)[0]
    readme = (ROOT / "README.md").read_text()
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {record['version']}\nSummary: {SUMMARY}\n"
            f"Requires-Python: >=3.9\nRequires-Dist: torch=={release}\nDescription-Content-Type: text/markdown\n\n"
            f"{readme}")


class _Wheel:
    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.records: list[str] = []

    def add(self, name: str, data: bytes, executable: bool = False) -> None:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if executable else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self.records.append(f"{name},sha256={digest},{len(data)}")

    def close(self, dist_info: str) -> None:
        self.records.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, "\n".join(self.records) + "\n")
        self.zip.close()


def _python_sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if "__pycache__" in rel or path.name == "_build_info.py":
            continue
        yield rel, path.read_bytes()


def _write_wheel(wheel_directory: str, record: dict, files: list[tuple[str, bytes, bool]]) -> str:
    dist_info = f"{NAME}-{record['version']}.dist-info"
    name = f"{NAME}-{record['version']}-{_tag()}.whl"
    wheel = _Wheel(Path(wheel_directory) / name)
    for arcname, data, executable in files:
        wheel.add(arcname, data, executable)
    wheel.add(f"{dist_info}/METADATA", _metadata(record).encode())
    wheel.add(f"{dist_info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: ssm_build\nRoot-Is-Purelib: false\n"
                                     f"Tag: {_tag()}\n").encode())
    wheel.close(dist_info)
    return name


# ---- PEP 517 -----------------------------------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    library, record = _build(config_settings)
    files = [(rel, data, False) for rel, data in _python_sources()]
    files.append(("ssm/_build_info.py", _record_source(record, "lib/libssm_ops.so").encode(), False))
    files.append(("ssm/lib/libssm_ops.so", library.read_bytes(), True))
    return _write_wheel(wheel_directory, record, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """The sources stay in src/python/ssm and the library in the build folder: a path file puts both on sys.path
    (the build record as the module _ssm_build_info). After editing C++ sources, rebuild with 'pip install -e .'
    again (or cmake --build <build-dir> --target ssm_ops)."""
    library, record = _build(config_settings)
    editable = record["build_dir"] / "python-editable"
    editable.mkdir(parents=True, exist_ok=True)
    target = editable / "_ssm_build_info.py"
    tmp = editable / "_ssm_build_info.py.tmp"
    tmp.write_text(_record_source(record, str(library.resolve())))
    os.replace(tmp, target)
    pth = f"{PACKAGE.parent.resolve()}\n{editable.resolve()}\n"
    return _write_wheel(wheel_directory, record, [(f"_{NAME}_editable.pth", pth.encode(), False)])


def build_sdist(sdist_directory, config_settings=None):
    """The files git tracks (the checkout as a clone has it), under ssm-<version>/, with PKG-INFO."""
    version = _version()
    r = subprocess.run(["git", "ls-files", "-z"], cwd=str(ROOT), capture_output=True)
    if r.returncode != 0:
        raise BuildError("ssm build: an sdist is made from a git checkout (git ls-files failed)")
    names = [n for n in r.stdout.decode().split("\0") if n]
    base = f"{NAME}-{version}"
    path = Path(sdist_directory) / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for n in names:
            if (ROOT / n).is_file():
                tar.add(str(ROOT / n), arcname=f"{base}/{n}", recursive=False)
        meta = _metadata({"version": version, "torch": _torch()["version"]}).encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    return path.name
