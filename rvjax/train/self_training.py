"""Self-training on unlabeled real digits from a syn2real model: CBST, CRST and DRST rounds.

`run(config)` first trains config's syn2real row (rvjax.train.syn2real.train_row; e.g. scratch
for the plain synthetic model, asg_pg for the ASG model), then runs config.self_training.rounds
rounds. Round r (0-based) predicts the unlabeled real images (the scikit-learn digits train
split; its labels are never read), pseudo-labels the class-balanced top
portion_r = min(portion + r * portion_step, portion_max) of them (CBST thresholds), weights them
(1, or the DRST density ratio from a logistic-regression domain classifier on the model's
features of synthetic train vs real images) and trains `steps_per_round` steps of the weighted
objective `self_training` (MRKLD for CRST) through the core's train_for, every batch half
labelled synthetic images (weight 1) and half pseudo-labelled real images. The model is the one
after the last round (no selection on real labels); the real test split is only evaluated.
"""
import time

import jax
import numpy as np
from sklearn.linear_model import LogisticRegression

from rvjax import data as data_lib
from rvjax import objectives, validate
from rvjax.objectives import self_training as st
from rvjax.train import optim, syn2real


def _probs(row, state, images, batch=512):
  feats, logits = syn2real.collect(row.features, state, data_lib.Dataset(
      images, np.zeros(len(images), np.int32), 10), batch)
  return feats, np.asarray(jax.nn.softmax(logits))


def _domain_p_source(row, state, source_images, target_images, seed):
  """P(source | x) of the target images from a logistic regression on the model's features."""
  fs, _ = _probs(row, state, source_images)
  ft, _ = _probs(row, state, target_images)
  clf = LogisticRegression(max_iter=1000, random_state=seed).fit(
      np.concatenate([fs, ft]), np.r_[np.ones(len(fs)), np.zeros(len(ft))])
  return clf.predict_proba(ft)[:, 1], len(fs), len(ft)


def _batches(rng, syn, images, labels, weights, steps, half):
  """Stacked (steps, 2 * half) batches: half synthetic (weight 1), half pseudo-labelled."""
  si = rng.integers(0, len(syn.images), (steps, half))
  ti = rng.integers(0, len(images), (steps, half))
  ones, zeros = np.ones((steps, half), np.float32), np.zeros((steps, half), np.float32)
  return {"image": np.concatenate([syn.images[si], images[ti]], 1),
          "label": np.concatenate([syn.labels[si], labels[ti]], 1),
          "mask": np.ones((steps, 2 * half), np.float32),
          "weight": np.concatenate([ones, weights[ti]], 1),
          "pseudo": np.concatenate([zeros, ones], 1)}


def run(config) -> dict:
  """Trains the row, then self-trains with config.self_training.method (see the module
  docstring); returns `self_train`'s numbers plus "start": the row's numbers."""
  best, row_out, row = syn2real.train_row(config)
  return {**self_train(config, config.self_training.method, best, row), "start": row_out}


def self_train(config, method: str, best, row) -> dict:
  """Self-trains the state `best` of `row` (rvjax.train.syn2real.train_row) with `method` in
  METHODS; returns {"method", "real_test/accuracy" (after the last round), "rounds":
  [{"portion", "selected", "pseudo_acc" (pseudo-label accuracy, measured for the report only),
  "real_test/accuracy"}], "wall_time_s"}."""
  start = time.time()
  cfg = config.self_training
  validate.check_choice(method, "self-training method", st.METHODS)
  real = data_lib.load(config.syn2real.real, "train", **syn2real.real_kwargs(config))
  unlabeled = real.images  # real.labels are read only to report pseudo-label accuracy.
  freeze_bn = bool(config.objective.kwargs.get("freeze_bn", False))
  objective = objectives.create("self_training", row.model.apply, freeze_bn=freeze_bn,
                                mrkld_weight=cfg.mrkld if method == "crst" else 0.0)
  opt_cfg = config.optimizer.copy_and_resolve_references()
  with opt_cfg.unlocked():
    opt_cfg.lr = cfg.lr
  tx = optim.make_optimizer(opt_cfg, _constant(), cfg.steps_per_round)
  state = best.replace(opt_state=tx.init(best.params))
  rng = np.random.default_rng(config.seed)
  key = jax.random.fold_in(jax.random.key(config.seed), 2)
  rounds = []
  for r in range(cfg.rounds):
    portion = min(cfg.portion + r * cfg.portion_step, cfg.portion_max)
    _, probs = _probs(row, state, unlabeled)
    labels, selected = st.pseudo_labels(probs, st.class_balanced_thresholds(probs, portion))
    weights = np.ones(len(unlabeled), np.float32)
    if method == "drst":
      p_src, ns, nt = _domain_p_source(row, state, row.train_ds.images[:len(unlabeled)],
                                       unlabeled, config.seed)
      weights = st.density_ratio_weights(p_src, ns, nt)
    idx = np.flatnonzero(selected)
    batches = _batches(rng, row.train_ds, unlabeled[idx], labels[idx], weights[idx],
                       cfg.steps_per_round, config.batch_size // 2)
    state, m = syn2real.chunk_fn(objective, tx, cfg.steps_per_round)(
        state, batches, jax.random.fold_in(key, r))
    if not np.all(np.asarray(m["finite"]) > 0):
      raise FloatingPointError(f"Non-finite loss in self-training round {r}.")
    _, test_probs = _probs(row, state, row.test_ds.images)
    rounds.append({"portion": portion, "selected": int(selected.sum()),
                   "pseudo_acc": float(np.mean(labels[idx] == real.labels[idx])),
                   "real_test/accuracy": float(np.mean(test_probs.argmax(-1)
                                                       == row.test_ds.labels))})
  return {"method": method, "real_test/accuracy": rounds[-1]["real_test/accuracy"],
          "rounds": rounds, "wall_time_s": time.time() - start}


def _constant():
  import ml_collections
  return ml_collections.ConfigDict({"name": "constant", "warmup_steps": 0})
