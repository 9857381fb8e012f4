r"""Downloads and prepares a tfds dataset as array_record, on a machine with internet.

  python -m launch.prepare_data --dataset=cifar10 --data_dir=~/tensorflow_datasets

Copy the resulting directory to the training machine and pass it as --config.data.data_dir.
rvjax itself never downloads at run time. Preparing needs TensorFlow installed on this machine
(`pip install tensorflow`), which training does not.
"""
from absl import app, flags

from rvjax.data import tfds_sets

_DATASET = flags.DEFINE_string("dataset", None, "A tfds name, e.g. cifar10 or cifar10_corrupted.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Where to write the prepared dataset.")
flags.mark_flags_as_required(["dataset", "data_dir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  import tensorflow_datasets as tfds
  name = _DATASET.value
  if name.split("/")[0] not in tfds_sets.NAMES + ("cifar10_corrupted",):
    raise app.UsageError(f"Unknown dataset {name!r}; rvjax reads {tfds_sets.NAMES} and "
                         "cifar10_corrupted/<corruption>_<severity>.")
  builder = tfds.builder(name, data_dir=_DATA_DIR.value, file_format="array_record")
  builder.download_and_prepare()
  print(f"Prepared {name} as array_record in {builder.data_dir}")


if __name__ == "__main__":
  app.run(main)
