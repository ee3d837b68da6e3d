"""Models built only from ``tinynet.nn``: ResNet (torchvision names) and GPT (GPT-2 names)."""
from .gpt import GPT, GPTConfig
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101, resnet152, \
    resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2
