"""Learning to optimize and to simulate: the LSTM learning-rate controller and REINFORCE
(`policy`, `reinforce`), its meta-training over vmapped inner runs (`lr_meta`), and learning the
renderer's knobs (`simulate`). Import the submodules directly."""
