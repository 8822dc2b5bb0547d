import equinox as eqx
import jax
import optax

model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))
optim = optax.adam(1e-3)
# expect: EQX001, EQX001
state = optim.init(eqx.filter(model, eqx.is_array))
