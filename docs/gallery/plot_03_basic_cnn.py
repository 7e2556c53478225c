"""
The basic CNN: sizes, kernels, pooling
======================================

Lecture 10's network is conv(1→10, 5×5) → max-pool 2 → ReLU → conv(10→20, 5×5) →
max-pool 2 → ReLU → flatten 320 → linear(320, 10) → log-softmax. Before training it,
the lecture takes the pieces apart; so does this example, with scratchnet's ops:

* the output-size formula :math:`\\lfloor (H + 2p - k)/s \\rfloor + 1`,
* a 1×1 convolution with weights [0.299, 0.587, 0.114] that turns RGB into gray,
* the [−1, 1] kernels that compute horizontal and vertical differences,
* the 4×4 max-pool example and MaxPool∘ReLU = ReLU∘MaxPool,
* and the shapes through the whole network (where the 320 comes from).
"""

# %%
# The output-size formula
# -----------------------
# A 3×3 kernel over a 5×5 image, for a few strides and paddings: the formula and
# the shape conv2d actually returns.
import matplotlib.pyplot as plt
import numpy as np

import scratchnet
import scratchnet.functional as F
from scratchnet import data, models

image = np.ones((1, 1, 5, 5))
kernel = np.ones((1, 1, 3, 3))
print("stride padding  (5 + 2p - 3) // s + 1   conv2d output")
for s, p in [(1, 0), (1, 1), (2, 0), (2, 1), (3, 1)]:
    formula = (5 + 2 * p - 3) // s + 1
    out = F.conv2d(image, kernel, stride=s, padding=p)
    print(f"{s:6} {p:7}  {formula:22}   {out.shape[2:]}")

# %%
# A 1×1 convolution is a per-pixel linear map of the channels
# -----------------------------------------------------------
# With one output channel and weights [0.299, 0.587, 0.114] it is the ITU-R 601
# luma: colour to grayscale. Here a colour image is made from three digits, one per
# channel.
digits = data.load_embedded_mnist()
x, y = digits.test.arrays
rgb = np.concatenate([x[0], x[1], x[2]])[None]  # (1, 3, 28, 28): R, G, B = three digits
gray_w = np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1).astype(np.float32)
gray = F.conv2d(rgb, gray_w)
print("gray shape:", gray.shape,
      " equals 0.299 R + 0.587 G + 0.114 B:",
      np.allclose(gray[0, 0], 0.299 * rgb[0, 0] + 0.587 * rgb[0, 1] + 0.114 * rgb[0, 2]))

# %%
# Difference kernels
# ------------------
# ``[-1, 1]`` as a 1×2 kernel computes :math:`x_{i,j+1} - x_{i,j}` (a vertical edge
# detector); as a 2×1 kernel :math:`x_{i+1,j} - x_{i,j}` (horizontal edges).
digit = x[3:4]  # (1, 1, 28, 28)
horizontal = np.array([-1.0, 1.0], np.float32).reshape(1, 1, 1, 2)
vertical = np.array([-1.0, 1.0], np.float32).reshape(1, 1, 2, 1)
dx = F.conv2d(digit, horizontal)
dy = F.conv2d(digit, vertical)
print("d/dx:", dx.shape, np.allclose(dx[0, 0], digit[0, 0, :, 1:] - digit[0, 0, :, :-1]))
print("d/dy:", dy.shape, np.allclose(dy[0, 0], digit[0, 0, 1:, :] - digit[0, 0, :-1, :]))

fig, axes = plt.subplots(1, 5, figsize=(11, 2.6))
panels = [(rgb[0].transpose(1, 2, 0), "RGB (3 digits)", None),
          (gray[0, 0], "1x1 conv: gray", "gray"),
          (digit[0, 0], f"digit {y[3]}", "gray"),
          (dx[0, 0], "[-1, 1] along x", "RdBu_r"),
          (dy[0, 0], "[-1, 1] along y", "RdBu_r")]
for ax, (img, title, cmap) in zip(axes, panels):
    kw = dict(cmap=cmap)
    if cmap == "RdBu_r":
        kw.update(vmin=-1, vmax=1)
    ax.imshow(img, **kw)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
fig.tight_layout()

# %%
# Max pooling, the lecture's 4×4 example
# --------------------------------------
m = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)
pooled = F.max_pool2d(m[None, None], 2)[0, 0]
print(pooled)

# %%
# Max pooling commutes with any non-decreasing activation, so pooling before the
# ReLU (as the lecture's network does) computes the same thing on 4× fewer numbers:
features = F.conv2d(x[:8], np.random.default_rng(0).standard_normal((10, 1, 5, 5)).astype(np.float32))
print("MaxPool(ReLU(x)) == ReLU(MaxPool(x)):",
      np.array_equal(F.max_pool2d(F.relu(features), 2), F.relu(F.max_pool2d(features, 2))))

# %%
# The network's shapes
# --------------------
# 28 → 24 (5×5 conv) → 12 (pool) → 8 (5×5 conv) → 4 (pool): 20 maps of 4×4 = 320
# features for the classifier. Getting this wrong is the lecture's
# "mat1 and mat2 shapes cannot be multiplied (64x320 and 100x10)".
model = models.build("basic-cnn", seed=0)
print(scratchnet.summary(model, (1, 28, 28)))

# %%
# One training step on 64 digits, forward and hand-chained backward; the gradient
# of the first convolution's ten 5×5 filters, next to the filters themselves.
from scratchnet import nn, optim

criterion = nn.NLLLoss()
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
xb, yb = digits.train.arrays[0][:64], digits.train.arrays[1][:64]
opt.zero_grad()
loss = criterion(model(xb), yb)
model.backward(criterion.backward(), needs_input_grad=False)
print(f"loss {float(loss):.4f}; conv1.weight.grad {model.conv1.weight.grad.shape}")
fig, axes = plt.subplots(2, 10, figsize=(11, 2.6))
for k in range(10):
    axes[0, k].imshow(model.conv1.weight.data[k, 0], cmap="RdBu_r")
    axes[1, k].imshow(model.conv1.weight.grad[k, 0], cmap="RdBu_r")
    axes[0, k].axis("off")
    axes[1, k].axis("off")
axes[0, 0].set_title("conv1 filters (top) and their gradients (bottom)", loc="left", fontsize=10)
fig.tight_layout()
