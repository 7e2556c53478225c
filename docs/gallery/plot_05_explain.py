"""
Watch the lecture's layers work: ``scratchnet explain``
=======================================================

``scratchnet explain OP`` runs one op of :mod:`scratchnet.functional` step by step on
data of the shapes you give: every step of the forward and of the backward with its
shapes, byte strides, the memory it moves and its FLOPs, checked against the op itself
(the real op runs; the explanation is built from its own pieces). The same is
:func:`scratchnet.explain.explain` in Python, which this page calls for three of
lecture 10's layers.
"""

# %%
# The lecture's 4×4 max pool, with its numbers
# --------------------------------------------
# ``scratchnet explain max_pool2d --input 1,1,4,4 --kernel 2 --numbers``: the input is
# the lecture's own matrix, so the output is its [[6, 8], [3, 4]]; the backward sends
# each output's gradient to the one input that won its window.
from scratchnet.explain import explain

print(explain("max_pool2d", input=(1, 1, 4, 4), kernel=2, numbers=True).render())

# %%
# The basic CNN's second convolution, batch 64
# --------------------------------------------
# ``scratchnet explain conv2d --input 64,10,12,12 --weight 20,10,5,5``: the window view
# (no copy), the im2col matrix it is copied into, the one GEMM of the forward, and the
# two GEMMs plus the col2im adds of the backward.
print(explain("conv2d", input=(64, 10, 12, 12), weight=(20, 10, 5, 5)).render())

# %%
# The basic CNN's last layer: flatten 320 → linear(320, 10)
# ---------------------------------------------------------
# ``scratchnet explain linear --input 64,320 --weight 10,320``.
print(explain("linear", input=(64, 320), weight=(10, 320)).render())
