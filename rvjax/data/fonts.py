"""Digit glyphs from a TrueType/OpenType font on the machine, rendered with Pillow (optional).

The renderer's default source are the stroke skeletons of rvjax.data.glyphs, which need no files;
`glyph_images` is the optional second source: `synthetic.render(..., glyph_images=...)` then
warps these bitmaps instead of drawing strokes (thickness and jitter act on strokes only).
"""
import os

import numpy as np


def glyph_images(font_path: str, size: int = 64) -> np.ndarray:
  """(10, size, size) float32 ink in [0, 1] of the digits 0-9 in `font_path`, each glyph's
  bounding box centred and scaled to fill the square's height (width kept in proportion).

  Raises:
    FileNotFoundError: `font_path` does not exist. ImportError: Pillow is not installed.
  """
  if not os.path.isfile(font_path):
    raise FileNotFoundError(f"Font file {font_path!r} does not exist (list fonts with fc-list).")
  try:
    from PIL import Image, ImageDraw, ImageFont
  except ImportError as e:
    raise ImportError("Font glyphs need Pillow: pip install 'rvjax[fonts]'.") from e
  font = ImageFont.truetype(font_path, 4 * size)
  out = np.zeros((10, size, size), np.float32)
  for d in range(10):
    canvas = Image.new("L", (6 * size, 6 * size), 0)
    ImageDraw.Draw(canvas).text((size, size), str(d), fill=255, font=font)
    box = canvas.getbbox()
    if box is None:
      raise ValueError(f"Font {font_path!r} has no visible glyph for {d!r}.")
    glyph = canvas.crop(box)
    scale = size / glyph.height
    width = max(1, min(size, round(glyph.width * scale)))
    glyph = glyph.resize((width, size), Image.Resampling.BOX)
    left = (size - width) // 2
    out[d, :, left:left + width] = np.asarray(glyph, np.float32) / 255.0
  return out
