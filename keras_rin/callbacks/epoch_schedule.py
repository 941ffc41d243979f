"""When an every-n-epochs callback acts."""

import math


def finite_loss(logs):
    """Whether the logs hold no loss or a finite one."""
    loss = (logs or {}).get("loss")
    if loss is None:
        return True
    try:
        return math.isfinite(float(loss))
    except (TypeError, ValueError):
        return True


def is_due(callback, epoch, logs):
    """Whether an epoch's end calls for the callback's work: every
    `callback.every_n_epochs` epochs and after the last, never after a
    diverged epoch (nothing worth keeping)."""
    last_epoch = epoch + 1 == callback.params.get("epochs")
    periodic = (epoch + 1) % callback.every_n_epochs == 0
    return (periodic or last_epoch) and finite_loss(logs)
