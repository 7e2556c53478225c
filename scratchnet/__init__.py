"""scratchnet: the MNIST lectures' deep learning in NumPy, every backward written by hand.

Sub-packages
------------
functional   torch.nn.functional's ops with hand-written backward passes
nn           torch.nn-shaped modules over them
optim        SGD, Adam, AdamW with torch's update rules
models       every lecture model by name
data         MNIST (IDX files or the embedded offline digits), CSV datasets, batching
train        one training loop for both engines

``scratchnet.torch_models`` holds the torch twins and ``scratchnet.training.torch_engine`` trains them;
they are the only modules that import torch.
"""
__version__ = "0.1.0"

# The two conveniences torch keeps at top level: torch.manual_seed and torchinfo-style
# summary. Importing them pulls in scratchnet.nn (NumPy only, no torch).
from .nn.init import manual_seed  # noqa: E402
from .summary import summary  # noqa: E402
