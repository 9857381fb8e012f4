r"""Runs a config's sweep (`get_sweep(hyper)` in its file) locally, or writes a Slurm array job.

  python -m launch.sweep --config=configs/digits_cnn.py --root=/tmp/sweep        # one by one
  python -m launch.sweep --config=configs/digits_cnn.py --root=/tmp/sweep --slurm  # script only
  python -m launch.sweep ... --dry_run                                             # print commands
  python -m launch.sweep --config=configs/digits_sngp.py:shift --seeds=5 --root=DIR   # any config

--seeds=N crosses the config's sweep (or, for a config without get_sweep, its one run) with
seed = 0..N-1.

Each run i gets the workdir ROOT/<i>_<key=value,...> and the command
`python -m launch.train --config=<file>[:arg] --workdir=... --config.<key>=<value> ...`;
ROOT/commands.txt lists them. Locally, the runs go one after another (a finished run is only
re-evaluated, an interrupted one resumes), then `launch.report` writes ROOT/report/ comparing
them, runs that differ only in seed as mean ± std. --slurm writes ROOT/sweep.sbatch, an array
job with one task per command, and prints the `sbatch` line to submit it. The config file path is
checked and every run's config is built (so a bad key fails) before anything is written.
"""
import importlib.util
import os
import re
import shlex
import subprocess
import sys

from absl import app, flags

from launch import hyper

_CONFIG = flags.DEFINE_string("config", None, "Config file[:arg] that defines get_sweep(hyper).")
_ROOT = flags.DEFINE_string("root", None, "Folder for the runs' workdirs and the sweep's files.")
_SLURM = flags.DEFINE_bool("slurm", False, "Write a Slurm array-job script instead of running.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the commands only; write nothing.")
_SEEDS = flags.DEFINE_integer("seeds", 0, "Cross the sweep (or the config's one run, when it "
                              "defines no get_sweep) with seed = 0..N-1; 0: the sweep as defined.")
_SLURM_ARGS = flags.DEFINE_string("slurm_args", "--gres=gpu:1 --cpus-per-task=8 --time=04:00:00",
                                  "#SBATCH options for each array task.")
flags.mark_flags_as_required(["config", "root"])


def load_module(path: str):
  """The config file as a module (its get_config and, if defined, get_sweep)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--config: no config file {path!r}.")
  spec = importlib.util.spec_from_file_location(f"sweep_config_{abs(hash(path))}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _flag_value(value) -> str:
  if isinstance(value, (tuple, list)):
    return "(" + ",".join(_flag_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
  return str(value)


def run_name(index: int, overrides: dict) -> str:
  """ROOT-relative workdir name of run `index`: "<index>_<key=value,...>" made file-safe."""
  text = ",".join(f"{k.split('.')[-1]}={_flag_value(v)}" for k, v in overrides.items())
  return f"{index:03d}_" + re.sub(r"[^A-Za-z0-9=.,_-]+", "-", text)[:80]


def commands(config_flag: str, root: str, seeds: int = 0) -> list[tuple[str, list[str]]]:
  """[(workdir, python arguments)] of every run; each run's config is built to check it.

  seeds > 0 crosses the runs with seed = 0..seeds-1; a config without get_sweep then has one run.
  """
  if seeds < 0:
    raise ValueError(f"--seeds must be >= 0; got {seeds}.")
  path, _, arg = config_flag.partition(":")
  module = load_module(path)
  if hasattr(module, "get_sweep"):
    runs = module.get_sweep(hyper)
    if not runs:
      raise ValueError(f"{path}: get_sweep returned no runs.")
  elif seeds:
    runs = [{}]
  else:
    raise ValueError(f"--config: {path} defines no get_sweep(hyper); pass --seeds=N to run it "
                     "over N seeds.")
  if seeds:
    runs = hyper.product([runs, hyper.sweep("seed", range(seeds))])
  out = []
  for i, overrides in enumerate(runs):
    overrides = dict(overrides)
    run_arg = overrides.pop("arg", arg)
    config = module.get_config(run_arg or None)
    for key in overrides:  # A key the config lacks fails here, before anything runs.
      node = config
      for part in key.split("."):
        if part not in node:
          raise ValueError(f"{path}: sweep run {i} sets {key!r}, which the config does not have.")
        node = node[part]
    workdir = os.path.join(root, run_name(i, {**({"arg": run_arg} if run_arg != arg else {}),
                                              **overrides}))
    argv = ["-m", "launch.train",
            f"--config={path}" + (f":{run_arg}" if run_arg else ""), f"--workdir={workdir}",
            *(f"--config.{k}={_flag_value(v)}" for k, v in overrides.items())]
    out.append((workdir, argv))
  return out


def slurm_script(cmds: list[tuple[str, list[str]]], root: str, options: str) -> str:
  """A bash array-job script running command $SLURM_ARRAY_TASK_ID of commands.txt."""
  lines = ["#!/bin/bash", f"#SBATCH --array=0-{len(cmds) - 1}",
           f"#SBATCH --output={os.path.join(root, 'slurm-%A_%a.out')}",
           *(f"#SBATCH {o}" for o in shlex.split(options)), "set -euo pipefail",
           f"cd {shlex.quote(os.getcwd())}",
           f'cmd=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {shlex.quote(os.path.join(root, "commands.txt"))})',
           'eval "$cmd"']
  return "\n".join(lines) + "\n"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    cmds = commands(_CONFIG.value, _ROOT.value, _SEEDS.value)
  except (FileNotFoundError, ValueError) as e:
    raise SystemExit(f"rvjax: {type(e).__name__}: {e}") from e
  text = "".join(f"python {shlex.join(args)}\n" for _, args in cmds)
  if _DRY_RUN.value:
    print(text, end="")
    return
  os.makedirs(_ROOT.value, exist_ok=True)
  with open(os.path.join(_ROOT.value, "commands.txt"), "w") as f:
    f.write(text)
  if _SLURM.value:
    path = os.path.join(_ROOT.value, "sweep.sbatch")
    with open(path, "w") as f:
      f.write(slurm_script(cmds, _ROOT.value, _SLURM_ARGS.value))
    print(f"{len(cmds)} runs; submit with: sbatch {path}")
    return
  for i, (workdir, args) in enumerate(cmds):
    print(f"[{i + 1}/{len(cmds)}] python {shlex.join(args)}", flush=True)
    if subprocess.run([sys.executable, *args]).returncode:
      raise SystemExit(f"rvjax: run {i} failed; its workdir {workdir} resumes when the sweep "
                       "is rerun.")
  from rvjax import report
  workdirs = [w for w, _ in cmds]
  paths = report.write(workdirs[0], workdirs[1:], out_dir=os.path.join(_ROOT.value, "report"))
  print(f"Report: {paths['markdown']}")


if __name__ == "__main__":
  app.run(main)
