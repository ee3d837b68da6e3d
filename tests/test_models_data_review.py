"""Review of the models, LoRA and the DataLoader from a user's side: torchvision's ResNet
options, default_collate's handling of numpy strings, worker errors that name the samples."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.data import DataLoader, Dataset, default_collate
from tinynet.models import resnet
from tinynet.nn.module import StateDictError


# ---------------------------------------------------------------- ResNet

def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, count", [          # torchvision's documented counts
    ("resnext50_32x4d", 25_028_904), ("resnext101_32x8d", 88_791_336),
    ("resnext101_64x4d", 83_455_272), ("wide_resnet50_2", 68_883_240),
    ("wide_resnet101_2", 126_886_696)])
def test_resnext_and_wide_resnet_builders_match_torchvision_counts(name, count):
    model = getattr(tn.models, name)()
    assert _n_params(model) == count


def test_replace_stride_with_dilation_keeps_resolution():
    model = resnet.ResNet(resnet.Bottleneck, [1, 1, 2, 2], num_classes=3,
                          replace_stride_with_dilation=[False, True, True]).eval()
    # as torchvision: a dilated stage's first block keeps the previous stage's dilation
    dilations = [tuple(np.broadcast_to(b.conv2.dilation, 2)) for b in (*model.layer3,
                                                                        *model.layer4)]
    assert dilations == [(1, 1), (2, 2), (2, 2), (4, 4)]
    with tn.no_grad():
        feat = model.forward_features(tn.randn(1, 3, 64, 64))
    assert feat.shape == (1, 2048, 8, 8)                       # output stride 8, not 32
    with pytest.raises(ValueError, match="replace_stride_with_dilation"):
        resnet.ResNet(resnet.Bottleneck, [1, 1, 1, 1], replace_stride_with_dilation=[True])


def test_dilated_resnext_matches_a_plain_torch_reference():
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    class Bottleneck(tnn.Module):       # torchvision's, written out (torchvision not needed)
        expansion = 4

        def __init__(self, inplanes, planes, stride, downsample, groups, base_width, dilation):
            super().__init__()
            w = int(planes * (base_width / 64.0)) * groups
            self.conv1 = tnn.Conv2d(inplanes, w, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(w)
            self.conv2 = tnn.Conv2d(w, w, 3, stride, padding=dilation, groups=groups,
                                    dilation=dilation, bias=False)
            self.bn2 = tnn.BatchNorm2d(w)
            self.conv3 = tnn.Conv2d(w, planes * 4, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(planes * 4)
            self.downsample = downsample

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Ref(tnn.Module):
        def __init__(self, layers, groups, width, rswd, num_classes):
            super().__init__()
            self.inplanes, self.dilation, self.groups, self.width = 64, 1, groups, width
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make(64, layers[0], 1, False)
            self.layer2 = self._make(128, layers[1], 2, rswd[0])
            self.layer3 = self._make(256, layers[2], 2, rswd[1])
            self.layer4 = self._make(512, layers[3], 2, rswd[2])
            self.fc = tnn.Linear(2048, num_classes)

        def _make(self, planes, blocks, stride, dilate):
            prev = self.dilation
            if dilate:
                self.dilation *= stride
                stride = 1
            ds = None
            if stride != 1 or self.inplanes != planes * 4:
                ds = tnn.Sequential(tnn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                    tnn.BatchNorm2d(planes * 4))
            out = [Bottleneck(self.inplanes, planes, stride, ds, self.groups, self.width, prev)]
            self.inplanes = planes * 4
            out += [Bottleneck(self.inplanes, planes, 1, None, self.groups, self.width,
                               self.dilation) for _ in range(1, blocks)]
            return tnn.Sequential(*out)

        def forward(self, x):
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(x.mean((2, 3)))

    torch.manual_seed(0)
    rswd = [False, True, True]
    ref = Ref([1, 2, 1, 2], groups=4, width=8, rswd=rswd, num_classes=5).eval()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(3)
    sd = {k: tn.tensor(v.numpy().copy()) for k, v in ref.state_dict().items()}
    mine = resnet.ResNet(resnet.Bottleneck, [1, 2, 1, 2], num_classes=5, groups=4,
                         width_per_group=8, replace_stride_with_dilation=rswd)
    resnet.load_weights(mine, sd)
    mine.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    with tn.no_grad():
        got = mine(tn.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_weights_with_other_num_classes_say_how_to_replace_the_head():
    weights = resnet.ResNet(resnet.BasicBlock, [1, 1, 1, 1], num_classes=1000).state_dict()
    with pytest.raises(StateDictError, match=r"num_classes=10.*model\.fc = nn\.Linear"):
        resnet._resnet(resnet.BasicBlock, [1, 1, 1, 1], weights, dict(num_classes=10))


# ---------------------------------------------------------------- collate

def test_collate_numpy_strings_stay_a_list_like_torch():
    labels = np.array(["cat", "dog"])              # items are np.str_, as from a numpy column
    batch = default_collate([(np.float32(1), labels[0]), (np.float32(2), labels[1])])
    assert batch[1] == ["cat", "dog"]
    assert default_collate([{"name": np.bytes_(b"a")}, {"name": np.bytes_(b"b")}])["name"] == \
        [b"a", b"b"]


def test_collate_refuses_string_and_object_arrays():
    with pytest.raises(TypeError, match="dtype <U1"):
        default_collate([np.array(["x"]), np.array(["y"])])
    with pytest.raises(TypeError, match="object"):
        default_collate([np.array([None], dtype=object)] * 2)


# ---------------------------------------------------------------- DataLoader workers

class _FailsAt7(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise ValueError("cannot read this sample")
        return np.float32(i)


def test_worker_error_names_the_dataset_indices_of_the_failed_batch():
    loader = DataLoader(_FailsAt7(), batch_size=2, num_workers=2)
    with pytest.raises(ValueError, match=r"worker 1 \(batch 3, dataset indices \[6, 7\]\)"):
        list(loader)
