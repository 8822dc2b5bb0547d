import jax
import optax

from model import Net

net = Net(jax.random.PRNGKey(1))
optim = optax.sgd(1e-2)
state = optim.init(net)
