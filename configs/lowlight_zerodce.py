r"""Zero-reference low-light enhancement (Zero-DCE, Guo et al. 2020) on the offline unpaired set.

  python -m launch.prepare_lowlight --output=/tmp/lowlight
  python -m launch.train --config=configs/lowlight_zerodce.py:data=/tmp/lowlight --workdir=W

DCE-Net (7 convs, 32 channels, 8 quadratic curve iterations) trained on 64x64 RGB patches of
set A (darkened photos, rvjax.data.lowlight) with the four non-reference losses (spatial
consistency, exposure 0.6, color constancy x0.5, illumination smoothness x20); set B is not
read by this objective. Adam lr 1e-4, weight decay 1e-4, batch 8 (the paper's settings).
Evaluated on the held-out Set5 photos darkened with fixed keys (exposure 0.15, gamma 2): PSNR and
SSIM against the clean photos and NIQE (this project's Train400 fit). `budget=M` sizes the run
for M minutes of a shared 2-core CPU; `:tiny` runs 3 steps of a 2-iteration net (tests).
"""
from configs import common, image_tasks

CPU_SECONDS_PER_STEP = 0.35  # batch 8, 64x64, measured on the shared 2-core CPU
DARK = image_tasks.degrade_spec("rvjax.degrade.low_light", exposure=0.15, gamma=2.0)


def lowlight_data(c, data: str) -> None:
  """Points an unpaired config at a `launch.prepare_lowlight` folder."""
  if not data:
    raise ValueError("Config arg data is required: the folder written by "
                     "`python -m launch.prepare_lowlight --output=DIR` (pass data=DIR).")
  c.data.kwargs.folders = {"train": f"{data}/A", "test": f"{data}/test"}
  c.data.kwargs.reference = f"{data}/B"


def get_config(arg=None):
  arg = common.parse_arg(arg, tiny=False, data="", budget=0.0)
  c = image_tasks.folder_task("unpaired", train="", channels=3, patch=64,
                              degrade=image_tasks.degrade_spec())
  lowlight_data(c, arg.data)
  c.model.name = "zero_dce"
  c.objective = {"name": "zero_dce", "kwargs": {}}
  c.optimizer.update(lr=1e-4, weight_decay=1e-4)
  c.schedule.name = "constant"
  c.batch_size, c.total_steps = 8, 20_000
  if arg.budget > 0:
    c.total_steps = max(1, int(arg.budget * 60 / CPU_SECONDS_PER_STEP))
  c.log_every_steps = 50
  c.checkpoint.every_steps = 1000
  c.evals.lowlight = image_tasks.restoration_eval(f"{arg.data}/test", DARK, channels=3,
                                                  niqe=True)
  if arg.tiny:
    image_tasks.shrink(c, model="zero_dce_tiny")
    c.data.kwargs.patch = 16
    c.evals.lowlight.niqe = False
  c.lock()
  return c
