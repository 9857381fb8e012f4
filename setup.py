"""rvjax: trustworthy computer vision in JAX/Flax."""
import setuptools

setuptools.setup(
    name="rvjax",
    version="0.1.0",
    description="Pure-functional JAX/Flax research code for trustworthy computer vision.",
    packages=setuptools.find_packages(include=["rvjax", "rvjax.*"]),
    package_data={"rvjax.metrics": ["niqe_train400.npz"]},
    python_requires=">=3.11",
    # Lower bounds: the versions the suite passed with (requirements/lock.txt pins them all);
    # upper bounds: the next minor release for pre-1.0 and fast-moving packages, tested or not.
    install_requires=[
        "jax>=0.10.2,<0.11",
        "flax>=0.12.8,<0.13",
        "optax>=0.2.8,<0.3",
        "orbax-checkpoint>=0.12.8,<0.13",
        "chex>=0.1.92,<0.2",
        "ml-collections>=1.1,<1.2",
        "tensorflow-datasets>=4.9.10,<4.10",
        "array-record>=0.8.6,<0.9",
        "absl-py>=2.5,<3",
        "numpy>=2.4,<3",
        "scipy>=1.17,<2",
        "scikit-learn>=1.9,<2",
        "scikit-image>=0.26,<0.27",
        "matplotlib>=3.11,<4",
        "pillow>=13,<14",
        "tqdm>=4.70,<5",
        "tensorboardX>=2.6.5,<3",
    ],
    extras_require={
        "cuda": ["jax[cuda12]>=0.10.2,<0.11"],
        "test": [
            "pytest>=9.2,<9.3",
            "pytest-xdist>=3.8,<4",
            "imagecorruptions>=1.1.2,<1.2",
            "ruff>=0.17,<0.18",
            "jupytext>=1.19,<2",
            "PyWavelets>=1.9,<2",  # scikit-image's denoise_wavelet, the wavelet reference
        ],
        # Benchmarks only (benchmarks/peers.py's PyTorch peers, reference restorers); the
        # package never imports them and the tests skip what is missing.
        "bench": ["bm3d>=4.0.3,<5", "torch==2.14.1", "torchvision==0.29.1",
                  "torchattacks==3.5.1", "imagecorruptions==1.1.2"],
    },
)
