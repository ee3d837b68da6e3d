"""``tn.backends.cudnn``: PyTorch's cuDNN switches, accepted settings with no effect
(tinynet does not use cuDNN, so :func:`is_available` is False)."""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: tinynet's convolutions are GEMMs, not cuDNN calls."""
    return False
