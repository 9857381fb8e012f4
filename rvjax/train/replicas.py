"""One interface for one model, K ensemble members and MC-dropout sampling.

The loop asks a replica object for everything that differs between them and never branches:

    rep = replicas.from_config(config)           # Single(), Members(K, formulation), MCDropout(...)
    mesh = rep.make_mesh()
    state = rep.create_state(init, init_key, mesh)     # or rep.abstract_state(init, mesh)
    step_fn = rep.compile_step(member_step, mesh)      # (state, batch, step_key) -> (state, metrics)
    step_key = rep.train_key(train_key)                # what step_fn and HookContext.key take
    batches = data.train_batches(ds, ..., member_seeds=rep.data_seeds(seed))
    batches = data.to_device(batches, mesh, member_axis=rep.member_axis)
    predict_fn = rep.predict_fn(model, mesh, eval_key)         # jitted, divided by T
    members_fn = rep.member_logits_fn(model, mesh, eval_key)   # jitted (M, B, K) or None

Here `init(key) -> TrainState` and `member_step(state, batch, key) -> (state, metrics)` are the
single-model ones (rvjax.train.state.init_fn, rvjax.train.step.train_step with its objective and
optimizer bound); the replica maps them. `HookContext.key` is `rep.train_key(train_key)`:
  * Single, and MC dropout over a single model: the run's train key itself, a scalar key;
  * Members(K): (K,) keys, member m's being `fold_in(train_key, m)`; a hook that steps or samples
    per member maps over them alongside the stacked state.
MC-dropout sampling changes only prediction: its T eval keys are `split(eval_key, T)`, the same on
every call, so evaluation is reproducible.
"""
import dataclasses
import functools

import jax

from rvjax import compiler, sharding, validate
from rvjax.train import step as step_lib
from rvjax.train.state import TrainState
from rvjax.uncertainty import ensemble, mc_dropout


def _eval_logits(model):
  return functools.partial(step_lib.eval_logits, model.apply)


class _Deterministic:
  """What one model and a deep ensemble share: eval-mode prediction pooled by `logits_fn`."""

  def predict_fn(self, model, mesh, eval_key):
    """Jitted `(state, images) -> logits / T` in eval mode (an ensemble: log mean member
    probabilities / T)."""
    del eval_key
    return jax.jit(step_lib.calibrated(self.logits_fn(_eval_logits(model), mesh)))

  def fingerprint(self) -> dict:
    return {"ensemble_size": self.size}


@dataclasses.dataclass(frozen=True)
class Single(_Deterministic):
  """One model: a plain TrainState, replicated over the mesh; batches (B, ...)."""
  size = 1
  member_axis = False  # Batches have no member axis.

  def make_mesh(self):
    return sharding.make_mesh()

  def abstract_state(self, init, mesh) -> TrainState:
    abstract = jax.eval_shape(init, jax.random.key(0))
    rep = sharding.replicated(mesh)
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=rep), abstract)

  def create_state(self, init, key, mesh) -> TrainState:
    abstract = jax.eval_shape(init, key)
    return jax.jit(init, out_shardings=jax.tree.map(lambda _: sharding.replicated(mesh),
                                                    abstract))(key)

  def compile_step(self, member_step, mesh):
    del mesh  # The state stays replicated, the batch sharded as it comes.
    return compiler.gradient_jit(member_step, donate_argnums=0)

  def train_key(self, key):
    return key

  def data_seeds(self, seed: int):
    del seed
    return None

  def logits_fn(self, member_logits, mesh):
    """The pooled `(state, images) -> (N, K)` of one model's `member_logits`: itself."""
    del mesh
    return member_logits

  def member_logits_fn(self, model, mesh, eval_key):
    """None: one deterministic model has no members to disagree."""
    del model, mesh, eval_key
    return None



@dataclasses.dataclass(frozen=True)
class Members(_Deterministic):
  """K deep-ensemble members stacked on a leading axis of every state leaf and batch entry.

  Attributes:
    size: K >= 2.
    formulation: how the step maps over members (rvjax.uncertainty.ensemble): "auto" (vmap on
      accelerators or when members are sharded, "unroll" on CPU), "vmap", "unroll" or "map".
    shared_batch: all members train on the same batches (B, ...) in the single model's order
      (member_axis False); else member m reads its own order (batches (K, B, ...)).
  """
  size: int
  formulation: str = "auto"
  shared_batch: bool = False

  @property
  def member_axis(self) -> bool:
    """Whether batches carry a leading member axis (K, B, ...)."""
    return not self.shared_batch

  def __post_init__(self):
    validate.check_positive(self.size, "ensemble.size", integer=True)
    if self.size < 2:
      raise ValueError(f"Members needs size >= 2, got {self.size}; use Single() for one model.")
    ensemble.resolve(self.formulation)  # Checks the name.

  def make_mesh(self):
    return sharding.make_mesh(ensemble.mesh_members(self.size))

  def _formulation(self, mesh):
    return ensemble.resolve(self.formulation, mesh)

  def abstract_state(self, init, mesh) -> TrainState:
    return ensemble.abstract_state(init, self.size, mesh)

  def create_state(self, init, key, mesh) -> TrainState:
    return ensemble.create(init, key, self.size, mesh)

  def compile_step(self, member_step, mesh):
    return ensemble.compile_step(member_step, self._formulation(mesh), mesh,
                                 shared_batch=self.shared_batch)

  def train_key(self, key):
    return ensemble.member_keys(key, self.size)

  def data_seeds(self, seed: int):
    return None if self.shared_batch else ensemble.member_seeds(seed, self.size)

  def logits_fn(self, member_logits, mesh):
    """log mean member probabilities (N, K)."""
    return ensemble.pooled(member_logits, self._formulation(mesh))

  def member_logits_fn(self, model, mesh, eval_key):
    """Jitted `(state, images) -> (K, N, classes)` member logits / T."""
    del eval_key
    return jax.jit(step_lib.calibrated(ensemble.over_members(
        _eval_logits(model), self._formulation(mesh), in_axes=(0, None))))



@dataclasses.dataclass(frozen=True)
class MCDropout:
  """MC-dropout prediction (T stochastic passes) over `base` (Single() or Members(K)).

  Training, state, keys and data are `base`'s; the prediction is log mean probability over the T
  passes (and over the members), and the member logits are the T passes' (M = T), or each
  member's T-pass mean (M = K) over Members.
  """
  samples: int
  base: "Single | Members" = Single()

  def __post_init__(self):
    validate.check_positive(self.samples, "mc_dropout.samples", integer=True)

  # The training side is the base's.
  size = property(lambda self: self.base.size)
  member_axis = property(lambda self: self.base.member_axis)

  def make_mesh(self):
    return self.base.make_mesh()

  def abstract_state(self, init, mesh) -> TrainState:
    return self.base.abstract_state(init, mesh)

  def create_state(self, init, key, mesh) -> TrainState:
    return self.base.create_state(init, key, mesh)

  def compile_step(self, member_step, mesh):
    return self.base.compile_step(member_step, mesh)

  def train_key(self, key):
    return self.base.train_key(key)

  def data_seeds(self, seed: int):
    return self.base.data_seeds(seed)

  def fingerprint(self) -> dict:
    return self.base.fingerprint()

  def predict_fn(self, model, mesh, eval_key):
    logits = mc_dropout.predictive(model, self.samples, eval_key)
    return jax.jit(step_lib.calibrated(self.base.logits_fn(logits, mesh)))

  def member_logits_fn(self, model, mesh, eval_key):
    if isinstance(self.base, Members):
      return jax.jit(step_lib.calibrated(ensemble.over_members(
          mc_dropout.predictive(model, self.samples, eval_key),
          self.base._formulation(mesh), in_axes=(0, None))))
    keys = jax.random.split(eval_key, self.samples)
    return jax.jit(step_lib.calibrated(
        lambda state, images: mc_dropout.sample_logits(model, state, images, keys)))


def from_config(config):
  """The replicas a config asks for: `config.ensemble.size` > 1 -> Members(size, formulation,
  shared_batch), else Single(); wrapped in MCDropout when `config.mc_dropout.samples` > 0."""
  size = config.ensemble.size
  base = (Members(size, config.ensemble.formulation,
                  bool(config.ensemble.get("shared_batch", False))) if size > 1 else Single())
  return MCDropout(config.mc_dropout.samples, base) if config.mc_dropout.samples else base
