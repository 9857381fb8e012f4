r"""SRCNN (Dong et al. 2014) and VDSR (Kim et al. 2016) super-resolution on the Y channel.

  python -m launch.train --config=configs/restoration_sr.py:model=vdsr,scale=3 --workdir=/tmp/vdsr3
  python -m benchmarks.set5_sr --scales=3 --methods=bicubic,workdir --workdir=/tmp/vdsr3

Training: 48x48 luminance patches of Train400 (its grayscale crops; the papers used 91 / 291
images), the network input made on device by bicubic down- and up-sampling by `scale`
(rvjax.degrade.sr_input), MSE loss, Adam (lr 1e-4 for SRCNN, 1e-4 with gradient clipping 0.4
for VDSR's 20 layers), batch 64. Evaluation on Set5: Y channel (BT.601, 8-bit), border crop =
scale. Published Set5 PSNR: bicubic 33.66 / 30.39 / 28.42, SRCNN 36.66 / 32.75 / 30.48, VDSR
37.53 / 33.66 / 31.35 at x2 / x3 / x4. `budget=M` sizes the steps for M minutes of a 2-core CPU.

Measured on the shared, loaded 2-core CPU (nice 10), Set5 mean PSNR x2 / x3 / x4 (bicubic
33.68 / 30.40 / 28.43): vdsr budget=2 (40 steps of 16, 180-213 s wall each) 34.48 / 30.88 /
28.84; srcnn budget=1.5 (600 steps of 16, 82-121 s each) 31.80 / 30.00 / 28.34, still below
bicubic (SRCNN must learn the identity first; VDSR's zero-started residual gives it for free);
srcnn budget=4 (1600 steps, 79-125 s wall each) 33.88 / 31.02 / 28.95.
"""
from configs import common, image_tasks

STEPS = 50_000
CPU_SECONDS_PER_STEP = {"srcnn": 0.15, "vdsr": 3.0}  # batch 16, 48x48, shared 2-core CPU


def get_config(arg=None):
  arg = common.parse_arg(arg, tiny=False, model="srcnn", scale=2, budget=0.0)
  if arg.model not in CPU_SECONDS_PER_STEP:
    raise ValueError(f"Config arg model must be srcnn or vdsr; got {arg.model!r}.")
  if arg.scale not in (2, 3, 4):
    raise ValueError(f"Config arg scale must be 2, 3 or 4; got {arg.scale}.")
  degrade = image_tasks.degrade_spec("rvjax.degrade.sr_input", factor=arg.scale)
  c = image_tasks.folder_task("paired", train="Train400", test="Set5", channels=1, patch=48,
                              degrade=degrade)
  c.model.name = arg.model
  c.optimizer.lr = 1e-4
  if arg.model == "vdsr":
    c.optimizer.grad_clip_norm = 0.4
  c.batch_size, c.total_steps = 64, STEPS
  if arg.budget > 0:
    c.batch_size = 16
    c.total_steps = max(1, int(arg.budget * 60 / CPU_SECONDS_PER_STEP[arg.model]))
  c.log_every_steps = 50
  c.checkpoint.every_steps = 1000
  c.evals.set5 = image_tasks.restoration_eval("Set5", degrade, y_channel=True, crop=arg.scale)
  if arg.tiny:
    image_tasks.shrink(c, model=f"{arg.model}_tiny")
  c.lock()
  return c
