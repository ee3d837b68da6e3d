"""Shared by the porting tests (test_port_scripts*.py): run the same model source on torch."""
import inspect
import math
import textwrap

import numpy as np
import pytest


def as_torch(*objs):
    """A namespace holding ``objs`` (classes, functions) re-created from their source with
    torch's modules under tinynet's names (``tn``, ``nn``, ``F``, ``optim``, ``lr_scheduler``)."""
    torch = pytest.importorskip("torch")
    ns = {'tn': torch, 'nn': torch.nn, 'F': torch.nn.functional, 'optim': torch.optim,
          'lr_scheduler': torch.optim.lr_scheduler, 'math': math, 'inspect': inspect}
    for obj in objs:
        exec(textwrap.dedent(inspect.getsource(obj)), ns)
    return torch, ns


def copy_weights(torch, src, dst):
    """tinynet module ``src``'s state_dict into torch module ``dst`` (strict)."""
    dst.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in src.state_dict().items()}, strict=True)


def assert_close(ours, theirs, rtol=1e-5, atol=1e-6, what=''):
    """A tinynet and a torch tensor hold the same values (to rtol/atol)."""
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol,
                               atol=atol, err_msg=what)
