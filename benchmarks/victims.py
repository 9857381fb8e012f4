"""Training a digits victim with the core's train step (shared by the poisoning and stealing
benchmarks; not part of the package)."""
import jax
import numpy as np

from rvjax import data as data_lib
from rvjax import models, objectives
from rvjax.train import fit, state as state_lib, step as step_lib


def train(model_name: str, ds: data_lib.Dataset, *, steps: int, seed: int, lr: float = 3e-3,
          batch_size: int = 64, **model_kw):
  """(model, state) of `model_name` trained with ERM (Adam, cosine) for `steps` on `ds`."""
  model = models.create(model_name, num_classes=ds.num_classes, **model_kw)
  tx = fit.make_optimizer(lr, steps)
  init = state_lib.init_fn(model, tx, (1,) + ds.images.shape[1:])(jax.random.key(seed))
  step_fn = step_lib.compile_train_step(objectives.create("erm", model.apply), tx)
  state, _ = fit.fit(step_fn, fit.start(init, tx), {"image": ds.images, "label": ds.labels},
                     key=jax.random.key(seed + 1), steps=steps, batch_size=batch_size, seed=seed)
  return model, state


def accuracy(model, state, ds: data_lib.Dataset) -> float:
  """Eval-mode top-1 accuracy of `state` on all of `ds`."""
  logits = step_lib.compile_predict(model.apply)(state, ds.images)
  return float(np.mean(np.argmax(np.asarray(logits), -1) == ds.labels))
