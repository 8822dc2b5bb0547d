import jax
import optax
import equinox as eqx


class Model(eqx.Module):
    layers: list
    activation: callable

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.layers = [eqx.nn.Linear(2, 8, key=k1), eqx.nn.Linear(8, 1, key=k2)]
        self.activation = jax.nn.relu


model = Model(jax.random.PRNGKey(0))
optim = optax.adam(1e-3)
opt_state = optim.init(model)
grads = eqx.filter_grad(lambda m: 0.0)(model)
updates, opt_state = optim.update(grads, opt_state, model)
