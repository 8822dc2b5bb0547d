# Correct Equinox training set-up: the optimiser sees only the arrays of the model.
import equinox as eqx
import jax
import optax

key = jax.random.PRNGKey(0)
model = eqx.nn.MLP(2, 2, 8, 2, key=key)
optim = optax.adam(1e-3)
state = optim.init(eqx.filter(model, eqx.is_array))


@eqx.filter_jit
def predict(model, x):
    return model(x)
