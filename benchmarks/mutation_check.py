"""Mutation check: do the tests catch deliberately broken attacks, objectives, AugMix, ensembles?

    python -m benchmarks.mutation_check [--only NAME ...] [--list]

Each mutation is a one-place text substitution of the source (the breakages of issue 7 and
similar ones for ensembles / MC dropout). The repository's tracked and untracked, non-ignored
files are copied to a temporary directory once; the test files run unmutated first (they must
pass), then each mutation is applied there alone, the test files it concerns run with
`pytest -x`, and the file is restored. Prints, per mutation, the test
that caught it or SURVIVED, and exits 1 if any survived or a substitution no longer applies (the
source changed: update the mutation). The working tree is never modified.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The test files each mutation runs (the reference tests first: they fail fastest).
ATTACK_TESTS = ["tests/attacks/test_attacks_reference.py", "tests/attacks/test_attacks_apgd.py"]
OBJECTIVE_TESTS = ["tests/objectives/test_adversarial_reference.py",
                   "tests/attacks/test_attacks_reference.py"]
AUGMIX_TESTS = ["tests/augment/test_augmix.py"]
UNCERTAINTY_TESTS = ["tests/uncertainty/test_ensemble.py", "tests/uncertainty/test_mc_dropout.py"]

# (name, file, original text, broken text, test files)
MUTATIONS = [
    ("pgd: keep restart 0, not the per-example best", "rvjax/attacks/gradient.py",
     "idx = losses.best_index(values, succ)",
     "idx = jnp.zeros_like(losses.best_index(values, succ))", ATTACK_TESTS),
    ("pgd: return the last iterate, not the best", "rvjax/attacks/gradient.py",
     'return last if select == "last" else losses.keep_best(best, last)', "return last",
     ATTACK_TESTS),
    ("apgd: momentum 1 instead of 0.75", "rvjax/attacks/auto_pgd.py",
     "MOMENTUM = 0.75", "MOMENTUM = 1.0", ATTACK_TESTS),
    ("apgd: initial step eps instead of 2 eps", "rvjax/attacks/auto_pgd.py",
     "eta=jnp.full(batch_shape, 2.0, x.dtype) * eps", "eta=jnp.full(batch_shape, 1.0, x.dtype) * eps",
     ATTACK_TESTS),
    ("apgd: no restart from the best point", "rvjax/attacks/auto_pgd.py",
     'x=jnp.where(r, x_max, x_new), x_prev=s["x"], grad=jnp.where(r, g_max, g_new),',
     'x=x_new, x_prev=s["x"], grad=g_new,', ATTACK_TESTS),
    ("apgd: checkpoints from p1 = 0.3 instead of 0.22", "rvjax/attacks/auto_pgd.py",
     "FIRST_CHECKPOINT, DECAY, MIN_INTERVAL = 0.22,", "FIRST_CHECKPOINT, DECAY, MIN_INTERVAL = 0.3,",
     ATTACK_TESTS),
    ("autoattack: APGD-T stages dropped", "rvjax/attacks/auto_pgd.py",
     "(x_adv, _), _ = jax.lax.scan(stage, (x_adv, robust), jnp.arange(n_target_classes))",
     "(x_adv, _), _ = (x_adv, robust), None", ATTACK_TESTS),
    ("apgd-t: success only at the target class", "rvjax/attacks/auto_pgd.py",
     'success="misclassified")', 'success="auto")', ATTACK_TESTS),
    ("fgsm: NaN eps accepted", "rvjax/attacks/ball.py",
     "if not np.all(np.isfinite(v)):", "if False:", ATTACK_TESTS),
    ("trades: KL direction swapped in the objective", "rvjax/objectives/adversarial.py",
     "losses.kl(logits_adv, logits)", "losses.kl(logits, logits_adv)", OBJECTIVE_TESTS),
    ("kl loss: direction swapped", "rvjax/attacks/losses.py",
     "return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)",
     "return jnp.sum(jnp.exp(log_q) * (log_q - log_p), axis=-1)", OBJECTIVE_TESTS),
    ("trades: beta not applied", "rvjax/objectives/adversarial.py",
     "return clean_loss + beta * kl, (model_state, metrics)",
     "return clean_loss + kl, (model_state, metrics)", OBJECTIVE_TESTS),
    ("fast-at: default step eps instead of 1.25 eps", "rvjax/attacks/factory.py",
     '"fgsm_rs": 1.25', '"fgsm_rs": 1.0', OBJECTIVE_TESTS),
    ("pgd-at: trains on the best iterate by default", "rvjax/objectives/adversarial.py",
     'select: str = "last"):', 'select: str = "best"):', OBJECTIVE_TESTS),
    ("augmix: uniform chain weights, skip weight 0.5", "rvjax/augment/augmix.py",
     "return jax.nn.softmax(log_g[:width]), jax.nn.sigmoid(log_g[width] - log_g[width + 1])",
     "return jnp.full((width,), 1.0 / width), jnp.float32(0.5)", AUGMIX_TESTS),
    ("augmix: depth fixed at its maximum", "rvjax/augment/augmix.py",
     "d = jax.random.randint(k_depth, (), lo, hi + 1)", "d = hi", AUGMIX_TESTS),
    ("augmix: JSD without the clean prediction", "rvjax/augment/augmix.py",
     "return (kls[0] + kls[1] + kls[2]) / 3.0", "return (kls[1] + kls[2]) / 2.0", AUGMIX_TESTS),
    ("ensemble: members share one key", "rvjax/uncertainty/ensemble.py",
     "jax.vmap(lambda m: jax.random.fold_in(key, m))(jnp.arange(size))",
     "jax.vmap(lambda m: jax.random.fold_in(key, 0 * m))(jnp.arange(size))", UNCERTAINTY_TESTS),
    ("ensemble: averages logits, not probabilities", "rvjax/uncertainty/ensemble.py",
     "return jax.nn.logsumexp(jax.nn.log_softmax(logits, -1), axis=axis) - np.log(logits.shape[axis])",
     "return jax.nn.log_softmax(jnp.mean(logits, axis=axis), -1)", UNCERTAINTY_TESTS),
    ("mc dropout: dropout off at sampling", "rvjax/uncertainty/mc_dropout.py",
     "return model.clone(mc_dropout=True)", "return model.clone(mc_dropout=False)",
     UNCERTAINTY_TESTS),
    ("mc dropout: all passes share one key", "rvjax/uncertainty/mc_dropout.py",
     'rngs={"dropout": key})', 'rngs={"dropout": keys[0]})', UNCERTAINTY_TESTS),
]


def copy_repo(dst: str) -> None:
  """Copies the tracked and untracked, non-ignored files of the repository to `dst`."""
  files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
  for f in filter(None, files):
    src = os.path.join(ROOT, f)
    if os.path.isfile(src):
      os.makedirs(os.path.dirname(os.path.join(dst, f)), exist_ok=True)
      shutil.copy2(src, os.path.join(dst, f))


def run_tests(repo: str, tests: list[str]) -> tuple[bool, str]:
  """(passed, first failing test id or the error tail) of `pytest -x` on `tests` in `repo`."""
  env = {**os.environ, "PYTHONPATH": repo, "PYTHONDONTWRITEBYTECODE": "1"}
  proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p",
                         "no:cacheprovider", *tests], cwd=repo, env=env, capture_output=True,
                        text=True)
  if proc.returncode == 0:
    return True, ""
  failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", proc.stdout, re.M)
  return False, failed[0] if failed else proc.stdout.strip().splitlines()[-1]


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", nargs="*", help="substrings of the mutation names to run")
  parser.add_argument("--list", action="store_true", help="list the mutations and exit")
  args = parser.parse_args()
  chosen = [m for m in MUTATIONS if not args.only or any(s in m[0] for s in args.only)]
  if args.list:
    print("\n".join(m[0] for m in chosen))
    return 0
  survived = stale = 0
  with tempfile.TemporaryDirectory(prefix="rvjax_mutation_") as repo:
    copy_repo(repo)
    files = sorted({t for m in chosen for t in m[4]})
    start = time.time()
    passed, detail = run_tests(repo, files)
    if not passed:
      print(f"The unmutated tests fail ({detail}); fix them first.")
      return 1
    print(f"baseline: {len(files)} test files pass unmutated ({time.time() - start:.0f} s)",
          flush=True)
    for name, path, old, new, tests in chosen:
      full = os.path.join(repo, path)
      with open(full) as f:
        source = f.read()
      if source.count(old) != 1:
        print(f"STALE     {name}: {path} holds the original text {source.count(old)} times")
        stale += 1
        continue
      start = time.time()
      with open(full, "w") as f:
        f.write(source.replace(old, new))
      try:
        passed, detail = run_tests(repo, tests)
      finally:
        with open(full, "w") as f:
          f.write(source)
      if passed:
        survived += 1
        print(f"SURVIVED  {name}  ({time.time() - start:.0f} s)", flush=True)
      else:
        print(f"caught    {name}  by {detail}  ({time.time() - start:.0f} s)", flush=True)
  print(f"\n{len(chosen) - survived - stale} of {len(chosen)} mutations caught, {survived} "
        f"survived, {stale} stale.")
  return 1 if survived or stale else 0


if __name__ == "__main__":
  sys.exit(main())
