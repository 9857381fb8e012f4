"""Sweep building blocks for a config's `get_sweep(hyper)`: each returns a list of override dicts.

  def get_sweep(hyper):
    return hyper.product([hyper.sweep("seed", range(5)),
                          hyper.sweep("optimizer.lr", [1e-3, 3e-3])])

Keys are config fields as `--config.<key>` takes them ("seed", "optimizer.lr"); the key "arg"
replaces the config's argument (the text after the colon, e.g. "row=asg,tiny").
"""
import itertools


def fixed(key: str, value) -> list[dict]:
  """One setting for every run."""
  return [{key: value}]


def sweep(key: str, values) -> list[dict]:
  """One run per value of `key`."""
  return [{key: v} for v in values]


def product(sweeps) -> list[dict]:
  """Every combination of the given sweeps (the last varies fastest)."""
  return [_merge(combo) for combo in itertools.product(*sweeps)]


def zipit(sweeps) -> list[dict]:
  """The i-th settings of each sweep together; the sweeps must be equally long."""
  sweeps = list(sweeps)
  lengths = {len(s) for s in sweeps}
  if len(lengths) > 1:
    raise ValueError(f"hyper.zipit needs sweeps of one length; got lengths {sorted(lengths)}.")
  return [_merge(combo) for combo in zip(*sweeps)]


def chainit(sweeps) -> list[dict]:
  """The runs of each sweep, one sweep after another."""
  return [dict(d) for s in sweeps for d in s]


def _merge(dicts) -> dict:
  out = {}
  for d in dicts:
    clash = set(out) & set(d)
    if clash:
      raise ValueError(f"hyper: key(s) {sorted(clash)} set twice in one run.")
    out.update(d)
  return out
