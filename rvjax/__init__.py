"""rvjax: pure-functional JAX/Flax research code for trustworthy computer vision."""
