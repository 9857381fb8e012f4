"""What every entry point shares: flag parsing that ends bad input in one line, no stack trace,
and the host-memory setting applied before JAX starts (--keep_freed_memory)."""
from absl import flags

from rvjax import host_memory

_KEEP_FREED_MEMORY = flags.DEFINE_bool(
    "keep_freed_memory", True, "Let glibc malloc keep and reuse freed host memory, so XLA:CPU's "
    "per-call buffers are not page-faulted in again on every step (rvjax.host_memory; one "
    "malloc arena for a single model, each thread's own for an ensemble; process-wide, applied "
    "before JAX starts).")


def setup_host_memory(config=None) -> None:
  """Applies `host_memory.keep_freed_memory` unless --keep_freed_memory=false: with one malloc
  arena, unless `config` (a run's ConfigDict) trains an ensemble (`ensemble.size` > 1), whose
  steps run faster with each thread's own. Call first in main, before any JAX computation."""
  if _KEEP_FREED_MEMORY.value:
    ensemble = None if config is None else config.get("ensemble")
    members = ensemble.get("size", 1) if hasattr(ensemble, "get") else 1  # else checked later
    host_memory.keep_freed_memory(one_arena=not (isinstance(members, int) and members > 1))


def parse_flags(argv):
  """absl's parser; a bad flag or --config.<key> override exits with one `rvjax:` line."""
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:  # ml_collections: an override of a missing key.
    overrides = " ".join(a for a in argv if a.startswith("--config."))
    detail = str(e.args[0] if e.args else e)
    while len(detail) > 1 and detail[0] == detail[-1] and detail[0] in "'\"":
      detail = detail[1:-1]  # KeyError's repr wraps ml_collections' message in more quotes.
    what = f"unknown config key '{detail}'" if detail.isidentifier() else detail.rstrip(".")
    raise SystemExit(f"rvjax: bad override {overrides}: {what}; the config is locked, so only "
                     "existing keys can be overridden (see config.json of a run).") from e
  except flags.Error as e:
    raise SystemExit(f"rvjax: {_without_traceback(str(e))}") from e
  except OSError as e:  # A config file that cannot be read, loaded here to apply overrides.
    raise SystemExit(_load_error(e)) from e


def _without_traceback(message: str) -> str:
  """ml_collections puts a config file's whole traceback in its flag error; keep the flag's line
  and the exception's last line ("ValueError: ...")."""
  lines = [line.strip() for line in message.splitlines() if line.strip()]
  if not any(line.startswith("Traceback (most recent call last)") for line in lines):
    return message
  return f"{lines[0].rstrip(':')}: {lines[-1]}"


def _load_error(e: OSError) -> str:
  return f"rvjax: cannot load --config: {' '.join(str(e).split())}"


def config_record(filename: str | None, argv: list[str]) -> str | None:
  """What the report names as a run's config: the --config flag as typed, then its
  `--config.<key>` overrides in the order given (a value after a space kept with its key).
  The seed is left out: the report records it apart and aggregates runs over it, so the seeds
  of a sweep share one config. None without a config file."""
  if filename is None:
    return None
  words = [filename]
  for i, a in enumerate(argv):
    if a.startswith("--config.") and a.split("=")[0] != "--config.seed":
      spaced = "=" not in a and i + 1 < len(argv) and not argv[i + 1].startswith("--")
      words.append(f"{a}={argv[i + 1]}" if spaced else a)
  return " ".join(words)


def config_value(holder):
  """The config a --config flag names, loaded now; an unreadable file exits with one line."""
  try:
    value = holder.value
    if value is not None:
      value.to_dict()  # A file that failed to load gives a stand-in that raises on first use.
    return value
  except OSError as e:  # ml_collections reports a missing file over several lines.
    raise SystemExit(_load_error(e)) from e
