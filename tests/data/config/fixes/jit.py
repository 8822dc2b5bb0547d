import functools

import jax
import jax.numpy as jnp
import equinox as eqx


class Model(eqx.Module):
    linear: eqx.nn.Linear
    scale: float

    def __init__(self, key):
        self.linear = eqx.nn.Linear(2, 2, key=key)
        self.scale = 2.0


@functools.partial(jax.jit, static_argnums=(0,))
def forward(model: Model, x):
    return model.linear(x) * model.scale


def per_example(model, x):
    return model.linear(x)


model = Model(jax.random.PRNGKey(0))
xs = jnp.zeros((8, 2))
ys = jax.vmap(per_example, in_axes=(None, 0))(model, xs)
