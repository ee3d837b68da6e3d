"""``tinynet.nn.modules``: PyTorch's ``torch.nn.modules`` files as namespaces of tinynet's
own layer classes (torchvision's ``nn.modules.batchnorm._BatchNorm`` checks)."""
import pytest

import tinynet.nn as nn


def test_torch_file_layout_holds_tinynets_own_classes():
    from tinynet.nn.modules.batchnorm import _BatchNorm
    from tinynet.nn.modules.loss import _Loss
    import tinynet.nn.modules.instancenorm
    assert _BatchNorm is nn.modules.batchnorm._BatchNorm and _BatchNorm is nn.BatchNorm2d.__base__
    assert tinynet.nn.modules.instancenorm is nn.modules.instancenorm
    assert isinstance(nn.BCELoss(), _Loss) and isinstance(nn.Conv2d(1, 1, 1),
                                                          nn.modules.conv._ConvNd)
    # where tinynet keeps a class in another file, the namespace follows PyTorch's
    assert nn.modules.normalization.GroupNorm is nn.GroupNorm
    assert nn.modules.normalization.LocalResponseNorm is nn.LocalResponseNorm
    assert nn.modules.activation.MultiheadAttention is nn.MultiheadAttention
    assert nn.modules.sparse.Embedding is nn.Embedding and nn.modules.Linear is nn.Linear
    assert nn.modules.container.Sequential is nn.Sequential
    assert nn.modules.module.Module is nn.Module
    # torchvision's set_weight_decay: norm layers told apart from the rest
    norm_classes = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
                    nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.GroupNorm(2, 4),
                          nn.InstanceNorm2d(4, affine=True), nn.Flatten(), nn.LayerNorm(4))
    assert [isinstance(m, norm_classes) for m in model] == [False, True, True, True, False, True]
    # (documented difference: _InstanceNorm is a _BatchNorm here, in PyTorch a _NormBase)
    assert isinstance(nn.InstanceNorm2d(4), nn.modules.batchnorm._BatchNorm)


def test_every_public_name_matches_torch_nn_modules():
    torch = pytest.importorskip("torch")
    for file in ("module", "linear", "conv", "activation", "loss", "container", "batchnorm",
                 "instancenorm", "normalization", "dropout", "sparse", "pooling", "padding",
                 "rnn", "transformer", "upsampling", "pixelshuffle", "flatten", "fold",
                 "channelshuffle", "distance"):
        ours = getattr(nn.modules, file)
        theirs = getattr(torch.nn.modules, file)
        for name, cls in vars(ours).items():
            if isinstance(cls, type):
                assert isinstance(getattr(theirs, name, None), type), f"{file}.{name}"
                assert getattr(nn, name, cls) is cls
