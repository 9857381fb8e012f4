"""The objective of a several-player state: a `Game` gives each player its own loss.

It lives with the objectives (an objective family builds one, e.g. EnlightenGAN's); the training
core (rvjax.train.players) steps it. See rvjax.train.players for how each player is updated.
"""
import dataclasses
from typing import Callable

from rvjax import validate

ORDERS = ("alternating", "simultaneous")


@dataclasses.dataclass(frozen=True)
class Game:
  """Each player's loss `loss_p(params, model_state, batch, key) -> (loss, (model_state,
  metrics))` over ALL players' params and model states (dicts keyed by player name).

  Attributes:
    losses: {player: loss_fn}, in update order.
    order: "alternating" or "simultaneous" (rvjax.train.players).
    model: the player that is the run's `config.model` (its outputs are evaluated, restored and
      exported, e.g. a GAN's generator); "" for a game built by hand outside the loop.
    info: {name: text} naming what the objective used (e.g. the feature network of a perceptual
      loss); the training loop writes it with the run's results as "objective/<name>".
  """
  losses: dict[str, Callable]
  order: str = "alternating"
  model: str = ""
  info: dict[str, str] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    validate.check_choice(self.order, "game order", ORDERS)
    if len(self.losses) < 2:
      raise ValueError(f"A Game needs at least two players, got {sorted(self.losses)}; use a "
                       "plain objective for one.")
    if self.model and self.model not in self.losses:
      raise ValueError(f"The game's model player {self.model!r} is not one of its players "
                       f"{sorted(self.losses)}.")
