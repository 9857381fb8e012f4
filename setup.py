"""rvjax: trustworthy computer vision in JAX/Flax."""
import setuptools

setuptools.setup(
    name="rvjax",
    version="0.1.0",
    description="Pure-functional JAX/Flax research code for trustworthy computer vision.",
    packages=setuptools.find_packages(include=["rvjax", "rvjax.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.4.30,<0.11",
        "flax>=0.10,<0.13",
        "optax>=0.2.3,<0.3",
        "orbax-checkpoint>=0.9,<0.13",
        "chex>=0.1.87,<0.2",
        "ml-collections>=0.1.1,<1.2",
        "tensorflow-datasets>=4.9.6,<5",
        "array-record>=0.5",
        "absl-py>=2.0",
        "numpy>=1.26,<3",
        "scipy>=1.11",
        "scikit-learn>=1.3,<2",
        "scikit-image>=0.22,<0.27",
        "matplotlib>=3.8,<4",
        "tqdm>=4.66,<5",
        "tensorboardX>=2.6,<3",
    ],
    extras_require={
        "cuda": ["jax[cuda12]>=0.4.30,<0.11"],
        "fonts": ["pillow>=10"],  # optional font glyphs for rvjax.data.synthetic
        "test": [
            "pytest>=8,<10",
            "pytest-xdist>=3.5,<4",
            "imagecorruptions>=1.1.2",
        ],
    },
)
