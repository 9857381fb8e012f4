"""Certified-robustness evaluator: the fraction of examples whose L-inf robustness is proven by
bound propagation (`rvjax.certify.certified`: every margin z_y - z_j provably > 0 over the ball
intersected with [0, 1]).

Config (an entry of `config.evals` with type "certified"; every field but `type` is a kwarg):
  split, batch_size, num_examples (0: the whole split, else its first n): the data.
  eps: L-inf radii in [0, 1] pixel units.
  methods: bound methods of `rvjax.certify` ("ibp", "crown_ibp", "crown"), default IBP and
    CROWN-IBP. CROWN's memory grows with the batch, so it runs on the first `crown_examples`
    examples (0: all) in batches of `crown_batch_size`.

Bounds need the network itself, not only `predict_fn`: the evaluator takes the model's flax
`apply_fn` (optional context that `rvjax.evaluators.create` passes to evaluators whose
constructor takes it) and bounds `apply_fn({"params": state.params, **state.model_state}, x,
train=False)`, the eval-mode network that `predict_fn` runs. Temperature scaling divides all
logits by T > 0 and leaves every margin's sign, so it does not change what is certified; bounds
of an ensemble pool or MC-dropout mean are not supported (one deterministic network only).

Yields "clean_accuracy" (of predict_fn on the examples) and "<method>/eps=<eps>" (certified
accuracy, a fraction in [0, 1]; eps printed with 4 significant digits). A certified example is
classified correctly at the clean input too, so each certified accuracy is <= the accuracy under
any attack within eps.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import certify, validate
from rvjax import data as data_lib
from rvjax.certify import bounds as bounds_lib
from rvjax.evaluators import predictions


class Evaluator:
  """Certified accuracy of the network behind `predict_fn`; see the module docstring.

  Raises:
    ValueError: no `apply_fn`, an unknown method, eps < 0, or negative example counts.
  """

  def __init__(self, predict_fn, *, data, mesh, apply_fn=None, split: str = "test",
               batch_size: int = 128, num_examples: int = 0, eps=(0.1,),
               methods=("ibp", "crown_ibp"), crown_examples: int = 0,
               crown_batch_size: int = 4):
    if apply_fn is None:
      raise ValueError("The certified evaluator needs the model's apply_fn (the training loop "
                       "passes apply_fn=model.apply to rvjax.evaluators.create).")
    for method in methods:
      validate.check_choice(method, "bound method", bounds_lib.METHODS)
    self.eps = sorted({float(e) for e in eps})
    if not self.eps or self.eps[0] < 0:
      raise ValueError(f"eps values must be >= 0, got {tuple(eps)}.")
    validate.check_positive(num_examples, "num_examples", allow_zero=True)
    validate.check_positive(crown_examples, "crown_examples", allow_zero=True)
    self.predict_fn, self.mesh, self.methods = predict_fn, mesh, tuple(methods)
    self.batch_size, self.crown_batch_size = batch_size, crown_batch_size
    self.dataset = predictions.head(data_lib.load_split(data, split), num_examples)
    self.crown_dataset = predictions.head(self.dataset, crown_examples)
    variables = lambda state: {"params": state.params, **state.model_state}
    self._certified = {
        m: jax.jit(lambda state, x, y, eps, m=m: certify.certified(
            apply_fn, variables(state), x, y, eps, method=m)) for m in self.methods}

  def run(self, state):
    """Yields (name, value) pairs as the module docstring lists."""
    logits = predictions.collect_logits(self.predict_fn, state, self.dataset,
                                        batch_size=self.batch_size, mesh=self.mesh)
    yield "clean_accuracy", float(np.mean(np.argmax(logits, -1) == self.dataset.labels))
    for method in self.methods:
      crown = method == "crown"
      ds = self.crown_dataset if crown else self.dataset
      for eps in self.eps:
        fn = lambda x, y, eps=jnp.float32(eps): self._certified[method](state, x, y, eps)
        flags = predictions.collect(fn, ds, mesh=self.mesh,
                                    batch_size=self.crown_batch_size if crown else
                                    self.batch_size)
        yield f"{method}/eps={eps:.4g}", float(np.mean(flags))
