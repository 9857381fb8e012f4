"""rvjax.attacks: pure, jit- and vmap-compatible adversarial attacks in [0, 1] pixel space.

Gradient attacks (fgsm, pgd, apgd, autoattack) share the threat model in `ball` (linf or l2 ball of
radius eps intersected with [0, 1]) and the per-example losses in `losses` (ce, margin, dlr,
dlr_targeted, and kl for TRADES). `spatial` searches rotations and translations. Every attack takes
`logits_fn(x) -> logits (N, K)`, images x (N, H, W, C) float32 in [0, 1] and labels y (N,) int32,
and returns x_adv of x's shape.

Modules: gradient (fgsm, pgd), auto_pgd (apgd, autoattack), geometric (spatial, warp),
ball (threat-model geometry), losses, factory (`create(name, **cfg)`: the one way objectives,
evaluators and hooks build an attack; step-size defaults live there).
"""
from rvjax.attacks import ball, losses
from rvjax.attacks.auto_pgd import apgd, autoattack, checkpoints as apgd_checkpoints
from rvjax.attacks.factory import create
from rvjax.attacks.geometric import spatial, warp
from rvjax.attacks.gradient import fgsm, pgd
from rvjax.attacks.losses import ce, dlr, dlr_targeted, kl, margin

__all__ = [
    "fgsm", "pgd", "apgd", "apgd_checkpoints", "autoattack", "spatial", "warp",
    "ce", "margin", "dlr", "dlr_targeted", "kl", "ball", "losses", "create",
]
