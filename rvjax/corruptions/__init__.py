"""ImageNet-C / CIFAR-10-C common corruptions (Hendrycks & Dietterich, 2019), on device in JAX.

    x_c = rvjax.corruptions.corrupt(x, "fog", 3, key=key, table="cifar10")

`NAMES` lists the 19 corruptions (15 benchmark + 4 extra); `corrupt` is batched and jit-compatible
with `name`, `severity` and `table` static. Parameters live in `tables`; families in `noise`,
`blur`, `weather`, `digital`; shared array primitives in `imaging`. Each family module's
docstring lists how it differs from the published ImageMagick / OpenCV / Pillow recipes.
"""
from rvjax.corruptions.suite import COMMON, EXTRA, NAMES, RANDOM, corrupt, parameters
from rvjax.corruptions.tables import REFERENCE_SIZE, TABLES

__all__ = ["COMMON", "EXTRA", "NAMES", "RANDOM", "REFERENCE_SIZE", "TABLES", "corrupt",
           "parameters"]
