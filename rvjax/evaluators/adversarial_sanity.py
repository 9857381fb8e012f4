"""Sanity checks that flag likely gradient masking in an adversarial evaluation.

After Carlini et al. 2019 ("On Evaluating Adversarial Robustness", Sec. 5 checklist) and the
AutoAttack flags (Croce & Hein 2020). Each check returns (passed, detail); a failure means the
robust accuracies are probably overestimates, not that the model is robust.

  eps0_matches_clean       every eps-bounded attack at eps = 0 gives exactly the clean
                           prediction correctness, per example (on all examples if 0 is among the
                           evaluated eps, else on the first batch).
  monotone_in_eps          no attack's (or the worst case's) accuracy rises with eps, starting
                           from the clean accuracy.
  large_eps_below_chance   PGD at `large_eps` (default: linf 0.5, l2 0.5 sqrt(H W C), radii that
                           reach the uniform gray image from any image) leaves accuracy <= 1/K.
  pgd_stronger_than_fgsm   per example, at every eps, PGD fools wherever FGSM fools.
  more_steps_not_higher    PGD with twice the steps (fresh key) is not less successful, at the
  more_restarts_not_higher eps where PGD accuracy is nearest half the clean accuracy; same with
                           twice the restarts. Both runs are random, so this is a sign test: of
                           the u + d examples whose outcome changes (u now robust, d now fooled),
                           it fails if u - d > max(slack N, 2 sqrt(u + d)) (about 2 sigma).
  gradients_nonzero        the cross-entropy has a nonzero input gradient at every clean example
                           (zero: stop_gradient, quantized inputs or a saturated softmax).
  outputs_are_logits       the model does not output probabilities (rows summing to 1 or all
                           values in [0, 1]); attacks' losses expect logits.
  deterministic            two eval passes give bitwise identical logits.
  batch_size_invariant     logits and FGSM results do not depend on the batch size.

Stochastic comparisons allow `slack` (a fraction of the N examples, at least one example);
eps0_matches_clean, deterministic and outputs_are_logits are exact. The PGD and FGSM used are the
first configured attacks of those kinds, else defaults (FGSM; PGD-20, one restart).
"""
import numpy as np


def _reference(ev, kind: str):
  """(name or None, kwargs) of the first configured attack of `kind`; None: use the defaults."""
  for name, (k, kwargs) in ev.attack_configs.items():
    if k == kind:
      return name, kwargs
  return None, {}


def _robust_per_eps(ev, state, res, kind: str, salt: int):
  """The reference attack of `kind` and its (N,) robust masks at every eps (run if missing)."""
  name, _ = _reference(ev, kind)
  if name is not None:  # the configured attack object, so its compiled function is reused
    return ev.attacks[name][1], res["robust"][name]
  attack = ev.make_attack(kind)
  return attack, [res["clean"] & ev.correct(state, attack, e, ev.key_for(salt)) for e in ev.eps]


def _accuracy(ev, state, res, attack, eps, salt, **kw) -> float:
  return float((res["clean"] & ev.correct(state, attack, eps, ev.key_for(salt), **kw)).mean())


def run(ev, state, res: dict) -> dict:
  """All checks for the evaluator `ev` (an `adversarial.Evaluator`) and its results `res`.

  Returns:
    {check: (passed: bool, detail: str)} in the order of the module docstring.
  """
  clean, eps = res["clean"], res["eps"]
  n = clean.size
  allowed = max(1, int(ev.slack * n))
  tol = allowed / n
  out = {}

  if eps[0] == 0:
    at_zero = {name: raws[0] for name, raws in res["raw"].items()}
  else:
    at_zero = {name: ev.correct(state, ev.attacks[name][1], 0.0, ev.key_for(0),
                                num_examples=ev.batch_size) for name in res["raw"]}
  bad = {name: int(np.sum(r != clean[:r.size])) for name, r in at_zero.items()}
  checked = min((r.size for r in at_zero.values()), default=0)
  out["eps0_matches_clean"] = (all(v == 0 for v in bad.values()),
                               f"of {checked} examples, those whose eps=0 correctness differs "
                               f"from clean: {bad}")

  curves = {name: [clean.mean()] + [float(r.mean()) for r in rs]
            for name, rs in {**res["robust"], "worst": res.get("worst", [])}.items()}
  rises = {name: round(float(max(np.diff(c), default=0.0)), 4) for name, c in curves.items()}
  out["monotone_in_eps"] = (all(r <= tol for r in rises.values()),
                            f"largest accuracy rise between consecutive eps: {rises} "
                            f"(allowed {tol:.4f})")

  pgd, pgd_robust = _robust_per_eps(ev, state, res, "pgd", 1)
  large = _accuracy(ev, state, res, pgd, ev.large_eps, 2)
  chance = 1.0 / ev.dataset.num_classes
  out["large_eps_below_chance"] = (large <= chance + tol,
                                   f"PGD accuracy {large:.4f} at eps={ev.large_eps:.4g} "
                                   f"(chance {chance:.4f})")

  fgsm, fgsm_robust = _robust_per_eps(ev, state, res, "fgsm", 3)
  misses = [int(np.sum(p & ~f)) for p, f in zip(pgd_robust, fgsm_robust)]
  out["pgd_stronger_than_fgsm"] = (max(misses) <= allowed,
                                   f"examples FGSM fools but PGD does not, per eps: {misses}")

  accs = np.array([float(r.mean()) for r in pgd_robust])
  nonzero = [j for j, e in enumerate(eps) if e > 0] or [0]
  j = min(nonzero, key=lambda i: abs(accs[i] - clean.mean() / 2))
  settings = {"steps": 20, "restarts": 1, **_reference(ev, "pgd")[1]}
  for check, field, salt in (("more_steps_not_higher", "steps", 4),
                             ("more_restarts_not_higher", "restarts", 5)):
    doubled = ev.make_attack("pgd", **{**settings, field: 2 * settings[field]})
    robust2 = clean & ev.correct(state, doubled, eps[j], ev.key_for(salt))
    up, down = int(np.sum(robust2 & ~pgd_robust[j])), int(np.sum(pgd_robust[j] & ~robust2))
    out[check] = (up - down <= max(allowed, 2 * np.sqrt(up + down)),
                  f"PGD accuracy {accs[j]:.4f} -> {robust2.mean():.4f} with 2x {field} at "
                  f"eps={eps[j]:.4g} ({up} examples became robust, {down} were fooled)")

  grads = ev.input_gradients(state).reshape(n, -1)
  zero = int(np.sum(np.all(grads == 0, axis=1)))
  out["gradients_nonzero"] = (zero <= allowed and zero < n,
                              f"examples with an all-zero input gradient: {zero} of {n}")

  logits = ev.logits(state)
  sums_to_one = bool(np.allclose(logits.sum(-1), 1.0, atol=1e-3))
  in_unit = bool(logits.min() >= 0.0 and logits.max() <= 1.0)
  out["outputs_are_logits"] = (not (sums_to_one or in_unit),
                               f"rows sum to 1: {sums_to_one}; all values in [0, 1]: {in_unit}")

  again = ev.logits(state)
  out["deterministic"] = (bool(np.array_equal(logits, again)),
                          "max |difference| between two passes: "
                          f"{float(np.max(np.abs(logits - again))):.3g}")

  other, last = ev.other_batch_size(), len(eps) - 1
  diff = float(np.max(np.abs(logits - ev.logits(state, batch_size=other))))
  scale = max(1.0, float(np.max(np.abs(logits))))
  fgsm_other = res["clean"] & ev.correct(state, fgsm, eps[last], ev.key_for(3), batch_size=other)
  flips = int(np.sum(fgsm_other != fgsm_robust[last]))
  out["batch_size_invariant"] = (diff <= 1e-4 * scale and flips <= allowed,
                                 f"batch {ev.batch_size} vs {other}: max |logit difference| "
                                 f"{diff:.3g}; FGSM results differing at eps={eps[last]:.4g}: "
                                 f"{flips}")
  return out
