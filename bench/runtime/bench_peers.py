"""bench_peers -- the PyTorch and NumPy side of `make bench-runtime`.

Same model, data and optimiser as bench_eqx.c: a 784-256-256-10 ReLU MLP, batch 128,
float32, mean softmax cross-entropy, Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8), started
from the weights bench_eqx wrote to the init file. Prints key=value lines; step times are
medians of per-step wall times (the machine is shared). A framework that is not installed
prints <name>_ms=missing and a reason instead.

Usage: python3 bench_peers.py <init-file> [steps]
"""
import statistics
import sys
import time

B, D_IN, H, C = 128, 784, 256, 10
SHAPES = [(H, D_IN), (H,), (H, H), (H,), (C, H), (C,)]
WARM = 5


def load(path):
    import numpy as np

    raw = open(path, "rb").read()
    off, params = 0, []
    for shape in SHAPES:
        n = int(np.prod(shape))
        params.append(np.frombuffer(raw, np.float32, n, off).reshape(shape).copy())
        off += 4 * n
    x = np.frombuffer(raw, np.float32, B * D_IN, off).reshape(B, D_IN).copy()
    off += 4 * B * D_IN
    y = np.frombuffer(raw, np.int32, B, off).copy()
    return params, x, y


def timed(step, steps):
    times, losses = [], []
    for i in range(WARM + steps):
        t0 = time.perf_counter()
        loss = step()
        t1 = time.perf_counter()
        losses.append(loss)
        if i >= WARM:
            times.append((t1 - t0) * 1e3)
    return statistics.median(times), losses[0], losses[-1]


def bench_torch(params, x, y, steps):
    import torch

    torch.set_num_threads(2)
    layers = [torch.nn.Linear(D_IN, H), torch.nn.Linear(H, H), torch.nn.Linear(H, C)]
    with torch.no_grad():
        for i, lin in enumerate(layers):
            lin.weight.copy_(torch.from_numpy(params[2 * i]))
            lin.bias.copy_(torch.from_numpy(params[2 * i + 1]))
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    print(f"torch_version={torch.__version__}")
    return timed(step, steps)


def bench_numpy(params, x, y, steps):
    import numpy as np

    p = [a.copy() for a in params]
    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    t = [0]
    onehot = np.eye(C, dtype=np.float32)[y]
    lr, b1, b2, eps = np.float32(1e-3), np.float32(0.9), np.float32(0.999), np.float32(1e-8)

    def step():
        w1, c1, w2, c2, w3, c3 = p
        z1 = x @ w1.T + c1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2.T + c2
        h2 = np.maximum(z2, 0)
        z3 = h2 @ w3.T + c3
        zmax = z3.max(axis=1, keepdims=True)
        e = np.exp(z3 - zmax)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + zmax[:, 0] - z3[np.arange(B), y]))
        g3 = (e / s - onehot) / np.float32(B)
        gw3, gc3 = g3.T @ h2, g3.sum(axis=0)
        g2 = (g3 @ w3) * (z2 > 0)
        gw2, gc2 = g2.T @ h1, g2.sum(axis=0)
        g1 = (g2 @ w2) * (z1 > 0)
        gw1, gc1 = g1.T @ x, g1.sum(axis=0)
        t[0] += 1
        bc1, bc2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
        for i, g in enumerate((gw1, gc1, gw2, gc2, gw3, gc3)):
            m[i] *= b1
            m[i] += (1 - b1) * g
            v[i] *= b2
            v[i] += (1 - b2) * g * g
            p[i] -= lr * (m[i] / bc1) / (np.sqrt(v[i] / bc2) + eps)
        return loss

    print(f"numpy_version={np.__version__}")
    return timed(step, steps)


def main():
    path = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    try:
        params, x, y = load(path)
    except ImportError as e:
        print(f"numpy_ms=missing\ntorch_ms=missing\nreason=numpy not importable ({e})")
        return
    for name, fn in (("torch", bench_torch), ("numpy", bench_numpy)):
        try:
            ms, first, last = fn(params, x, y, steps)
        except ImportError as e:
            print(f"{name}_ms=missing\n{name}_reason={e}")
            continue
        print(f"{name}_ms={ms:.4f}\n{name}_first_loss={first:.7f}\n{name}_last_loss={last:.7f}")


if __name__ == "__main__":
    main()
