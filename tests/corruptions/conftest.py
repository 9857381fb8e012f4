"""Sample photos for the corruption tests, and the imagecorruptions reference package."""
import importlib.util
import os
import sys
import types

import numpy as np
import pytest
from skimage import data, transform


def _photo(image, size):
  """A scikit-image sample photo resized to size x size, on the 8-bit grid (uint8)."""
  small = transform.resize(image, (size, size), anti_aliasing=True)
  return np.round(small * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def photos32():
  """(2, 32, 32, 3) float32 in [0, 1]: astronaut and coffee."""
  photos = np.stack([_photo(data.astronaut(), 32), _photo(data.coffee(), 32)])
  return photos.astype(np.float32) / 255


@pytest.fixture(scope="session")
def photos224_u8():
  """(2, 224, 224, 3) uint8: astronaut and chelsea, as imagecorruptions takes them."""
  return np.stack([_photo(data.astronaut(), 224), _photo(data.chelsea(), 224)])


@pytest.fixture(scope="session")
def ic_module():
  """`imagecorruptions.corruptions`, with its skimage call adapted to skimage >= 0.19.

  The package passes `multichannel=True` to skimage.filters.gaussian, which newer skimage
  renamed `channel_axis=-1`; the shim only translates that argument. It also imports
  `pkg_resources.resource_filename` (for its frost photos), gone from setuptools >= 81: a
  stand-in module supplies that one function when pkg_resources is missing.
  """
  with pytest.MonkeyPatch.context() as mp:
    if importlib.util.find_spec("pkg_resources") is None:
      shim = types.ModuleType("pkg_resources")
      shim.resource_filename = lambda package, path: os.path.join(
          os.path.dirname(sys.modules[package].__file__), path)
      mp.setitem(sys.modules, "pkg_resources", shim)
    icc = pytest.importorskip("imagecorruptions.corruptions")
    from skimage import filters

    def gaussian(*args, multichannel=None, **kwargs):
      if multichannel:
        kwargs["channel_axis"] = -1
      return filters.gaussian(*args, **kwargs)

    mp.setattr(icc, "gaussian", gaussian)
    yield icc


@pytest.fixture(scope="session")
def ic_corrupt(ic_module):
  """`imagecorruptions.corrupt` (uint8 image in, uint8 image out), adapted as `ic_module`."""
  import imagecorruptions
  return imagecorruptions.corrupt
