#!/usr/bin/env bash
# The Python package as a user installs it: a clean virtual environment that reuses the installed torch (a path
# file, no download), `pip install --no-index <checkout>`, the tests of test_installed.py against the installed copy
# (run from outside the checkout), then `pip install -e` and the same import from the sources.
#   tests/package/test_package.sh PYTHON WORK_DIR
set -euo pipefail
py=$1 work=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work" && mkdir -p "$work/run"
"$py" -m venv "$work/venv"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$py" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' >"$site/ssm-test-torch.pth"
vpy=$work/venv/bin/python
start=$(date +%s)
"$vpy" -m pip install --no-index --disable-pip-version-check -q "$root"
echo "[package] pip install took $(( $(date +%s) - start )) s"
cd "$work/run"
SSM_SOURCE_DIR=$root "$vpy" -m pytest -q -p no:cacheprovider "$root/tests/package/test_installed.py"

start=$(date +%s)
"$vpy" -m pip install --no-index --disable-pip-version-check -q -e "$root"
echo "[package] pip install -e took $(( $(date +%s) - start )) s"
"$vpy" - "$root" <<'PY'
import os, sys
import torch
import ssm
root = sys.argv[1]
assert ssm.__file__.startswith(os.path.join(root, "src", "python", "ssm")), ssm.__file__
assert ssm.library_path().startswith(os.path.join(root, "build-python")), ssm.library_path()
u, k = torch.randn(2, 3, 9, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
torch.testing.assert_close(ssm.ops.butterfly_conv(u, k), ssm.ops.fft_conv(u, k))
print("[package] editable install: sources", os.path.dirname(ssm.__file__), "library", ssm.library_path())
PY
"$vpy" -m pip uninstall -y -q ssm
