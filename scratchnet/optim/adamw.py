"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""
from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    r"""Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    The weights are shrunk directly before the Adam step,

    .. math::

        \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda),

    instead of adding :math:`\lambda\theta` to the gradient: the decay then does not
    pass through the moment estimates, so it is not rescaled by
    :math:`1/\sqrt{\hat v_t}`. Everything else is :class:`Adam`'s rule.

    Parameters
    ----------
    params : iterable of Parameter or of dicts
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
        Note the non-zero default, as in torch.
    amsgrad : bool, default False
    maximize : bool, default False
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        # An AdamW stays decoupled whatever the loaded groups say, as torch's AdamW.
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
