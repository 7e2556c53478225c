"""
Softmax regression and the three equal cross-entropies
======================================================

The first lecture model: one linear layer, ``Linear(784, 10)``, whose ten scores
go through softmax and the cross-entropy cost. This example

1. computes the lecture's cross-entropy three ways on the lecture's own numbers
   (``torch.manual_seed(1); z = torch.rand(3, 5)``, labels ``[0, 2, 1]``: 1.4689),
2. checks the gradient :math:`(s - y)/N` that all three share,
3. trains the model for a few epochs on the embedded MNIST digits with the
   lecture's SGD recipe (lr 0.1, batch 100), entirely in NumPy,
4. shows the ten learned weight rows as 28×28 templates.
"""

# %%
# Three ways to compute one number
# --------------------------------
# torch only supplies the lecture's random numbers; everything after is scratchnet.
import numpy as np
import torch

import scratchnet.functional as F

torch.manual_seed(1)
z = torch.rand(3, 5).numpy()
y = np.array([0, 2, 1])

y_onehot = np.zeros_like(z)
y_onehot[np.arange(3), y] = 1  # the lecture's zeros_like(z).scatter_(1, y.unsqueeze(1), 1)

by_hand = (y_onehot * -np.log(F.softmax(z, dim=1))).sum(1).mean()
via_nll = F.nll_loss(F.log_softmax(z, dim=1), y)
direct = F.cross_entropy(z, y)
print(f"(y_onehot * -log softmax(z)).sum(1).mean() = {by_hand:.4f}")
print(f"nll_loss(log_softmax(z), y)                = {via_nll:.4f}")
print(f"cross_entropy(z, y)                        = {direct:.4f}")

# %%
# And torch agrees on the same numbers:
zt = torch.from_numpy(z)
print(f"torch.nn.functional.cross_entropy          = "
      f"{torch.nn.functional.cross_entropy(zt, torch.from_numpy(y)).item():.4f}")

# %%
# The gradient of all three is (softmax - one-hot) / N
# ----------------------------------------------------
z64 = z.astype(np.float64)
loss, backward = F.vjp(F.cross_entropy, z64, y)
(grad_z, _) = backward(np.array(1.0))
print(np.round(grad_z, 4))
print("equals (s - y) / N:", np.allclose(grad_z, (F.softmax(z64, dim=1) - y_onehot) / 3))

# %%
# Training it on real digits
# --------------------------
# 4,000 embedded MNIST digits for training, 1,000 for testing. The model, the
# loss and the optimizer mirror torch's names; the one visible difference is that
# the loss hands its gradient to the model: ``model.backward(criterion.backward())``.
import matplotlib.pyplot as plt

from scratchnet import data, models, nn, optim

digits = data.load_embedded_mnist()
x_train, y_train = digits.train.arrays
x_test, y_test = digits.test.arrays

model = models.build("softmax-regression", seed=777)
criterion = nn.CrossEntropyLoss()
opt = optim.SGD(model.parameters(), lr=0.1)
loader = data.DataLoader(digits.train, batch_size=100, shuffle=True, drop_last=True, seed=777)

costs = []
for epoch in range(1, 6):
    total = 0.0
    for xb, yb in loader:
        opt.zero_grad()
        loss = criterion(model(xb), yb)
        model.backward(criterion.backward(), needs_input_grad=False)  # images need no gradient
        opt.step()
        total += float(loss)
    costs.append(total / len(loader))
    with nn.no_grad():
        correct = int((model(x_test).argmax(1) == y_test).sum())
    print(f"epoch {epoch}: cost {costs[-1]:.3f}, test accuracy {correct}/{len(y_test)}")

# %%
# The ten weight rows, each a 28×28 "template" the score of its digit is the dot
# product with (red: evidence for the digit, blue: against).
w = model.linear.weight.data
fig, axes = plt.subplots(2, 5, figsize=(8, 3.6))
for k, ax in enumerate(axes.flat):
    lim = np.abs(w[k]).max()
    ax.imshow(w[k].reshape(28, 28), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(str(k))
    ax.axis("off")
fig.suptitle("softmax regression: learned weights per class")
fig.tight_layout()
