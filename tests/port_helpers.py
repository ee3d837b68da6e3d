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


def assert_params_close(ours, theirs, grads=False, rtol=1e-5, atol=1e-6, what=''):
    """Each parameter of tinynet module ``ours`` (its ``.grad`` if ``grads``) equals torch
    module ``theirs``'s, taken in ``named_parameters`` order; ``what`` ends the message."""
    pairs = list(zip(ours.named_parameters(), theirs.named_parameters()))
    assert len(pairs) == len(list(ours.parameters())) == len(list(theirs.parameters())), what
    for (name, p), (_, tp) in pairs:
        if grads:
            assert_close(p.grad, tp.grad, rtol, atol, f'{name}.grad{what}')
        else:
            assert_close(p, tp, rtol, atol, f'{name}{what}')
