"""ResNet: torchvision's parameter names and counts, agreement with an independent PyTorch
build of the same architecture (same weights -> same logits and input gradients),
weight loading, fine-tuning recipe, a few training steps lowering the loss."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.functional.loss import cross_entropy
from tinynet.models.resnet import (BasicBlock, Bottleneck, ResNet, load_weights, resnet18,
                                   resnet50)
from tinynet.nn.linear import Linear
from tinynet.nn.module import StateDictError
from tinynet.optim import SGD


def test_parameter_counts_equal_torchvision():
    assert sum(p.data.size for p in resnet18().parameters()) == 11_689_512
    assert sum(p.data.size for p in resnet50().parameters()) == 25_557_032


def test_parameter_names_follow_torchvision():
    names = list(resnet18(num_classes=10).state_dict())
    assert names[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                         "bn1.running_var", "bn1.num_batches_tracked"]
    for key in ["layer1.0.conv1.weight", "layer1.1.bn2.running_var", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.num_batches_tracked", "layer4.1.conv2.weight",
                "fc.weight", "fc.bias"]:
        assert key in names
    assert "layer1.0.downsample.0.weight" not in names  # same width, stride 1: identity skip
    assert names[-2:] == ["fc.weight", "fc.bias"]
    big = resnet50(num_classes=10).state_dict()
    assert big["layer1.0.conv3.weight"].shape == (256, 64, 1, 1)
    assert big["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)  # v1.5: stride on the 3x3
    assert big["fc.weight"].shape == (10, 2048)


def test_shapes_stems_and_initialisation():
    tn.manual_seed(0)
    m = resnet18(num_classes=7, zero_init_residual=True)
    assert m(tn.randn(2, 3, 64, 64)).shape == (2, 7)
    assert m.forward_features(tn.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)
    assert np.all(m.layer1[0].bn2.weight.numpy() == 0) and np.all(m.bn1.weight.numpy() == 1)
    w = m.layer3[0].conv1.weight.numpy()  # kaiming_normal_(fan_out, relu): std √(2 / (256·9))
    assert abs(w.std() - np.sqrt(2 / (256 * 9))) < 0.1 * np.sqrt(2 / (256 * 9))
    c = resnet18(num_classes=10, cifar_stem=True)
    assert c.conv1.weight.shape == (64, 3, 3, 3)
    assert c.forward_features(tn.randn(1, 3, 16, 16)).shape == (1, 512, 2, 2)


def _torch_resnet(torch, block, layers, num_classes):
    """torchvision's ResNet v1.5 written out in plain torch (torchvision is not installed)."""
    tnn = torch.nn

    class Basic(tnn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride, down):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU()
            self.downsample = down

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            idt = x if self.downsample is None else self.downsample(x)
            return self.relu(out + idt)

    class Bottle(tnn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride, down):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(planes * 4)
            self.relu = tnn.ReLU()
            self.downsample = down

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            idt = x if self.downsample is None else self.downsample(x)
            return self.relu(out + idt)

    B = Basic if block is BasicBlock else Bottle

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU()
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (planes, n) in enumerate(zip([64, 128, 256, 512], layers)):
                stride = 1 if i == 0 else 2
                blocks = []
                for j in range(n):
                    down = None
                    if j == 0 and (stride != 1 or cin != planes * B.expansion):
                        down = tnn.Sequential(
                            tnn.Conv2d(cin, planes * B.expansion, 1, stride, bias=False),
                            tnn.BatchNorm2d(planes * B.expansion))
                    blocks.append(B(cin, planes, stride if j == 0 else 1, down))
                    cin = planes * B.expansion
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(512 * B.expansion, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return Net()


def _randomize_bn_stats(model, rng):
    """Non-trivial running statistics and affine parameters, so eval mode is a real test."""
    from tinynet.nn.batchnorm import BatchNorm2d
    for m in model.modules():
        if isinstance(m, BatchNorm2d):
            n = m.num_features
            values = {"running_mean": rng.standard_normal(n) * 0.1,
                      "running_var": rng.uniform(0.5, 1.5, n),
                      "weight": rng.uniform(0.5, 1.5, n), "bias": rng.standard_normal(n) * 0.1}
            for name, v in values.items():
                t = getattr(m, name)
                t.data[...] = tn.tensor(v, dtype=t.dtype, device=t.device).data


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_same_weights_give_torch_logits_and_input_gradients(arch):
    torch = pytest.importorskip("torch")
    tn.manual_seed(0)
    rng = np.random.default_rng(0)
    block, layers = (BasicBlock, [2, 2, 2, 2]) if arch == "resnet18" else (Bottleneck, [3, 4, 6, 3])
    mine = ResNet(block, layers, num_classes=10)
    _randomize_bn_stats(mine, rng)
    ref = _torch_resnet(torch, block, layers, 10)
    missing, unexpected = ref.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in mine.state_dict().items()})
    assert not missing and not unexpected
    # float64 on both sides: float32 rounding can flip near-ties of the max-pool arg-max
    # and blow up batch statistics over the 2 values per channel of a 1x1 layer4 map
    mine.double()
    ref.double()
    x = rng.standard_normal((2, 3, 32, 32))
    modes = ["eval", "train"] if arch == "resnet18" else ["eval"]
    for mode in modes:
        getattr(mine, mode)()
        getattr(ref, mode)()
        X = tn.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        out, tout = mine(X), ref(tx)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6, atol=1e-6)
        g = rng.standard_normal(out.shape)
        out.backward(tn.tensor(g))
        tout.backward(torch.tensor(g))
        scale = np.abs(tx.grad.numpy()).max()
        np.testing.assert_allclose(X.grad.numpy() / scale, tx.grad.numpy() / scale, atol=1e-6)
        if mode == "train":
            for k, v in ref.state_dict().items():
                np.testing.assert_allclose(mine.state_dict()[k].numpy(), v.numpy(), rtol=1e-6,
                                           atol=1e-5, err_msg=k)


def test_weights_path_loads_safetensors_and_reports_bad_keys(tmp_path):
    tn.manual_seed(1)
    src = resnet18(num_classes=5, cifar_stem=True)
    src.train()
    src(tn.randn(2, 3, 8, 8))  # non-default running stats
    path = tmp_path / "r18.safetensors"
    tn.save(src.state_dict(), str(path))
    dst = resnet18(num_classes=5, cifar_stem=True, weights=str(path))
    x = tn.randn(2, 3, 8, 8)
    src.eval()
    dst.eval()
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())
    sd = {k: v for k, v in src.state_dict().items() if "num_batches_tracked" not in k}
    resnet18(num_classes=5, cifar_stem=True).load_state_dict(sd)  # older checkpoints load too
    sd["extra.weight"] = tn.zeros(1)
    with pytest.raises(StateDictError, match="extra.weight"):
        resnet18(num_classes=5, cifar_stem=True).load_state_dict(sd)
    with pytest.raises(StateDictError, match="fc.weight"):
        resnet18(num_classes=3, cifar_stem=True, weights=str(path))


def test_weights_from_a_torch_pth_file_give_torch_logits(tmp_path):
    # a torchvision-named .pth as torch.save writes it, read without unpickling; also the
    # training-checkpoint wrapper {"state_dict": ..., "epoch": ...} with DataParallel names
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = _torch_resnet(torch, BasicBlock, [2, 2, 2, 2], 7).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expect = ref(torch.tensor(x)).numpy()
    plain, wrapped = tmp_path / "r18.pth", tmp_path / "r18_train.pt"
    torch.save(ref.state_dict(), plain)
    torch.save({"state_dict": {"module." + k: v for k, v in ref.state_dict().items()},
                "epoch": 90}, wrapped)
    for path in (plain, wrapped):
        mine = resnet18(num_classes=7, weights=str(path)).eval()
        np.testing.assert_allclose(mine(tn.tensor(x)).numpy(), expect, rtol=1e-4, atol=1e-5)


def test_weights_that_are_not_a_state_dict_say_so():
    with pytest.raises(ValueError, match="expected a state dict.*got a list"):
        resnet18(num_classes=3, weights=[tn.zeros(1)])


@pytest.mark.parametrize("layer_type", ["basic", "bottleneck"])
def test_hugging_face_resnet_weights_give_its_logits(layer_type, tmp_path):
    # a transformers ResNetForImageClassification (microsoft/resnet-* layout), random weights
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hidden = [64, 128, 256, 512] if layer_type == "basic" else [256, 512, 1024, 2048]
    cfg = transformers.ResNetConfig(embedding_size=64, hidden_sizes=hidden, depths=[1, 2, 1, 1],
                                    layer_type=layer_type, num_labels=7)
    hf = transformers.ResNetForImageClassification(cfg).eval()
    for m in hf.modules():   # non-trivial statistics, so that every BatchNorm must map right
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    path = tmp_path / "model.safetensors"
    tn.save({k: v.numpy() for k, v in hf.state_dict().items()}, path)
    model = ResNet(BasicBlock if layer_type == "basic" else Bottleneck, [1, 2, 1, 1],
                   num_classes=7)
    load_weights(model, path)                       # strict: every name must map
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref = hf(torch.tensor(x)).logits.numpy()
    with tn.no_grad():
        out = model.eval()(tn.tensor(x)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_finetune_recipe_trains_only_the_new_head():
    tn.manual_seed(2)
    model = resnet18(num_classes=10, cifar_stem=True)
    model.requires_grad_(False)
    model.fc = Linear(model.fc.in_features, 2)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable == [model.fc.weight, model.fc.bias]
    cross_entropy(model(tn.randn(4, 3, 8, 8)), tn.tensor([0, 1, 0, 1])).backward()
    assert model.conv1.weight.grad is None and model.fc.weight.grad is not None


def test_a_few_sgd_steps_lower_the_loss():
    tn.manual_seed(3)
    model = resnet18(num_classes=4, cifar_stem=True)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = tn.randn(8, 3, 8, 8), tn.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_saliency_and_grad_cam_explain_a_resnet_without_touching_its_gradients():
    from tinynet.viz_cam import grad_cam, saliency
    tn.manual_seed(4)
    model = resnet18(num_classes=3, cifar_stem=True)
    x = tn.randn(2, 3, 8, 8)
    sal, cls = saliency(model, x, target=[0, 2])
    assert sal.shape == (2, 8, 8) and list(cls) == [0, 2] and np.all(sal >= 0)
    # the map is |d logit_c / d x| maxed over channels, checked by hand for image 0
    x0 = tn.tensor(x.numpy()[:1], requires_grad=True)
    model.eval()
    model(x0)[0, 0].backward()
    np.testing.assert_allclose(sal[0], np.abs(x0.grad.numpy()[0]).max(0), rtol=1e-5, atol=1e-7)
    model.zero_grad()
    model.train()
    cam, cls = grad_cam(model, x, layer=model.layer3)
    assert cam.shape == (2, 2, 2) and np.all(cam >= 0) and model.training
    assert all(p.grad is None for p in model.parameters())
