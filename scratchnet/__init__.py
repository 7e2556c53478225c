"""scratchnet: the MNIST lectures' deep learning in NumPy, every backward written by hand.

Sub-packages
------------
functional   torch.nn.functional's ops with hand-written backward passes
nn           torch.nn-shaped modules over them
optim        SGD, Adam, AdamW with torch's update rules
models       every lecture model by name
data         MNIST (IDX files or the embedded offline digits), CSV datasets, batching
train        one training loop for both engines

``scratchnet.torch_models`` holds the torch twins; it is the only module that imports torch.
"""
__version__ = "0.1.0"
