"""Every config.yaml that `ssm train` writes is valid YAML to a standard reader: no key twice in a mapping (PyYAML
would keep the last silently; this loader refuses), and the values it reads are the ones the run used.

usage: python check_resolved_yaml.py SSM_BINARY WORK_DIR
"""
import shutil
import subprocess
import sys
from pathlib import Path

import yaml


class StrictLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def leaf(tree, path):
    for part in path.split("."):
        tree = tree[part]
    return tree


def main():
    ssm, work = sys.argv[1], Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)  # a fresh folder each time: runs refuse folders with checkpoints
    work.mkdir(parents=True)
    data = work / "listops"
    subprocess.run([ssm, "data", "listops", "--out", str(data), "--train", "40", "--val", "8", "--test", "8",
                    "--min-length", "10", "--max-length", "40"], check=True, capture_output=True)
    config = work / "tiny.yaml"
    config.write_text(f"data:\n  task: listops\n  root: {data}\n  batch_size: 8\nmodel:\n  d_model: 8\n"
                      "  n_layers: 1\n  d_state: 4\ntrainer:\n  max_steps: 1\n  threads: 1\n")
    # Each layer with a key of its own set, a quoted string with ': ' in it, and a bool.
    cases = {
        "s4d": ["model.s4d.dt_max=0.05"],
        "s5": ["model.s5.blocks=2", "model.s5.discretization=bilinear"],
        "longconv": ["model.longconv.max_length=64"],
        "mamba": ["model.mamba.expand=1"],
        "chimera": ["model.bidirectional=false", "model.chimera.season_lag=3"],
    }
    failures = 0
    for layer, sets in cases.items():
        out = work / f"run-{layer}"
        args = [ssm, "train", str(config), "--quiet", "--set", f"model.layer={layer}",
                "--set", f"trainer.out_dir={out}"]
        for s in sets:
            args += ["--set", s]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            if "unknown key" in r.stderr:  # a key of this list that the layer does not have: fix the list
                print(f"FAIL {layer}: {r.stderr.strip()}")
                failures += 1
                continue
            print(f"FAIL {layer}: ssm train exited {r.returncode}: {r.stderr.strip()}")
            failures += 1
            continue
        try:
            tree = yaml.load((out / "config.yaml").read_text(), Loader=StrictLoader)
        except yaml.YAMLError as e:
            print(f"FAIL {layer}: {out / 'config.yaml'}: {e}")
            failures += 1
            continue
        expected = {"model.layer": layer, "trainer.out_dir": str(out), "data.task": "listops"}
        for s in sets:
            k, v = s.split("=", 1)
            expected[k] = v
        for k, v in expected.items():
            got = leaf(tree, k)
            if str(got).lower() != v.lower() and not (isinstance(got, float) and float(v) == got):
                print(f"FAIL {layer}: {k} reads {got!r}, the run used {v!r}")
                failures += 1
        print(f"ok {layer}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
