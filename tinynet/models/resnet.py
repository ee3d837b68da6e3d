"""ResNet v1.5 (He et al. 2015; torchvision's variant), with torchvision's parameter names.

Names match torchvision exactly (``conv1 bn1 layer1.0.conv1 ... layer4.1.bn2
downsample.0 downsample.1 fc``), so a torchvision or timm checkpoint saved as
safetensors loads with ``load_state_dict`` (``num_batches_tracked`` keys
optional); ``weights=`` also takes a Hugging Face ``transformers`` ResNet
(microsoft/resnet-50's ``model.safetensors``), renamed by :func:`torchvision_names`. v1.5 puts the stride of a bottleneck's down-sampling block on its
3x3 conv (conv2), not on the first 1x1 conv.

    model = resnet50(weights="resnet50.safetensors")        # ImageNet weights
    model.fc = nn.Linear(model.fc.in_features, 2)            # new head for 2 classes

torchvision's ResNeXt and Wide ResNet builders (``resnext50_32x4d``, ``resnext101_32x8d``,
``resnext101_64x4d``, ``wide_resnet50_2``, ``wide_resnet101_2``) are here too, with its
``groups``, ``width_per_group`` and ``replace_stride_with_dilation`` options.

``cifar_stem=True`` swaps the 7x7/2 conv + max-pool stem for a 3x3/1 conv
(no pooling), the usual choice for 32x32 (or smaller) images.
"""
from __future__ import annotations

import re

from ..nn import init
from ..nn.activation import ReLU
from ..nn.batchnorm import BatchNorm2d
from ..nn.containers import Identity, Sequential
from ..nn.conv import Conv2d
from ..nn.linear import Linear
from ..nn.module import Module, StateDictError
from ..nn.pooling import AdaptiveAvgPool2d, MaxPool2d

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50",
           "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
           "wide_resnet50_2", "wide_resnet101_2", "load_weights", "torchvision_names"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with padding = dilation (keeps H, W at stride 1); no bias (a BN follows)."""
    return Conv2d(in_planes, out_planes, 3, stride=stride, padding=dilation, groups=groups,
                  bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias."""
    return Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(Module):
    """Two 3x3 convs and a skip (ResNet-18/34): relu(bn2(conv2(relu(bn1(conv1 x)))) + x)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1):
        super().__init__()
        if groups != 1 or base_width != 64 or dilation != 1:
            raise ValueError("BasicBlock supports only groups=1, base_width=64, dilation=1")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):                                   # x: (N, inplanes, H, W)
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))            # (N, planes, H/s, W/s)
        out = self.bn2(self.conv2(out))                     # (N, planes, H/s, W/s)
        if self.downsample is not None:
            identity = self.downsample(x)                   # (N, planes, H/s, W/s)
        return self.relu(out + identity)                    # (N, planes, H/s, W/s)


class Bottleneck(Module):
    """1x1 reduce, 3x3 (carries the stride: v1.5), 1x1 expand x4, with a skip connection."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = BatchNorm2d(planes * self.expansion)
        self.relu = ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):                                   # x: (N, inplanes, H, W)
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))            # (N, width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))          # (N, width, H/s, W/s)
        out = self.bn3(self.conv3(out))                     # (N, 4·planes, H/s, W/s)
        if self.downsample is not None:
            identity = self.downsample(x)                   # (N, 4·planes, H/s, W/s)
        return self.relu(out + identity)                    # (N, 4·planes, H/s, W/s)


class ResNet(Module):
    """ResNet for (N, 3, H, W) images -> (N, num_classes) logits.

    block: BasicBlock or Bottleneck; layers: blocks per stage (e.g. [2, 2, 2, 2]).
    Initialised like torchvision: convs kaiming_normal_(fan_out, relu), BN
    γ = 1 and β = 0, ``fc`` PyTorch's Linear default; ``zero_init_residual``
    zeroes each block's last BN γ so every block starts as the identity.

    ``groups`` / ``width_per_group``: a bottleneck's 3x3 conv has ``groups`` groups
    and ``planes * width_per_group / 64 * groups`` channels (ResNeXt, Wide ResNet).
    ``replace_stride_with_dilation``: three bools for layer2..layer4; True keeps
    that stage at stride 1 and dilates its 3x3 convs instead (torchvision's option,
    for segmentation backbones: output stride 16 or 8 instead of 32). Bottleneck only.
    """

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, cifar_stem=False,
                 in_channels=3):
        super().__init__()
        self.inplanes, self.dilation = 64, 1
        self.groups, self.base_width = groups, width_per_group
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(f"ResNet: replace_stride_with_dilation should be None or a "
                             f"3-element tuple, got {replace_stride_with_dilation}")
        self.cifar_stem = cifar_stem
        if cifar_stem:  # 3x3/1 stem, no max-pool: keeps 32x32 detail
            self.conv1 = Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.maxpool = Identity()
        else:
            self.conv1 = Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool = MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = BatchNorm2d(64)
        self.relu = ReLU()
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2, replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], 2, replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], 2, replace_stride_with_dilation[2])
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        downsample = None
        previous_dilation = self.dilation
        if dilate:  # the stage keeps its resolution; its convs dilate by the stride instead
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            # projection shortcut: 1x1 conv (with the stage's stride) + BN
            downsample = Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                    BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        previous_dilation)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width, dilation=self.dilation))
        return Sequential(*layers)

    def forward_features(self, x):
        """The last stage's feature map: (N, 3, H, W) -> (N, 512·expansion, H/32, W/32)."""
        x = self.relu(self.bn1(self.conv1(x)))              # (N, 64, H/2, W/2) (cifar: H, W)
        x = self.maxpool(x)                                 # (N, 64, H/4, W/4) (cifar: H, W)
        x = self.layer1(x)                                  # (N, 64·e, H/4, W/4)
        x = self.layer2(x)                                  # (N, 128·e, H/8, W/8)
        x = self.layer3(x)                                  # (N, 256·e, H/16, W/16)
        return self.layer4(x)                               # (N, 512·e, H/32, W/32)

    def forward(self, x):                                   # x: (N, 3, H, W)
        x = self.forward_features(x)                        # (N, 512·e, h, w)
        x = self.avgpool(x)                                 # (N, 512·e, 1, 1)
        x = x.reshape(x.shape[0], -1)                       # (N, 512·e)
        return self.fc(x)                                   # (N, num_classes)


def _resnet(block, layers, weights, kwargs):
    model = ResNet(block, layers, **kwargs)
    if weights is not None:
        try:
            load_weights(model, weights)
        except StateDictError as e:
            if "'fc.weight' expected" not in str(e):
                raise
            raise StateDictError(
                f"{e}\nThe checkpoint's classifier (fc) has another number of classes than "
                f"num_classes={model.fc.out_features}: build the model with the checkpoint's "
                f"num_classes (1000 for ImageNet weights), then replace the head: "
                f"model.fc = nn.Linear(model.fc.in_features, {model.fc.out_features})") from None
    return model


def load_weights(model, weights, strict=True):
    """Load ``weights`` (a safetensors path, a PyTorch .pth / .pt / .bin path read without
    unpickling, or a state dict) into ``model``: torchvision / timm names, or Hugging Face
    ``transformers`` ResNet names (see :func:`torchvision_names`).

    ``num_batches_tracked`` entries are accepted whether present or not.
    With ``strict`` any missing or unexpected key, and always any shape
    mismatch, raises one error that lists them all (``StateDictError``).
    Returns ``(missing_keys, unexpected_keys)``.
    """
    if isinstance(weights, (str, bytes)) or hasattr(weights, "__fspath__"):
        from .. import io
        weights = io.load(weights, device=next(model.parameters()).device)
    return model.load_state_dict(torchvision_names(weights), strict=strict)


def _unwrapped(state_dict) -> dict:
    """The weights inside a training checkpoint ``{"state_dict": {...}, "epoch": 3}``
    (keys ``state_dict``, ``model``, ``model_state_dict``), without ``module.`` prefixes."""
    if not isinstance(state_dict, dict):
        raise ValueError(f"ResNet weights: expected a state dict (names -> tensors), got a "
                         f"{type(state_dict).__name__}")
    for key in ("state_dict", "model", "model_state_dict"):
        inner = state_dict.get(key)
        if isinstance(inner, dict) and not any(hasattr(v, "shape") for v in state_dict.values()):
            state_dict = inner
            break
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict


# Hugging Face transformers' ResNetForImageClassification (e.g. microsoft/resnet-50)
_HF_PREFIXES = (("resnet.embedder.embedder.convolution.", "conv1."),
                ("resnet.embedder.embedder.normalization.", "bn1."),
                ("classifier.1.", "fc."))
_HF_BLOCK = re.compile(r"resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\."
                       r"(?:layer\.(\d+)|shortcut)\.(convolution|normalization)\.(.+)")


def torchvision_names(state_dict) -> dict:
    """``state_dict`` with Hugging Face ``transformers`` ResNet names renamed to torchvision's
    (unchanged when it already has torchvision's, as timm's ResNets do).

    transformers:  resnet.embedder.embedder.{convolution,normalization}  ->  conv1, bn1
                   resnet.encoder.stages.S.layers.B.layer.I.convolution  ->  layer{S+1}.B.conv{I+1}
                   ...layer.I.normalization                              ->  ...bn{I+1}
                   ...shortcut.{convolution,normalization}               ->  ...downsample.{0,1}
                   classifier.1                                          ->  fc
    The layouts agree when the checkpoint strides a bottleneck's 3x3 conv
    (``downsample_in_bottleneck=False`` in its config.json, as microsoft/resnet-*
    have); with True (ResNet v1) the weights load but the model would differ.
    A training checkpoint's ``{"state_dict": ...}`` (or ``"model"``) is unwrapped
    and DataParallel's ``module.`` prefix dropped first.
    """
    state_dict = _unwrapped(state_dict)
    if not any(k.startswith("resnet.") for k in state_dict):
        return state_dict
    out = {}
    for key, value in state_dict.items():
        new = key
        for hf, tv in _HF_PREFIXES:
            if key.startswith(hf):
                new = tv + key[len(hf):]
        m = _HF_BLOCK.fullmatch(key)
        if m:
            stage, block, conv, kind, rest = m.groups()
            if conv is None:     # the shortcut: a 1x1 conv and its BatchNorm
                part = "downsample.0" if kind == "convolution" else "downsample.1"
            else:
                part = f"conv{int(conv) + 1}" if kind == "convolution" else f"bn{int(conv) + 1}"
            new = f"layer{int(stage) + 1}.{block}.{part}.{rest}"
        out[new] = value
    return out


def resnet18(num_classes=1000, zero_init_residual=False, weights=None, cifar_stem=False, **kwargs):
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]); 11,689,512 parameters at 1000 classes."""
    return _resnet(BasicBlock, [2, 2, 2, 2], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        cifar_stem=cifar_stem, **kwargs))


def resnet34(num_classes=1000, zero_init_residual=False, weights=None, cifar_stem=False, **kwargs):
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]); 21,797,672 parameters at 1000 classes."""
    return _resnet(BasicBlock, [3, 4, 6, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        cifar_stem=cifar_stem, **kwargs))


def resnet50(num_classes=1000, zero_init_residual=False, weights=None, cifar_stem=False, **kwargs):
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]); 25,557,032 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        cifar_stem=cifar_stem, **kwargs))


def resnet101(num_classes=1000, zero_init_residual=False, weights=None, cifar_stem=False,
              **kwargs):
    """ResNet-101 (Bottleneck, [3, 4, 23, 3]); 44,549,160 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        cifar_stem=cifar_stem, **kwargs))


def resnet152(num_classes=1000, zero_init_residual=False, weights=None, cifar_stem=False,
              **kwargs):
    """ResNet-152 (Bottleneck, [3, 8, 36, 3]); 60,192,808 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 8, 36, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        cifar_stem=cifar_stem, **kwargs))


def resnext50_32x4d(num_classes=1000, zero_init_residual=False, weights=None, **kwargs):
    """ResNeXt-50 32x4d (Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4);
    25,028,904 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        groups=32, width_per_group=4, **kwargs))


def resnext101_32x8d(num_classes=1000, zero_init_residual=False, weights=None, **kwargs):
    """ResNeXt-101 32x8d (Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=8);
    88,791,336 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        groups=32, width_per_group=8, **kwargs))


def resnext101_64x4d(num_classes=1000, zero_init_residual=False, weights=None, **kwargs):
    """ResNeXt-101 64x4d (Bottleneck, [3, 4, 23, 3], groups=64, width_per_group=4);
    83,455,272 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        groups=64, width_per_group=4, **kwargs))


def wide_resnet50_2(num_classes=1000, zero_init_residual=False, weights=None, **kwargs):
    """Wide ResNet-50-2 (Bottleneck, [3, 4, 6, 3], width_per_group=128: twice the 3x3
    channels); 68,883,240 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        width_per_group=128, **kwargs))


def wide_resnet101_2(num_classes=1000, zero_init_residual=False, weights=None, **kwargs):
    """Wide ResNet-101-2 (Bottleneck, [3, 4, 23, 3], width_per_group=128);
    126,886,696 parameters at 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights,
                   dict(num_classes=num_classes, zero_init_residual=zero_init_residual,
                        width_per_group=128, **kwargs))
