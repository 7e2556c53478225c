"""Being written."""
def cross_entropy(*a, **k): raise NotImplementedError
def nll_loss(*a, **k): raise NotImplementedError
def mse_loss(*a, **k): raise NotImplementedError
def binary_cross_entropy_with_logits(*a, **k): raise NotImplementedError
