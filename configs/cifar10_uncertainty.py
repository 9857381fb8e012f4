r"""WRN-28-10 on CIFAR-10 with uncertainty-baselines' settings, evaluated under distribution shift.

For GPU users with tfds data prepared (cifar10, cifar10_corrupted/*, svhn_cropped, cifar100):

  python -m launch.train --config=configs/cifar10_uncertainty.py:method=deterministic \
      --config.data.data_dir=~/tensorflow_datasets --workdir=/tmp/c10_det
  python -m launch.train --config=configs/cifar10_uncertainty.py:method=ensemble \
      --config.data.data_dir=~/tensorflow_datasets --workdir=/tmp/c10_ens4
  # prepare CIFAR-10-C (19 corruptions x 5 severities) on a machine with internet:
  for c in gaussian_noise shot_noise impulse_noise defocus_blur frosted_glass_blur motion_blur \
      zoom_blur snow frost fog brightness contrast elastic pixelate jpeg_compression \
      speckle_noise gaussian_blur spatter saturate; do for s in 1 2 3 4 5; do
    python -m launch.prepare_data --dataset=cifar10_corrupted/${c}_${s} --data_dir=DIR; done; done

Training (google/uncertainty-baselines baselines/cifar/deterministic.py defaults): WRN-28-10,
SGD with Nesterov momentum 0.9, batch 128 and lr 0.1 * batch / 128 (UB's rule; its default 8 x 64
= 512 examples per step gives 0.4), 200 epochs, 1-epoch linear warmup, lr x0.2 at epochs 60, 120
and 160 (scaled with `epochs` as UB does), weight decay 4e-4 on kernels: UB's Keras l2 = 2e-4
penalty adds 2e-4 ||w||^2 to the loss, i.e. 4e-4 w to the gradient (UB also regularizes BN and
biases; rvjax decays kernels only). `method=ensemble`: 4 such members (UB's ensemble_size),
trained as one stacked state with their own init and data order; prediction = mean probability.
Train split: the first 90% of tfds train (45000 images; UB trains on all 50000). Augmentation:
random 4-px-padded crop and left-right flip (`config.augment = "crop_flip"`), as UB.

Not included: bf16 and UB's per-layer l2 options.

Evals (at the end): accuracy/NLL on val and test; calibration on test; "corruption": CIFAR-10-C
from tfds (`c_source=device`: rvjax's on-device suite instead, no preparation needed), 19 x 5
cells, 1000-image batches; "ood": SVHN and CIFAR-100 test sets (UB's OOD sets), scikit-image
photo crops and uniform noise.

Args (strict): method in {deterministic, ensemble}; size (ensemble members, default 4); epochs
(default 200); batch (default 128); c_source in {tfds, device}; tiny (tests: wrn_tiny, batch 8,
1 step, 2 corruption cells from tfds, 8 OOD images).

Results: not measured here (CPU only).
"""
from configs import common

METHODS = ("deterministic", "ensemble")
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
TRAIN_EXAMPLES = 45000
DECAY_EPOCHS = (60, 120, 160)  # of 200; scaled with the number of epochs


def get_config(arg=None):
  arg = common.parse_arg(arg, method="deterministic", size=4, epochs=200, batch=128,
                         c_source="tfds", tiny=False)
  if arg.method not in METHODS:
    raise ValueError(f"Config arg method must be one of {', '.join(METHODS)}; got {arg.method!r}.")
  if arg.c_source not in ("tfds", "device"):
    raise ValueError(f"Config arg c_source must be tfds or device; got {arg.c_source!r}.")
  c = common.base()
  c.data.name = "cifar10"
  c.model.name = "wrn28_10"
  c.model.kwargs = {"mean": CIFAR10_MEAN, "std": CIFAR10_STD}
  c.optimizer.update(name="sgd", lr=0.1 * arg.batch / 128, momentum=0.9, nesterov=True,
                     weight_decay=4e-4)
  c.augment = "crop_flip"
  c.batch_size = arg.batch
  c.num_epochs = arg.epochs
  spe = TRAIN_EXAMPLES // arg.batch
  decay = [e * arg.epochs // 200 for e in DECAY_EPOCHS]
  c.schedule.update(name="piecewise", warmup_steps=spe,
                    boundaries=tuple((e - 1) / (arg.epochs - 1) for e in decay),
                    factors=(0.2,) * len(decay))
  if arg.method == "ensemble":
    c.ensemble.size = arg.size
  c.checkpoint.every_steps = 10 * spe
  c.log_every_steps = 100
  c.evals.calib = common.calibration_eval("test", batch_size=1000)
  c.evals.corruption = {"type": "corruption", "split": "test", "batch_size": 1000,
                        "source": arg.c_source, "seed": 0, "num_bins": 15,
                        "baseline_workdir": ""}
  c.evals.ood = {"type": "ood", "split": "test", "batch_size": 1000,
                 "sets": ("svhn_cropped", "cifar100", "skimage_photos", "uniform_noise"),
                 "num_ood": 0, "seed": 0}
  if arg.tiny:
    c.model.name = "wrn_tiny"
    c.batch_size = 8
    c.total_steps = 1
    c.schedule.warmup_steps = 0
    c.ensemble.size = min(c.ensemble.size, 2)
    c.log_every_steps = 1
    c.checkpoint.every_steps = 1
    c.progress = False
    c.evals = {"corruption": {**c.evals.corruption.to_dict(), "batch_size": 8,
                              "names": ("gaussian_noise", "glass_blur"), "severities": (2,)},
               "ood": {**c.evals.ood.to_dict(), "batch_size": 8, "num_ood": 8,
                       "sets": ("svhn_cropped", "uniform_noise")}}
  c.lock()
  return c
