"""Adversarial robustness evaluator: robust accuracy against eps under several attacks.

Config (an entry of `config.evals` with type "adversarial"; every field but `type` is a kwarg):

  split, batch_size, num_examples: the data (num_examples 0: the whole split, else its first n).
  norm: "linf" or "l2"; eps: radii in [0, 1] pixel units, sorted and deduplicated (the curve
    starts at eps = 0 with the clean accuracy; include 0 to run every attack there too; the
    sanity report runs them at 0 on the first batch either way).
  attacks: {name: {"type": kind, **kwargs}} (type defaults to the name), built by
    `rvjax.attacks.create(kind, norm=norm, **kwargs)`; kinds and settings are listed in
    `rvjax.attacks.factory` (fgsm, fgsm_rs, pgd, apgd_ce, autoattack, spatial). Evaluation PGD
    keeps the per-example best iterate (select="best"). APGD-T inside autoattack counts any
    misclassification as success (as AutoAttack). spatial's max_translation is in pixels of a
    32-px image, scaled by W / 32 (0.75 px on 8x8 digits, as Engstrom et al.'s +-3 px is ~10% of
    CIFAR's width); it has no eps and is reported once.
    Default: fgsm, pgd (steps 20, restarts 5), apgd_ce, autoattack, spatial.
  sanity, large_eps, slack: the gradient-masking checks of `adversarial_sanity`.
  seed: attack randomness; each (attack, eps, batch) gets its own fold of it.
  workdir: where the PNG and the reports go (the loop passes the run's workdir); None: no files.
  name: the folder under workdir (default "adversarial"), so two such evals do not collide.

An example counts as robust under an attack iff it is classified correctly both clean and at the
attack's output; "worst" is robust iff robust under every eps-bounded attack (the pointwise worst
case). Attacks run on `predict_fn`, i.e. in eval mode (running BN averages).

Yields "clean_accuracy", "<attack>/eps=<eps>" and "worst/eps=<eps>" (fractions in [0, 1], eps
printed with 4 significant digits), "<eps-free attack>", "sanity/<check>" (1.0 pass, 0.0 fail),
"sanity/passed" and "sanity/num_failed". Files in workdir/<name>/: <split>_accuracy_vs_eps.png,
<split>_report.json, <split>_report.md.
"""
import functools
import itertools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from rvjax import attacks as attacks_lib
from rvjax import sharding, validate
from rvjax.evaluators import adversarial_sanity, predictions


EPS_FREE = attacks_lib.factory.EPS_FREE
SANITY_SALT = 1_000_000  # keys of the sanity runs: fold_in(key, SANITY_SALT + i)
DEFAULT_ATTACKS = {"fgsm": {}, "pgd": {"steps": 20, "restarts": 5}, "apgd_ce": {},
                   "autoattack": {}, "spatial": {}}


class Evaluator:
  """Robust accuracy of `predict_fn(state, images) -> logits` under the configured attacks.

  Args: see the module docstring; predict_fn, data and mesh as for every evaluator.
  """

  def __init__(self, predict_fn, *, data, mesh, split: str = "test", batch_size: int = 128,
               num_examples: int = 0, norm: str = "linf", eps=(8 / 255,), attacks=None,
               sanity: bool = True, large_eps: float | None = None, slack: float = 0.01,
               seed: int = 0, workdir: str | None = None, name: str = "adversarial"):
    validate.check_choice(norm, "norm", ("linf", "l2"))
    validate.check_positive(num_examples, "num_examples", allow_zero=True)
    self.predict_fn, self.mesh, self.batch_size, self.norm = predict_fn, mesh, batch_size, norm
    validate.check_positive(slack, "slack", allow_zero=True)
    ds = _head(predictions.load_split(data, split), num_examples or None)
    self.dataset, self.split = ds, split
    self.eps = sorted({float(e) for e in eps})
    if not self.eps or self.eps[0] < 0:
      raise ValueError(f"eps values must be >= 0, got {tuple(eps)}.")
    self.attack_configs, self.attacks = {}, {}
    for attack_name, cfg in dict(DEFAULT_ATTACKS if attacks is None else attacks).items():
      cfg = dict(cfg)
      kind = cfg.pop("type", attack_name)
      self.attack_configs[attack_name] = (kind, cfg)
      self.attacks[attack_name] = (kind, self.make_attack(kind, **cfg))
    dim = int(np.prod(ds.images.shape[1:]))
    self.large_eps = large_eps or (0.5 if norm == "linf" else 0.5 * float(np.sqrt(dim)))
    self.sanity, self.slack, self.key = sanity, slack, jax.random.key(seed)
    self.out_dir = os.path.join(workdir, name) if workdir else None
    self._compiled, self._grad = {}, None

  def make_attack(self, kind: str, **kwargs):
    """`attacks.create(kind, norm=this evaluator's norm, **kwargs)`."""
    return attacks_lib.create(kind, norm=self.norm, **kwargs)

  def key_for(self, salt: int) -> jax.Array:
    """A key for extra attack runs (sanity checks), independent of the configured attacks'."""
    return jax.random.fold_in(self.key, SANITY_SALT + salt)

  def other_batch_size(self) -> int:
    """A valid batch size other than `batch_size` (half of it, or double)."""
    half, devices = self.batch_size // 2, sharding.data_size(self.mesh)
    return half if half >= devices and half % devices == 0 else 2 * self.batch_size

  def _fn(self, attack):
    if attack not in self._compiled:
      self._compiled[attack] = jax.jit(functools.partial(_correct, self.predict_fn, attack))
    return self._compiled[attack]

  def correct(self, state, attack, eps: float, key, *, batch_size: int | None = None,
              num_examples: int | None = None):
    """(n,) bool: the prediction at `attack`'s output is the label (not yet AND-ed with clean).

    On the first `num_examples` examples (default all N), in batches of `batch_size`.
    """
    fn, eps, batch = self._fn(attack), jnp.float32(eps), itertools.count()
    out = predictions.collect(lambda x, y: fn(state, x, y, jax.random.fold_in(key, next(batch)),
                                              eps),
                              _head(self.dataset, num_examples),
                              batch_size=batch_size or self.batch_size, mesh=self.mesh)
    return out.astype(bool)

  def logits(self, state, *, batch_size: int | None = None) -> np.ndarray:
    """(N, K) eval logits."""
    return predictions.collect_logits(self.predict_fn, state, self.dataset,
                                      batch_size=batch_size or self.batch_size, mesh=self.mesh)

  def input_gradients(self, state) -> np.ndarray:
    """(N, H, W, C) gradient of each example's cross-entropy with respect to its input."""
    if self._grad is None:
      loss = lambda s, x, y: jnp.sum(attacks_lib.ce(self.predict_fn(s, x), y))
      self._grad = jax.jit(jax.grad(loss, argnums=1))
    return predictions.collect(lambda x, y: self._grad(state, x, y), self.dataset,
                               batch_size=self.batch_size, mesh=self.mesh)

  def run(self, state):
    """Yields the metrics of the module docstring; writes the PNG and reports into workdir."""
    labels = self.dataset.labels
    clean = np.argmax(self.logits(state), -1) == labels
    res = {"clean": clean, "eps": self.eps, "raw": {}, "robust": {}, "eps_free": {}}
    yield "clean_accuracy", float(clean.mean())
    for i, (name, (kind, attack)) in enumerate(self.attacks.items()):
      key = jax.random.fold_in(self.key, i)
      if kind in EPS_FREE:
        res["eps_free"][name] = clean & self.correct(state, attack, 0.0, key)
        yield name, float(res["eps_free"][name].mean())
        continue
      res["raw"][name] = [self.correct(state, attack, e, jax.random.fold_in(key, j))
                          for j, e in enumerate(self.eps)]
      res["robust"][name] = [clean & r for r in res["raw"][name]]
      for e, r in zip(self.eps, res["robust"][name]):
        yield f"{name}/eps={e:.4g}", float(r.mean())
    if res["robust"]:
      res["worst"] = [np.logical_and.reduce([r[j] for r in res["robust"].values()])
                      for j in range(len(self.eps))]
      for e, r in zip(self.eps, res["worst"]):
        yield f"worst/eps={e:.4g}", float(r.mean())
    checks = {}
    if self.sanity:
      checks = adversarial_sanity.run(self, state, res)
      for check, (ok, _) in checks.items():
        yield f"sanity/{check}", float(ok)
      yield "sanity/passed", float(all(ok for ok, _ in checks.values()))
      yield "sanity/num_failed", float(sum(not ok for ok, _ in checks.values()))
    if self.out_dir and jax.process_index() == 0:
      write_outputs(self.out_dir, self.split, self.norm, res, checks)


def _head(ds, n: int | None):
  """The first n examples of `ds` (all if n is None)."""
  return ds if n is None else type(ds)(ds.images[:n], ds.labels[:n], ds.num_classes)


def _correct(predict_fn, attack, state, x, y, key, eps):
  logits_fn = lambda z: predict_fn(state, z)
  return jnp.argmax(predict_fn(state, attack(logits_fn, x, y, key, eps)), -1) == y


def summary(res: dict) -> dict:
  """Accuracies (fractions) of `res`: clean, per attack per eps, worst, eps-free attacks."""
  mean = lambda rs: [float(r.mean()) for r in rs]
  out = {"clean_accuracy": float(res["clean"].mean()), "eps": list(res["eps"]),
         "robust_accuracy": {n: mean(rs) for n, rs in res["robust"].items()}}
  if "worst" in res:
    out["robust_accuracy"]["worst"] = mean(res["worst"])
  out["curve"] = curve(out)
  out["eps_free"] = {n: float(r.mean()) for n, r in res["eps_free"].items()}
  return out


def write_outputs(out_dir: str, split: str, norm: str, res: dict, checks: dict) -> None:
  """Writes <split>_accuracy_vs_eps.png, <split>_report.json and <split>_report.md."""
  os.makedirs(out_dir, exist_ok=True)
  s = summary(res)
  report = {**s, "norm": norm, "split": split, "num_examples": int(res["clean"].size),
            "sanity": {c: {"passed": bool(ok), "detail": d} for c, (ok, d) in checks.items()},
            "sanity_passed": all(ok for ok, _ in checks.values())}
  with open(os.path.join(out_dir, f"{split}_report.json"), "w") as f:
    json.dump(report, f, indent=2)
  with open(os.path.join(out_dir, f"{split}_report.md"), "w") as f:
    f.write(markdown(report))
  plot_curve(os.path.join(out_dir, f"{split}_accuracy_vs_eps.png"), s, norm)


def markdown(report: dict) -> str:
  """The report as Markdown: an accuracy table (percent) and the sanity checklist."""
  eps = report["eps"]
  lines = [f"# Adversarial robustness ({report['split']}, {report['num_examples']} examples, "
           f"{report['norm']})", "", f"Clean accuracy: {100 * report['clean_accuracy']:.2f}%", "",
           "| attack | " + " | ".join(f"eps={e:.4g}" for e in eps) + " |",
           "|---" * (len(eps) + 1) + "|"]
  for name, accs in report["robust_accuracy"].items():
    lines.append(f"| {name} | " + " | ".join(f"{100 * a:.2f}" for a in accs) + " |")
  for name, acc in report["eps_free"].items():
    lines.append(f"\n{name} (no eps): {100 * acc:.2f}%")
  if report["sanity"]:
    verdict = "all passed" if report["sanity_passed"] else "FAILED: possible gradient masking"
    lines += ["", f"## Sanity checks ({verdict})", ""]
    for check, r in report["sanity"].items():
      lines.append(f"- [{'x' if r['passed'] else ' '}] {check}: {r['detail']}")
  return "\n".join(lines) + "\n"


def curve(s: dict) -> dict:
  """{"eps": [0, ...], attack: [accuracy, ...]}: the accuracies of `summary` starting at eps = 0
  (the clean accuracy, unless 0 was evaluated)."""
  start = [] if s["eps"] and s["eps"][0] == 0 else [0.0]
  head = [s["clean_accuracy"]] if start else []
  return {"eps": start + s["eps"],
          **{n: head + accs for n, accs in s["robust_accuracy"].items()}}


def plot_curve(path: str, s: dict, norm: str) -> None:
  """Robust accuracy (percent) against eps, one line per attack and the worst case."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=(5, 4), dpi=100)
  FigureCanvasAgg(fig)
  ax = fig.subplots()
  c = s["curve"]
  for name in s["robust_accuracy"]:
    style = dict(color="black", lw=2.5) if name == "worst" else dict(lw=1.2)
    ax.plot(c["eps"], [100 * a for a in c[name]], marker="o", ms=3, label=name, **style)
  ax.axhline(100 * s["clean_accuracy"], color="gray", ls=":", lw=1, label="clean")
  extra = "".join(f", {n} {100 * a:.1f}%" for n, a in s["eps_free"].items())
  ax.set_title(f"clean {100 * s['clean_accuracy']:.1f}%{extra}", fontsize=10)
  ax.set_xlabel(f"eps ({norm}, pixel range [0, 1])")
  ax.set_ylabel("robust accuracy (%)")
  ax.set_ylim(0, 100)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path)
