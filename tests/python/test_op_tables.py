"""Every op's Python checks from its case table (src/ops/<op>/cases.cpp, through torch.ops.ssm_cases): the rows
marked for Python run torch.library.opcheck with all its default checks and torch.autograd.gradcheck in float64 on
the CPU, and opcheck in the table's first CUDA dtype when a GPU is present."""
import json
import os

import pytest
import torch

LIB = os.environ.get("SSM_OPS_LIBRARY")
CASES_LIB = os.environ.get("SSM_CASES_LIBRARY")
if not LIB or not CASES_LIB:
    pytest.skip("SSM_OPS_LIBRARY / SSM_CASES_LIBRARY are not set (ctest sets them)", allow_module_level=True)
torch.ops.load_library(LIB)
torch.ops.load_library(CASES_LIB)
PYTHON = 32  # ssm::cases::kPython
TABLES = json.loads(torch.ops.ssm_cases.tables())
ROWS = [(t["op"], c) for t in TABLES for c in t["cases"] if c["uses"] & PYTHON]
DTYPES = {t["op"]: t for t in TABLES}


def build(template, tensors):
    """The op's arguments from the table's JSON template: "tN" is tensor N, lists recurse, the rest is literal."""
    if isinstance(template, list):
        return [build(x, tensors) for x in template]
    if isinstance(template, str) and template.startswith("t"):
        return tensors[int(template[1:])]
    return template


def flat_tensors(args):
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, list):
            out.extend(flat_tensors(a))
    return out


def case_args(op, case, dtype, device="cpu"):
    """The row's arguments; floating tensors require grad (integer ones, such as lengths, cannot)."""
    tensors = [None if t is None else t.to(device).requires_grad_(t.is_floating_point() or t.is_complex())
               for t in torch.ops.ssm_cases.inputs(op, case["index"], dtype)]
    return build(case["args"], tensors)


def test_every_op_has_python_rows():
    ops_with_rows = {op for op, _ in ROWS}
    assert ops_with_rows == {t["op"] for t in TABLES} and len(TABLES) >= 6


@pytest.mark.parametrize("op,case", ROWS, ids=[f"{op}-{c['label']}" for op, c in ROWS])
def test_opcheck_and_gradcheck(op, case):
    fn = getattr(torch.ops.ssm, op)
    for dtype in (torch.float64, torch.complex128):
        if DTYPES[op]["dtypes"].count(str(dtype).replace("torch.", "")) == 0:
            continue
        args = case_args(op, case, dtype)
        torch.library.opcheck(fn, args)
        leaves = [t for t in flat_tensors(args) if t.requires_grad]

        def call(*xs):
            it = iter(xs)
            take = lambda a: next(it) if isinstance(a, torch.Tensor) and a.requires_grad else a  # noqa: E731
            rebuilt = [[take(x) for x in a] if isinstance(a, list) else take(a) for a in args]
            return fn(*rebuilt)

        assert torch.autograd.gradcheck(call, tuple(leaves))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: GPU opcheck skipped")
@pytest.mark.parametrize("op,case", ROWS, ids=[f"{op}-{c['label']}" for op, c in ROWS])
def test_opcheck_cuda(op, case):
    dtype = getattr(torch, DTYPES[op]["cuda_dtypes"][0])
    torch.library.opcheck(getattr(torch.ops.ssm, op), case_args(op, case, dtype, "cuda"))
