import equinox as eqx
import optax
import jax
model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))
optim = optax.adam(1e-3)
x = "é😀"; state = optim.init(model)
