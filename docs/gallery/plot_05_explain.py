"""
Watch the lecture's layers work: ``scratchnet explain``
=======================================================

``scratchnet explain OP`` runs one op of :mod:`scratchnet.functional` step by step on
data of the shapes you give: every step of the forward and of the backward with its
shapes, byte strides, the memory it moves and its FLOPs, checked against the op itself
(the real op runs; the explanation is built from its own pieces). The same is
:func:`scratchnet.explain.explain` in Python, which this page calls for every op it
covers. ``--plot FILE`` also draws the op for the shapes given
(:func:`scratchnet.figures.draw_op`), as the figures below.
"""

# %%
# .. _explain-max-pool2d:
#
# The lecture's 4×4 max pool, with its numbers
# --------------------------------------------
# ``scratchnet explain max_pool2d --input 1,1,4,4 --kernel 2 --numbers --plot pool.png``:
# the input is the lecture's own matrix, so the output is its [[6, 8], [3, 4]]; the
# backward sends each output's gradient to the one input that won its window.
import matplotlib.pyplot as plt

from scratchnet.explain import explain
from scratchnet.figures import conv, pooling, softmax

print(explain("max_pool2d", input=(1, 1, 4, 4), kernel=2, numbers=True).render())
pooling.draw_max_routing(plt.figure(figsize=(10, 4), layout="constrained"))

# %%
# .. _explain-conv2d:
#
# The basic CNN's second convolution, batch 64
# --------------------------------------------
# ``scratchnet explain conv2d --input 64,10,12,12 --weight 20,10,5,5``: the im2col
# matrix (one strided slice per kernel tap), the one GEMM of the forward, and the two
# GEMMs plus the col2im adds of the backward.
print(explain("conv2d", input=(64, 10, 12, 12), weight=(20, 10, 5, 5)).render())
conv.draw_conv_gemm(plt.figure(figsize=(10, 6), layout="constrained"))

# %%
# .. _explain-conv2d-readme:
#
# A small strided, padded convolution
# -----------------------------------
# ``scratchnet explain conv2d --input 2,3,7,7 --weight 4,3,3,3 --stride 2 --padding 1``:
# every step of the forward and the backward, with its shapes, byte strides, memory
# moved and FLOPs.
print(explain("conv2d", input=(2, 3, 7, 7), weight=(4, 3, 3, 3), stride=2, padding=1).render())

# %%
# .. _explain-avg-pool2d:
#
# LeNet-5's average pooling
# -------------------------
# ``scratchnet explain avg_pool2d --input 1,1,4,4 --kernel 2 --numbers``: each output
# is the mean of its window, and its gradient is spread as 1/4 over it.
print(explain("avg_pool2d", input=(1, 1, 4, 4), kernel=2, numbers=True).render())

# %%
# .. _explain-linear:
#
# The basic CNN's last layer: flatten 320 → linear(320, 10)
# ---------------------------------------------------------
# ``scratchnet explain linear --input 64,320 --weight 10,320``.
print(explain("linear", input=(64, 320), weight=(10, 320)).render())

# %%
# .. _explain-softmax:
#
# Softmax over four classes
# -------------------------
# ``scratchnet explain softmax --input 2,4 --numbers``.
print(explain("softmax", input=(2, 4), numbers=True).render())

# %%
# .. _explain-cross-entropy:
#
# Cross-entropy of three samples over five classes
# ------------------------------------------------
# ``scratchnet explain cross_entropy --input 3,5 --numbers --plot ce.png``: the
# log-softmax, the picked targets, the mean; backward :math:`(s - y)/N`.
print(explain("cross_entropy", input=(3, 5), numbers=True).render())
softmax.draw_cross_entropy(plt.figure(figsize=(11, 3.6), layout="constrained"),
                           [[2.0, 1.0, 0.1, -1.0], [0.5, 0.5, 3.0, 0.0]], [0, 1])
