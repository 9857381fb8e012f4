"""The training core: TrainState, the pure train step, optimizers, checkpoints, writers, loop."""
from rvjax.train import guards  # registers the "pgd_guard" hook
from rvjax.train.checkpoint import CheckpointError, Checkpointer
from rvjax.train.loop import InjectedFailure, train_and_evaluate
from rvjax.train.state import TrainState
from rvjax.train.step import compile_predict, compile_train_step, predict, train_step
