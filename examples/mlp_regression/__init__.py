"""Residual MLP regression on a noisy 2-D function: the example project for `make run`.

Run with `python -m mlp_regression.train` from the `examples/` directory.
"""
