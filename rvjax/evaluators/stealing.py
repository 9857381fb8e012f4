"""Model-stealing evaluator: query a victim's `predict_fn` under budgets, train substitutes on its
answers, and report agreement, the substitute's accuracy and the transfer of its adversarial
examples to the victim.

The victim is reached only through `predict_fn(state, images) -> logits` (as every evaluator
does); the API returns softmax probabilities, after the optional defence
(rvjax.stealing.queries.defend). Substitutes are fresh `rvjax.models` classifiers trained with the
core's train step (`rvjax.train.fit`) on the answers: the "distill" objective on the returned
probabilities (renormalized) or "erm" on their top-1 labels.

Strategies (rvjax.stealing.queries): "uniform", "gaussian", "photos", "synthetic" (rendered,
domain-randomized digits) draw all `budget` queries at once; "margin" spends
budget / (rounds + 1) on random photo crops, trains, then in each of `rounds` rounds queries the
pool crops with the smallest substitute margin and retrains from scratch on everything answered
so far (pool: `pool_factor` x budget photo crops).
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import attacks, compiler, models, objectives
from rvjax import data as data_lib
from rvjax.stealing import queries
from rvjax.train import fit, state as state_lib, step as step_lib

QUERY_BATCH = 256


class Evaluator:
  """Stealing a victim (see the module docstring).

  Args:
    predict_fn: `(state, images (B, H, W, C) in [0, 1]) -> logits (B, K)`, the victim's API.
    test_ds: held-out labelled data for agreement, accuracy and transfer.
    budgets: query budgets, each an integer >= 1.
    strategies: names in rvjax.stealing.queries.STRATEGIES.
    targets: "probs" (distillation) or "labels" (top-1 only).
    defence, decimals, strength: the API's defence (rvjax.stealing.queries.defend).
    substitute, substitute_kwargs: the substitute's rvjax.models name and fields.
    steps, batch_size, lr: substitute training (Adam, cosine decay), per (re)training.
    rounds, pool_factor: the "margin" strategy's rounds and pool size (x budget).
    transfer_eps, transfer_steps: linf PGD on the substitute (step 2.5 eps / steps), applied to
      the test images both models classify correctly; transfer = fraction the victim then gets
      wrong.
    seed: queries, initializations and batch orders.

  Raises:
    ValueError: a budget < 1, an unknown strategy, target kind or defence.
  """

  def __init__(self, predict_fn, *, test_ds: data_lib.Dataset, budgets=(100, 1000, 10000),
               strategies=queries.STRATEGIES, targets: str = "probs", defence: str = "",
               decimals: int = 1, strength: float = 0.3, substitute: str = "cnn",
               substitute_kwargs=None, steps: int = 500, batch_size: int = 64,
               lr: float = 3e-3, rounds: int = 3, pool_factor: int = 3,
               transfer_eps: float = 0.2, transfer_steps: int = 10, seed: int = 0):
    self.budgets = tuple(queries.check_budget(b) for b in budgets)
    unknown = sorted(set(strategies) - set(queries.STRATEGIES))
    if unknown or targets not in ("probs", "labels") or defence not in queries.DEFENCES:
      raise ValueError(f"Unknown strategies {unknown}, targets {targets!r} or defence "
                       f"{defence!r}; valid: {queries.STRATEGIES}, ('probs', 'labels'), "
                       f"{queries.DEFENCES}.")
    if rounds < 1 or pool_factor < 1:
      raise ValueError(f"rounds and pool_factor must be >= 1; got {rounds}, {pool_factor}.")
    queries.defend(jnp.ones((1, 2)) / 2, defence, decimals=decimals, strength=strength)
    self.predict_fn, self.test_ds, self.strategies = predict_fn, test_ds, tuple(strategies)
    self.targets, self.seed = targets, seed
    self.defend = jax.jit(lambda p: queries.defend(p, defence, decimals=decimals,
                                                   strength=strength))
    self.steps, self.batch_size = steps, batch_size
    self.rounds, self.pool_factor = rounds, pool_factor
    self.model = models.create(substitute, num_classes=test_ds.num_classes,
                               **dict(substitute_kwargs or {}))
    self.tx = fit.make_optimizer(lr, steps)
    objective = objectives.create("distill" if targets == "probs" else "erm", self.model.apply)
    self.step_fn = step_lib.compile_train_step(objective, self.tx)
    self.init = jax.jit(state_lib.init_fn(self.model, self.tx, (1,) + test_ds.images.shape[1:]))
    self.sub_predict = step_lib.compile_predict(self.model.apply)
    step_size = 2.5 * transfer_eps / transfer_steps
    self.attack = compiler.gradient_jit(lambda s, x, y, key: attacks.pgd(
        lambda z: step_lib.predict(self.model.apply, s, z), x, y, key=key, eps=transfer_eps,
        step_size=step_size, steps=transfer_steps))

  def _batched(self, fn, images: np.ndarray) -> np.ndarray:
    """fn over fixed-shape batches of QUERY_BATCH (the last padded), concatenated."""
    n = len(images)
    pad = np.concatenate([images, np.zeros((-n % QUERY_BATCH,) + images.shape[1:],
                                           images.dtype)])
    return np.concatenate([np.asarray(fn(pad[i:i + QUERY_BATCH]))
                           for i in range(0, len(pad), QUERY_BATCH)])[:n]

  def _ask(self, state, images: np.ndarray) -> np.ndarray:
    """The API's answers (N, K): defended softmax probabilities of the victim."""
    return self._batched(lambda x: self.defend(jax.nn.softmax(self.predict_fn(state, x))), images)

  def _train(self, images, answers, key_seed: int):
    """A fresh substitute trained on (images, answers); returns its state."""
    probs = answers / np.maximum(answers.sum(-1, keepdims=True), 1e-12)
    arrays = {"image": images, "label": np.argmax(answers, -1).astype(np.int32),
              "probs": probs.astype(np.float32)}
    state = fit.start(self.init(jax.random.key(key_seed)), self.tx)
    state, _ = fit.fit(self.step_fn, state, arrays, key=jax.random.key(key_seed + 1),
                       steps=self.steps, batch_size=self.batch_size, seed=key_seed)
    return state

  def _steal(self, state, strategy: str, budget: int, rng, key_seed: int):
    shape = self.test_ds.images.shape[1:]
    if strategy in queries.RANDOM:
      images = queries.random_queries(rng, budget, shape, strategy)
      return self._train(images, self._ask(state, images), key_seed), len(images)
    pool = queries.random_queries(rng, self.pool_factor * budget, shape, "photos")
    sizes = [len(c) for c in np.array_split(np.arange(budget), self.rounds + 1)]
    asked = np.zeros(len(pool), bool)
    asked[rng.choice(len(pool), sizes[0], replace=False)] = True
    answers = np.zeros((len(pool), self.test_ds.num_classes), np.float32)
    answers[asked] = self._ask(state, pool[asked])
    sub = self._train(pool[asked], answers[asked], key_seed)
    for size in sizes[1:]:
      sub_probs = jax.nn.softmax(self._batched(lambda x: self.sub_predict(sub, x), pool))
      new = queries.smallest_margin(np.asarray(sub_probs), size, asked)
      answers[new] = self._ask(state, pool[new])
      asked[new] = True
      sub = self._train(pool[asked], answers[asked], key_seed)
    return sub, int(asked.sum())

  def run(self, state):
    """Yields victim/accuracy and victim/defended_accuracy (top-1 of the defended answers: the
    defence's cost), then per strategy and budget "<strategy>/<budget>/<metric>" for queries
    (the number answered, <= budget), agreement (substitute top-1 = victim's undefended top-1
    on test), accuracy, and transfer; all but queries fractions in [0, 1]."""
    x, y = self.test_ds.images, self.test_ds.labels
    victim = self._batched(lambda b: jnp.argmax(self.predict_fn(state, b), -1), x)
    defended = np.argmax(self._ask(state, x), -1)
    yield "victim/accuracy", float(np.mean(victim == y))
    yield "victim/defended_accuracy", float(np.mean(defended == y))
    for si, strategy in enumerate(self.strategies):
      for budget in self.budgets:
        rng = np.random.default_rng([self.seed, si, budget])
        sub, used = self._steal(state, strategy, budget, rng, self.seed + 1000 * si + budget)
        pred = self._batched(lambda b: jnp.argmax(self.sub_predict(sub, b), -1), x)
        both = (pred == y) & (victim == y)
        name = f"{strategy}/{budget}"
        yield f"{name}/queries", used
        yield f"{name}/agreement", float(np.mean(pred == victim))
        yield f"{name}/accuracy", float(np.mean(pred == y))
        adv = np.asarray(self.attack(sub, jnp.asarray(x), jnp.asarray(y),
                                     jax.random.key(self.seed)))
        fooled = self._batched(lambda b: jnp.argmax(self.predict_fn(state, b), -1), adv)
        transfer = float(np.mean(fooled[both] != y[both])) if both.any() else float("nan")
        yield f"{name}/transfer", transfer
