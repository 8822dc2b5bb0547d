import jax
import optax
import equinox as eqx

model = eqx.nn.MLP(2, 1, 16, 2, key=jax.random.PRNGKey(0))
optim = optax.adamw(1e-3)
params = eqx.filter(model, eqx.is_array_like)
state = optim.init(params)
