"""The training core: TrainState (players), the pure train step, train_for, replicas, optimizers,
checkpoints, writers, loop."""
from rvjax.train import guards  # registers the "pgd_guard" hook
from rvjax.train.checkpoint import CheckpointError, Checkpointer
from rvjax.train.inner import train_for
from rvjax.train.loop import InjectedFailure, train_and_evaluate
from rvjax.train.players import Game
from rvjax.train.state import TrainState
from rvjax.train.step import compile_predict, compile_train_step, predict, train_step
