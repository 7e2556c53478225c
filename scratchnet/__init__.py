"""scratchnet: the MNIST lectures' deep learning in NumPy, every backward written by hand.

The textbook, what a learner reads (none of it imports torch):

functional   torch.nn.functional's ops, each forward beside its hand-written backward;
             ``functional.fast`` holds the tuned kernels they run by default
nn           torch.nn-shaped modules over them
optim        SGD, Adam, AdamW with torch's update rules
models       every lecture model by name
data         MNIST (IDX files or the embedded offline digits), CSV datasets, batching
summary      a torchinfo-style summary; ``checkpoint`` saves and loads state dicts

The machinery around it: ``training`` (the loop, the engines, lockstep runs),
``testing`` (the oracles the parity suite and the practice grader share), ``figures``,
``explain``, ``exercise`` (the practice track) and ``cli``. torch is imported only by
modules whose names start with ``torch_`` (``torch_models``, ``training.torch_engine``,
``training.torch_data``) and by ``testing``'s torch oracle; the suite checks that rule.
"""
__version__ = "0.1.0"

# The two conveniences torch keeps at top level: torch.manual_seed and torchinfo-style
# summary. Importing them pulls in scratchnet.nn (NumPy only, no torch).
from .nn.init import manual_seed  # noqa: E402
from .summary import summary  # noqa: E402
