"""The network: a lifting layer, a stack of residual blocks and a scalar head."""
from typing import Callable

import equinox as eqx
import jax
import jax.random as jr


class ResidualBlock(eqx.Module):
    """Pre-norm residual block: x + W(LayerNorm(x)). Arrays only."""

    norm: eqx.nn.LayerNorm
    linear: eqx.nn.Linear

    def __init__(self, width: int, *, key: jax.Array):
        self.norm = eqx.nn.LayerNorm(width)
        self.linear = eqx.nn.Linear(width, width, key=key)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.linear(self.norm(x))


class Regressor(eqx.Module):
    """Maps an `in_size` vector to a scalar."""

    lift: eqx.nn.Linear
    blocks: list
    head: eqx.nn.Linear
    activation: Callable

    def __init__(self, in_size: int, width: int, depth: int, *, activation=jax.nn.gelu,
                 key: jax.Array):
        lift_key, block_key, head_key = jr.split(key, 3)
        self.lift = eqx.nn.Linear(in_size, width, key=lift_key)
        block = ResidualBlock(width, key=block_key)
        self.blocks = [block] * depth
        self.head = eqx.nn.Linear(width, "scalar", key=head_key)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.lift(x)
        for block in self.blocks:
            x = self.activation(block(x))
        return self.head(x)
