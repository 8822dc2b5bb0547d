"""Train the Regressor with AdamW and report the validation loss."""
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax

from .data import batches, make_dataset, train_val_split
from .model import Regressor

STEPS = 3000
BATCH_SIZE = 128
PRINT_EVERY = 250

schedule = optax.warmup_cosine_decay_schedule(
    init_value=0.0, peak_value=3e-3, warmup_steps=200, decay_steps=STEPS
)
optim = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=1e-4))


def loss_fn(model, x, y):
    pred = jax.vmap(model)(x)
    return jnp.mean((pred - y) ** 2)


@eqx.filter_jit
def make_step(model, opt_state, x, y):
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
    params = eqx.filter(model, eqx.is_array)
    updates, opt_state = optim.update(grads, opt_state, params)
    model = eqx.apply_updates(model, updates)
    return model, opt_state, loss


@jax.jit
def evaluate(model: Regressor, x, y):
    return loss_fn(model, x, y)


def main(seed: int = 0):
    data_key, model_key, loader_key = jr.split(jr.PRNGKey(seed), 3)
    x, y = make_dataset(data_key)
    (x_train, y_train), (x_val, y_val) = train_val_split(x, y)

    model = Regressor(in_size=2, width=64, depth=4, key=model_key)
    opt_state = optim.init(model)

    loader = batches(x_train, y_train, BATCH_SIZE, key=loader_key)
    for step, (xb, yb) in zip(range(STEPS), loader):
        model, opt_state, loss = make_step(model, opt_state, xb, yb)
        if step % PRINT_EVERY == 0 or step == STEPS - 1:
            val = evaluate(model, x_val, y_val)
            print(f"step {step:5d}  train {loss.item():.5f}  val {val.item():.5f}")

    eqx.tree_serialise_leaves("regressor.eqx", model)
    return model


if __name__ == "__main__":
    main()
