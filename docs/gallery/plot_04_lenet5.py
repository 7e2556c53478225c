"""
LeNet-5 and its sparse C3 table
===============================

LeCun's LeNet-5 (1998): C1 conv 1→6 (5×5, padding 2), tanh, P2 average pool, C3
conv 6→16 (5×5), P4 average pool, C5 linear 400→120, F6 120→84, F7 84→10, tanh
between them.

In the original, C3 is **not** fully connected: each of its 16 output maps reads
only some of the 6 input maps — 6 maps read 3 contiguous inputs, 6 read 4
contiguous, 3 read 4 non-contiguous, 1 reads all 6 — "to break the symmetry" and to
save parameters. scratchnet has both: ``lenet5`` (full C3) and ``lenet5-original``
(``SparseConv2d`` with :data:`scratchnet.models.LECUN_C3_TABLE`).
"""

# %%
# The connection table
# --------------------
import matplotlib.pyplot as plt
import numpy as np

from scratchnet import data, models, nn

table = models.LECUN_C3_TABLE
connected = np.zeros((6, 16), dtype=int)
for out_map, inputs in enumerate(table):
    connected[list(inputs), out_map] = 1

print("input map \\ C3 map  " + " ".join(f"{j:2}" for j in range(16)))
for i in range(6):
    print(f"{i:17}   " + " ".join(" X" if connected[i, j] else "  " for j in range(16)))

fig, ax = plt.subplots(figsize=(8, 3.2))
ax.imshow(connected, cmap="Greys", vmin=0, vmax=1.4)
ax.set(xticks=range(16), yticks=range(6), xlabel="C3 output map", ylabel="S2 input map",
       title="LeCun's C3 connection table (dark: connected)")
fig.tight_layout()

# %%
# Counting the parameters
# -----------------------
# A 5×5 kernel per (input map, output map) connection, plus one bias per output
# map. Full C3: :math:`16 \cdot 6 \cdot 25 + 16 = 2416`. Sparse:
# :math:`(6 \cdot 3 + 9 \cdot 4 + 1 \cdot 6) \cdot 25 + 16 = 60 \cdot 25 + 16 = 1516`,
# 900 fewer — the difference between LeCun's 60,806 and the full 61,706.
connections = sum(len(inputs) for inputs in table)
full_c3 = 16 * 6 * 25 + 16
sparse_c3 = connections * 25 + 16
print(f"connections: {connections} of {16 * 6}; C3 params full {full_c3}, sparse {sparse_c3}")

full = models.build("lenet5", seed=0)
original = models.build("lenet5-original", seed=0)
print(f"lenet5          : {full.num_parameters():,} parameters")
print(f"lenet5-original : {original.num_parameters():,} parameters")
print(f"difference      : {full.num_parameters() - original.num_parameters():,}")

# %%
# Both run on real digits
# -----------------------
# One forward and one backward of each on 100 embedded digits (CE loss, as the
# homework). The sparse C3 keeps one 5×5 kernel per connection, packed in table
# order (map 0's three kernels first, then map 1's, ...): 60 kernels, each with its
# own gradient.
digits = data.load_embedded_mnist()
xb, yb = digits.train.arrays[0][:100], digits.train.arrays[1][:100]
criterion = nn.CrossEntropyLoss()
for name, model in [("lenet5", full), ("lenet5-original", original)]:
    loss = criterion(model(xb), yb)
    model.zero_grad()
    model.backward(criterion.backward(), needs_input_grad=False)
    print(f"{name:16} loss {float(loss):.4f}, output {model(xb).shape}")

starts = np.cumsum([0] + [len(inputs) for inputs in table])
w = original.c3.weight
print(f"C3 weight {w.data.shape}, grad {w.grad.shape}")
for j in (0, 6, 15):
    print(f"C3 map {j:2} reads inputs {table[j]}: kernels {starts[j]}..{starts[j + 1] - 1}")

# %%
# What C1 sees: the six 5×5 filters at initialisation and the six 28×28 feature
# maps of one digit (padding 2 keeps 28×28).
x1 = xb[:1]
c1 = full.c1(x1)
fig, axes = plt.subplots(2, 7, figsize=(11, 3.4))
axes[0, 0].imshow(x1[0, 0], cmap="gray")
axes[0, 0].set_title(f"digit {yb[0]}", fontsize=9)
axes[1, 0].axis("off")
for k in range(6):
    axes[0, k + 1].imshow(full.c1.weight.data[k, 0], cmap="RdBu_r")
    axes[1, k + 1].imshow(np.tanh(c1[0, k]), cmap="RdBu_r", vmin=-1, vmax=1)
    axes[0, k + 1].set_title(f"filter {k}", fontsize=9)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
