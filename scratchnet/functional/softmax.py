"""Being written."""
def softmax(*a, **k): raise NotImplementedError
def log_softmax(*a, **k): raise NotImplementedError
