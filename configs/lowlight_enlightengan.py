r"""EnlightenGAN (Jiang et al. 2021): unpaired low-light enhancement as a three-player game.

  python -m launch.prepare_lowlight --output=/tmp/lowlight
  python -m launch.train --config=configs/lowlight_enlightengan.py:data=/tmp/lowlight,budget=10 \
      --workdir=W

Players (rvjax.train.players, one TrainState, alternating updates in this order): the global
critic `d_global` (PatchGAN, relativistic LSGAN on whole 64x64 crops), the local critic
`d_local` (LSGAN on 5 random 32x32 patches per image; real ones from set B, fake ones from G(A)),
and the attention U-Net `generator` (adversarial terms + self feature-preserving loss on a
fixed feature network). Adam lr 1e-4, b1 0.5, batch 8 (the paper's optimizer and lr). Data:
set A = darkened offline photos, set B = other, normal photos (rvjax.data.lowlight).

`small` shrinks the networks for a CPU budget: generator widths 16, 32, 64, 128 (the paper's
32..512 over 5 levels) and critics of 32 base features (64).

`features=vgg16:PATH` uses VGG-16 relu5_1 with local ImageNet weights (.npz, see
rvjax.objectives.features); without it the feature network is rvjax's digits CNN fallback
(trained here, much weaker than VGG-16); `:tiny` compares pixels (no network) unless
`features` is given. Every result names the network used.

launch.train builds the three players (config.model is the generator; config.players the
critics), each with its own Adam state, checkpoints them as one state and evaluates the
generator with the "restoration" evaluator; the run's results name the feature network
("objective/features").
"""
import ml_collections

from configs import common, image_tasks, lowlight_zerodce

CPU_SECONDS_PER_STEP = 2.0  # batch 8, 64x64, full-width generator, shared 2-core CPU


def get_config(arg=None):
  arg = common.parse_arg(arg, tiny=False, data="", budget=0.0, features="", small=False)
  c = image_tasks.folder_task("unpaired", train="", channels=3, patch=64,
                              degrade=image_tasks.degrade_spec())
  lowlight_zerodce.lowlight_data(c, arg.data)
  c.model.name = "enlighten_generator"  # Player "generator": evaluated, restored.
  c.players = ml_collections.ConfigDict({  # The other players (rvjax.train.build).
      "d_global": {"name": "enlighten_d_global", "kwargs": {}},
      "d_local": {"name": "enlighten_d_local", "kwargs": {}}})
  c.objective = {"name": "enlightengan",
                 "kwargs": {"features": arg.features, "num_patches": 5, "patch_size": 32}}
  if arg.small:  # Generator widths 16..128 (4 levels), critics of 32 base features.
    c.model.kwargs = {"widths": (16, 32, 64, 128)}
    for p in c.players:
      c.players[p].kwargs = {"features": 32}
  c.optimizer.update(lr=1e-4, b1=0.5)
  c.schedule.name = "constant"
  c.batch_size, c.total_steps = 8, 20_000
  if arg.budget > 0:
    c.total_steps = max(1, int(arg.budget * 60 / CPU_SECONDS_PER_STEP))
  c.log_every_steps = 50
  c.evals.lowlight = image_tasks.restoration_eval(f"{arg.data}/test", lowlight_zerodce.DARK,
                                                  channels=3, niqe=True)
  if arg.tiny:
    image_tasks.shrink(c, model="enlighten_generator_tiny")
    for p in c.players:
      c.players[p].name = "enlighten_d_tiny"
    c.data.kwargs.patch = 16
    c.objective.kwargs.update(num_patches=2, patch_size=8, features=arg.features or "pixels")
    c.evals.lowlight.niqe = False
  c.lock()
  return c
