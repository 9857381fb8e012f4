r"""Writes the offline unpaired low-light set (rvjax.data.lowlight) the low-light configs read.

  python -m launch.prepare_lowlight --output=/tmp/lowlight
  python -m launch.train --config=configs/lowlight_zerodce.py:data=/tmp/lowlight --workdir=W
"""
from absl import app, flags

from rvjax.data import lowlight

_OUTPUT = flags.DEFINE_string("output", None, "A new (or empty) folder for A/, B/ and test/.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the darkening (exposure, gamma, noise).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    counts = lowlight.prepare(_OUTPUT.value, seed=_SEED.value)
  except ValueError as e:
    raise SystemExit(f"rvjax: ValueError: {e}") from e
  print(", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
  flags.mark_flags_as_required(["output"])
  app.run(main)
