"""Poisoning evaluator: craft feature-collision poisons against a trained victim, fine-tune it on
clean data plus the poisons, and report how often the targets flip to the base class.

Unlike the predict_fn evaluators this one trains, so it takes the model's `apply_fn`; it runs
the core's train step (`rvjax.train.fit`) with the "erm" objective, never its own loop.

Protocol (Shafahi et al. 2018), one independent experiment per target, `num_targets` in all:
  1. a target t: a test image the victim classifies correctly; a base class c_b != label(t)
     drawn at random; `poisons_per_target` distinct base images of class c_b from the test split;
  2. poisons crafted on the victim's penultimate features (rvjax.poisoning.craft), labelled c_b;
  3. optionally the defence filters clean + poisoned training data in the victim's feature space
     (rvjax.poisoning.knn_label_filter);
  4. the victim is fine-tuned from its weights on what remains: mode "last_layer" trains only
     the final layer ("head") on eval-mode features, "end_to_end" trains everything;
  5. success: the fine-tuned model classifies t as c_b.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import data as data_lib
from rvjax import objectives, poisoning
from rvjax.train import fit, step as step_lib

MODES = ("last_layer", "end_to_end")
DEFENCES = ("", "knn")


class Evaluator:
  """Feature-collision poisoning of a victim `state` (see the module docstring).

  Args:
    apply_fn: the victim model's `apply` (an rvjax.models classifier: its last layer is "head").
    train_ds: the clean fine-tuning data; test_ds: targets, bases and clean accuracy.
    mode: "last_layer" or "end_to_end".
    num_targets: independent experiments (>= 1); poisons_per_target: poisons each (>= 1).
    beta, craft_lr, craft_steps, opacity: the crafting (rvjax.poisoning.craft).
    defence: "" (none) or "knn" (k-NN label filter with `knn_k` neighbours; k must be well
      above poisons_per_target, or the poisons out-vote the clean neighbours for each other).
    steps, batch_size, lr: fine-tuning with Adam, cosine decay.
    seed: targets, base classes, bases and batch order.

  Raises:
    ValueError: a bad mode or defence, or a poison budget larger than the data (more poisons
      per target than base-class test images, or more targets than correctly classified ones).
  """

  def __init__(self, apply_fn, *, train_ds: data_lib.Dataset, test_ds: data_lib.Dataset,
               mode: str = "last_layer", num_targets: int = 20, poisons_per_target: int = 20,
               beta: float = 0.25, craft_lr: float = 0.01, craft_steps: int = 200,
               opacity: float = 0.0, defence: str = "", knn_k: int = 50, steps: int = 300,
               batch_size: int = 64, lr: float = 1e-2, seed: int = 0):
    if mode not in MODES or defence not in DEFENCES:
      raise ValueError(f"mode must be one of {MODES} and defence one of {DEFENCES}; got "
                       f"{mode!r}, {defence!r}.")
    if num_targets < 1 or poisons_per_target < 1:
      raise ValueError(f"num_targets and poisons_per_target must be >= 1; got {num_targets}, "
                       f"{poisons_per_target}.")
    smallest = int(np.bincount(test_ds.labels, minlength=test_ds.num_classes).min())
    if poisons_per_target > min(smallest - 1, len(train_ds)):
      raise ValueError(f"Poison budget {poisons_per_target} per target is larger than the data: "
                       f"the smallest class has {smallest} test images to serve as bases (one "
                       f"may be the target) and the training set {len(train_ds)} images.")
    self.apply_fn, self.train_ds, self.test_ds = apply_fn, train_ds, test_ds
    self.mode, self.num_targets, self.per_target = mode, num_targets, poisons_per_target
    self.craft_kwargs = dict(beta=beta, lr=craft_lr, steps=craft_steps, opacity=opacity)
    self.defence, self.knn_k = defence, knn_k
    self.steps, self.batch_size, self.lr, self.seed = steps, batch_size, lr, seed
    last = mode == "last_layer"
    self.tx = fit.make_optimizer(lr, steps, trainable="^head/" if last else ".*")
    apply = fit.eval_only(apply_fn) if last else apply_fn
    self.step_fn = step_lib.compile_train_step(objectives.create("erm", apply), self.tx)
    self.predict = step_lib.compile_predict(apply_fn)

  def _pick(self, correct: np.ndarray):
    """(targets (T,), base classes (T,), bases (T, P)) test indices, seeded."""
    rng = np.random.default_rng(self.seed)
    labels = self.test_ds.labels
    candidates = np.flatnonzero(correct)
    if self.num_targets > len(candidates):
      raise ValueError(f"num_targets={self.num_targets} is larger than the {len(candidates)} "
                       "test images the victim classifies correctly.")
    targets = rng.choice(candidates, self.num_targets, replace=False)
    classes = np.array([rng.choice(np.setdiff1d(np.arange(self.test_ds.num_classes), [labels[t]]))
                        for t in targets])
    bases = np.stack([rng.choice(np.flatnonzero(labels == c), self.per_target, replace=False)
                      for c in classes])
    return targets, classes, bases

  def _predictions(self, state, images) -> np.ndarray:
    return np.concatenate([np.argmax(np.asarray(self.predict(state, images[i:i + 512])), -1)
                           for i in range(0, len(images), 512)])

  def run(self, state):
    """Yields success_rate, clean_accuracy (test, mean over experiments), feature_distance_ratio
    (mean final / initial ||f(p) - f(t)||^2) and, with a defence, poisons_removed and
    clean_removed (fractions); all in [0, 1] except the ratio (>= 0)."""
    test = self.test_ds
    correct = self._predictions(state, test.images) == test.labels
    targets, classes, bases = self._pick(correct)
    features = poisoning.penultimate(self.apply_fn, {"params": state.params, **state.model_state})
    p = self.per_target
    poisons, dist = poisoning.craft(
        features, jnp.asarray(np.repeat(test.images[targets], p, 0)),
        jnp.asarray(test.images[bases.ravel()]), **self.craft_kwargs)
    poisons = np.asarray(poisons).reshape((self.num_targets, p) + test.images.shape[1:])
    dist = np.asarray(dist)
    train_features = np.asarray(features(jnp.asarray(self.train_ds.images)))
    success, accuracy, removed_p, removed_c = [], [], [], []
    for i, (t, c) in enumerate(zip(targets, classes)):
      images = np.concatenate([self.train_ds.images, poisons[i]])
      labels = np.concatenate([self.train_ds.labels, np.full(p, c, np.int32)])
      keep = np.ones(len(labels), bool)
      if self.defence == "knn":
        feats = np.concatenate([train_features, np.asarray(features(jnp.asarray(poisons[i])))])
        keep = poisoning.knn_label_filter(feats, labels, k=self.knn_k,
                                          num_classes=test.num_classes)
        removed_p.append(1.0 - keep[-p:].mean())
        removed_c.append(1.0 - keep[:-p].mean())
      tuned, _ = fit.fit(self.step_fn, fit.start(state, self.tx),
                         {"image": images[keep], "label": labels[keep]},
                         key=jax.random.key(self.seed + i), steps=self.steps,
                         batch_size=self.batch_size, seed=self.seed + i)
      preds = self._predictions(tuned, test.images)
      success.append(preds[t] == c)
      accuracy.append(np.mean(preds == test.labels))
    yield "success_rate", float(np.mean(success))
    yield "clean_accuracy", float(np.mean(accuracy))
    yield "feature_distance_ratio", float(np.mean(dist[-1] / np.maximum(dist[0], 1e-12)))
    if self.defence:
      yield "poisons_removed", float(np.mean(removed_p))
      yield "clean_removed", float(np.mean(removed_c))
