"""Synthetic data: y = sin(pi x0) cos(pi x1) + noise, and a shuffling batch iterator."""
from typing import Iterator, Tuple

import jax
import jax.numpy as jnp
import jax.random as jr


def make_dataset(key: jax.Array, n: int = 4096, noise: float = 0.05):
    x_key, noise_key = jr.split(key)
    x = jr.uniform(x_key, (n, 2), minval=-1.0, maxval=1.0)
    y = jnp.sin(jnp.pi * x[:, 0]) * jnp.cos(jnp.pi * x[:, 1])
    return x, y + noise * jr.normal(noise_key, (n,))


def train_val_split(x, y, val_fraction: float = 0.1):
    n_val = int(x.shape[0] * val_fraction)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def batches(x, y, batch_size: int, *, key: jax.Array) -> Iterator[Tuple[jax.Array, jax.Array]]:
    """Infinite iterator over shuffled minibatches; reshuffles every epoch."""
    n = x.shape[0]
    while True:
        key, perm_key = jr.split(key)
        perm = jr.permutation(perm_key, n)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = perm[start:start + batch_size]
            yield x[idx], y[idx]
