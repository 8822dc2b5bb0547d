# Two pitfalls: an optimiser initialised on a model holding activation functions (EQX001,
# line 17), and jax.jit over a function that receives such a model (EQX003).
import equinox as eqx
import jax
import optax


@jax.jit
def predict(model: eqx.nn.MLP, x):
    return model(x)


key = jax.random.PRNGKey(0)
model = eqx.nn.MLP(2, 2, 8, 2, key=key)
optim = optax.adam(1e-3)
y = predict(model, jax.numpy.zeros(2))
state = optim.init(model)
