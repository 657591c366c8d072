# Sourced by the scripts: where the Python environment with LibTorch lives.
SSM_DEPS=${SSM_DEPS:-/opt/ssm-deps}
SSM_PY=${SSM_PY:-$SSM_DEPS/venv/bin/python}
SSM_TORCH_PREFIX=$("$SSM_PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
export SSM_DEPS SSM_PY SSM_TORCH_PREFIX
