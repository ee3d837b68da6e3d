"""``tn.backends.mps``: Apple's Metal backend, which tinynet does not have."""


def is_available() -> bool:
    """False: tinynet runs on ``"cpu"`` (NumPy) and ``"cuda"`` (CuPy) only."""
    return False


def is_built() -> bool:
    """False, as :func:`is_available`."""
    return False
