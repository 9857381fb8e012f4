"""The pure train step around any objective, and the eval-mode forward pass."""
import functools

import jax
import jax.numpy as jnp
import optax

from rvjax import compiler, validate
from rvjax.train import optim, players
from rvjax.train.state import TrainState


def train_step(state: TrainState, batch: dict, key: jax.Array, *, objective, tx,
               task: str = "classification") -> tuple[TrainState, dict]:
  """One optimizer update on `batch` with the run's base `key`.

  The step key is `fold_in(key, state.step)`, so a run's randomness is a pure function of its
  seed and step (and a resumed run replays it exactly).

  Args:
    state: the TrainState (one player, or several: see rvjax.train.players).
    batch: a batch of `task`'s schema (rvjax.validate.BATCH_SCHEMAS), e.g. for classification
      {"image": (B, H, W, C) float32 in [0, 1], "label": (B,) int32, "mask": (B,) float32}.
    key: the run's base PRNG key.
    objective: `(params, model_state, batch, key) -> (loss, (model_state, metrics))`, or a
      `players.Game` for a several-player state; its batch also holds "step" (int32 scalar, the
      updates applied so far) for step-dependent schedules.
    tx: the optax optimizer; {player: optimizer} for a Game.
    task: the batch schema's name: "classification", "paired" or "unpaired".

  Returns:
    The new state and scalar metrics: the objective's, plus loss, grad/param/update norms, the
    per-group learning rates and `finite` (1.0 iff loss and gradients are finite); a Game's
    are per player, "<player>/<metric>", plus the summed "loss" and "finite".
  """
  validate.check_batch(batch, task)
  step_key = jax.random.fold_in(key, state.step)
  if isinstance(objective, players.Game):
    return players.game_step(state, batch, step_key, game=objective, txs=tx)
  grad_fn = jax.value_and_grad(objective, has_aux=True)
  (loss, (model_state, metrics)), grads = grad_fn(state.params, state.model_state,
                                                  {**batch, "step": state.step}, step_key)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  grad_norm = optax.tree.norm(grads)
  metrics = {
      **metrics,
      "loss": loss,
      "grad_norm": grad_norm,
      "param_norm": optax.tree.norm(params),
      "update_norm": optax.tree.norm(updates),
      "finite": (jnp.isfinite(loss) & jnp.isfinite(grad_norm)).astype(jnp.float32),
      **optim.learning_rates(opt_state),
  }
  new_state = state.replace(step=state.step + 1, params=params, model_state=model_state,
                            opt_state=opt_state)
  return new_state, metrics


def eval_logits(apply_fn, state: TrainState, images: jax.Array) -> jax.Array:
  """Eval-mode logits (N, K) before temperature scaling: running batch statistics, no dropout."""
  return apply_fn({"params": state.params, **state.model_state}, images, train=False)


def calibrated(logits_fn):
  """`(state, images) -> logits_fn(state, images) / T`, T the state's fitted temperature.

  `logits_fn` may return log-probabilities (an MC-dropout or ensemble pool): dividing them by T
  is temperature scaling of the pooled prediction. An ensemble holds T once per member (K equal
  values), so T is the mean of `state.temperature`.
  """
  def predict_fn(state, images):
    return logits_fn(state, images) / jnp.mean(state.temperature)
  return predict_fn


def predict(apply_fn, state: TrainState, images: jax.Array) -> jax.Array:
  """Eval-mode logits (N, K) divided by `state.temperature` (1.0 unless fitted)."""
  return calibrated(functools.partial(eval_logits, apply_fn))(state, images)


def compile_train_step(objective, tx, task: str = "classification"):
  """`train_step` jit-compiled once for this objective and optimizer, donating the state
  (with `compiler.gradient_jit`'s options for gradient-heavy programs)."""
  return compiler.gradient_jit(functools.partial(train_step, objective=objective, tx=tx,
                                                 task=task), donate_argnums=0)


def compile_predict(apply_fn):
  """`predict` jit-compiled: `(state, images) -> logits`."""
  return jax.jit(functools.partial(predict, apply_fn))
