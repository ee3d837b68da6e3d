"""Three PyTorch training programs, written the way people usually write them, run on
tinynet with only ``torch`` swapped for ``tn``: a minimal GPT, a classic MNIST-style CNN
(on the bundled 8x8 digits) and a transfer-learning script on an image folder.

A line that fails here, or behaves differently from PyTorch, is a gap in tinynet: the
fix goes into tinynet (with a focused test next to the code it touches), and the idiom
stays here as written. The last tests compare a few results with torch 2.13 itself.
"""
import copy
import inspect
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.optim as optim
from tinynet.data import ImageFolder, transforms
from tinynet.nn import functional as F
from tinynet.optim import lr_scheduler

from port_helpers import as_torch, assert_close, assert_params_close, copy_weights

# ----------------------------------------------------------------------------------------
# 1. a minimal GPT


@dataclass
class GPTConfig:
    block_size: int = 16
    vocab_size: int = 32
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32
    dropout: float = 0.0
    bias: bool = True
    flash: bool = True   # F.scaled_dot_product_attention, else the masked_fill path


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (F.layer_norm takes bias=None)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(tn.ones(ndim))
        self.bias = nn.Parameter(tn.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.flash = config.flash and hasattr(F, 'scaled_dot_product_attention')
        if not self.flash:
            self.register_buffer("bias", tn.tril(tn.ones(config.block_size, config.block_size))
                                 .view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.flash:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None,
                                               dropout_p=self.dropout if self.training else 0,
                                               is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
            att = F.softmax(att, dim=-1)
            att = self.attn_dropout(att)
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        y = self.resid_dropout(self.c_proj(y))
        return y


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.vocab_size is not None
        assert config.block_size is not None
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying

        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            tn.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                tn.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            tn.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        assert t <= self.config.block_size, f"sequence of length {t} is too long"
        pos = tn.arange(0, t, dtype=tn.long, device=device)

        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)

        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                                   ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])  # only the last position
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters()}
        param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {'params': decay_params, 'weight_decay': weight_decay},
            {'params': nodecay_params, 'weight_decay': 0.0},
        ]
        num_decay_params = sum(p.numel() for p in decay_params)
        num_nodecay_params = sum(p.numel() for p in nodecay_params)
        assert num_decay_params > 0 and num_nodecay_params > 0
        fused_available = 'fused' in inspect.signature(tn.optim.AdamW).parameters
        use_fused = fused_available and device_type == 'cuda'
        extra_args = dict(fused=True) if use_fused else dict()
        optimizer = tn.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
        return optimizer

    @tn.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.config.block_size \
                else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = tn.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float('Inf')
            probs = F.softmax(logits, dim=-1)
            idx_next = tn.multinomial(probs, num_samples=1)
            idx = tn.cat((idx, idx_next), dim=1)
        return idx


def get_lr(it, warmup_iters=5, lr_decay_iters=80, learning_rate=3e-3, min_lr=3e-4):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def corpus(n=2000, vocab=32, seed=0):
    """A tiny random corpus with structure to learn: each token mostly follows its
    predecessor by +1 (mod vocab)."""
    rng = np.random.default_rng(seed)
    data = np.empty(n, dtype=np.int64)
    data[0] = 0
    for i in range(1, n):
        data[i] = (data[i - 1] + 1) % vocab if rng.random() < 0.9 else rng.integers(vocab)
    return data


def get_batch(data, batch_size, block_size, device):
    ix = tn.randint(len(data) - block_size, (batch_size,))
    x = tn.stack([tn.from_numpy((data[i:i + block_size]).astype(np.int64)) for i in ix])
    y = tn.stack([tn.from_numpy((data[i + 1:i + 1 + block_size]).astype(np.int64)) for i in ix])
    if 'cuda' in str(device):
        x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device,
                                                                               non_blocking=True)
    else:
        x, y = x.to(device), y.to(device)
    return x, y


@tn.no_grad()
def estimate_losses(model, splits, eval_iters, batch_size, block_size, device):
    out = {}
    model.eval()
    for split, data in splits.items():
        losses = tn.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = get_batch(data, batch_size, block_size, device)
            logits, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out


@pytest.mark.parametrize("flash", [True, False])
def test_minimal_gpt_trains_checkpoints_resumes_and_generates(flash, tmp_path, monkeypatch,
                                                              device):
    monkeypatch.setattr(tn.backends.cuda.matmul, 'allow_tf32', False)   # restored afterwards
    monkeypatch.setattr(tn.backends.cudnn, 'allow_tf32', True)
    out_dir = str(tmp_path / 'out')
    os.makedirs(out_dir, exist_ok=True)
    tn.manual_seed(1337)
    tn.backends.cuda.matmul.allow_tf32 = True
    tn.backends.cudnn.allow_tf32 = True
    device_type = 'cuda' if 'cuda' in device else 'cpu'   # device: the suite's default
    data = corpus()
    n = int(0.9 * len(data))
    splits = {'train': data[:n], 'val': data[n:]}
    model_args = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True, vocab_size=None,
                      dropout=0.0)
    model_args['vocab_size'] = 32
    gptconf = GPTConfig(**model_args, flash=flash)
    model = GPT(gptconf)
    model.to(device)
    assert model.transformer.wte.weight is model.lm_head.weight
    n_params = model.get_num_params(non_embedding=False)
    d, v, t, L = gptconf.n_embd, gptconf.vocab_size, gptconf.block_size, gptconf.n_layer
    assert n_params == v * d + t * d + L * (12 * d * d + 13 * d) + 2 * d  # tied head: once
    assert not any(pn.startswith('lm_head') for pn, _ in model.named_parameters())

    optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3,
                                           betas=(0.9, 0.95), device_type=device_type)
    assert len(optimizer.param_groups) == 2
    assert [g['weight_decay'] for g in optimizer.param_groups] == [0.1, 0.0]
    assert 'fused' in inspect.signature(tn.optim.AdamW).parameters   # as in torch 2
    assert model.configure_optimizers(0.1, 3e-3, (0.9, 0.95), 'cuda').defaults['fused'] is True
    first = estimate_losses(model, splits, 4, 8, gptconf.block_size, device)
    assert model.training
    # (no 'bfloat16' entry: NumPy and CuPy have no bfloat16, so neither has tinynet)
    dtype = 'float16' if device_type == 'cuda' else 'float32'
    ptdtype = {'float32': tn.float32, 'float16': tn.float16}[dtype]
    ctx = nullcontext() if device_type == 'cpu' else tn.amp.autocast(device_type=device_type,
                                                                       dtype=ptdtype)
    scaler = tn.cuda.amp.GradScaler(enabled=(dtype == 'float16'))
    best_val_loss = 1e9
    X, Y = get_batch(splits['train'], 8, gptconf.block_size, device)
    for iter_num in range(81):
        lr = get_lr(iter_num)
        for param_group in optimizer.param_groups:
            param_group['lr'] = lr
        if iter_num % 40 == 0:
            losses = estimate_losses(model, splits, 4, 8, gptconf.block_size, device)
            if losses['val'] < best_val_loss:
                best_val_loss = losses['val']
                if iter_num > 0:
                    checkpoint = {
                        'model': model.state_dict(),
                        'optimizer': optimizer.state_dict(),
                        'model_args': model_args,
                        'iter_num': iter_num,
                        'best_val_loss': best_val_loss,
                        'config': {'learning_rate': 3e-3, 'dataset': 'tiny', 'compile': False},
                    }
                    tn.save(checkpoint, os.path.join(out_dir, 'ckpt.pt'))
                    batch_after_ckpt = (X, Y)   # (for the test: the step the checkpoint misses)
        with ctx:
            logits, loss = model(X, Y)
        X, Y = get_batch(splits['train'], 8, gptconf.block_size, device)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        assert model.lm_head.weight.grad is None
    last = estimate_losses(model, splits, 4, 8, gptconf.block_size, device)
    assert float(last['val']) < float(first['val']) - 0.5, (first, last)
    assert optimizer.param_groups[0]['lr'] == get_lr(80)

    # resume from the checkpoint written at iter 80
    checkpoint = tn.load(os.path.join(out_dir, 'ckpt.pt'), map_location=device)
    checkpoint_model_args = checkpoint['model_args']
    resume_args = dict(model_args, vocab_size=None)
    for k in ['n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size']:
        resume_args[k] = checkpoint_model_args[k]
    resumed = GPT(GPTConfig(**resume_args, flash=flash))
    state_dict = checkpoint['model']
    unwanted_prefix = '_orig_mod.'
    for k, v in list(state_dict.items()):
        if k.startswith(unwanted_prefix):
            state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
    resumed.load_state_dict(state_dict)
    resumed_opt = resumed.configure_optimizers(0.1, 3e-3, (0.9, 0.95), device_type)
    resumed_opt.load_state_dict(checkpoint['optimizer'])
    assert checkpoint['iter_num'] == 80 and checkpoint['config']['compile'] is False
    assert float(checkpoint['best_val_loss']) == float(best_val_loss)
    checkpoint = None
    assert resumed.transformer.wte.weight is resumed.lm_head.weight   # still tied
    assert resumed_opt.param_groups[0]['lr'] == get_lr(80)
    # the checkpoint was written just before step 80: that step, taken again from the
    # resumed model and optimizer, lands exactly where the trained model is
    for param_group in resumed_opt.param_groups:
        param_group['lr'] = get_lr(80)
    _, loss = resumed(*batch_after_ckpt)
    loss.backward()
    nn.utils.clip_grad_norm_(resumed.parameters(), 1.0)
    resumed_opt.step()
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        assert tn.allclose(p, q, rtol=1e-5, atol=1e-7), name   # (equal on the CPU)

    model.eval()
    start = tn.zeros((1, 1), dtype=tn.long, device=device)
    out = model.generate(start, max_new_tokens=gptconf.block_size + 4, temperature=0.8, top_k=5)
    assert out.shape == (1, gptconf.block_size + 5) and out.dtype == tn.long
    # the model learnt "next = previous + 1"
    follows = (out[0, 1:] == (out[0, :-1] + 1) % gptconf.vocab_size).float().mean().item()
    assert follows > 0.5
    # top_k=1 is greedy decoding
    greedy = model.generate(start, max_new_tokens=3, top_k=1)
    logits, _ = model(start)
    assert logits.shape == (1, 1, gptconf.vocab_size)
    assert greedy[0, 1].item() == logits[0, -1].argmax().item()


def test_top_k_masking_line_keeps_exactly_k():
    logits = tn.tensor([[0.1, 3.0, -1.0, 2.0, 0.5], [5.0, 4.0, 3.0, 2.0, 1.0]])
    v, _ = tn.topk(logits, min(2, logits.size(-1)))
    logits[logits < v[:, [-1]]] = -float('Inf')
    probs = F.softmax(logits, dim=-1)
    assert ((probs > 0).sum(dim=1) == 2).all()
    assert tn.isinf(logits).sum().item() == 6


# ----------------------------------------------------------------------------------------
# 2. a classic MNIST-style CNN, on the bundled 8x8 digits


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(128, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = tn.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch, log):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            log.append('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            if args.dry_run:
                break


def test(model, device, test_loader, log):
    model.eval()
    test_loss = 0
    correct = 0
    with tn.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)
    log.append('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct / len(test_loader.dataset)


test.__test__ = False   # the script's own test(), not a pytest test


def mnist_main(argv, save_path):
    import argparse
    parser = argparse.ArgumentParser(description='tinynet digits example')
    parser.add_argument('--batch-size', type=int, default=32, metavar='N')
    parser.add_argument('--test-batch-size', type=int, default=1000, metavar='N')
    parser.add_argument('--epochs', type=int, default=3, metavar='N')
    parser.add_argument('--lr', type=float, default=1.0, metavar='LR')
    parser.add_argument('--gamma', type=float, default=0.7, metavar='M')
    parser.add_argument('--no-cuda', action='store_true', default=False)
    parser.add_argument('--dry-run', action='store_true', default=False)
    parser.add_argument('--seed', type=int, default=1, metavar='S')
    parser.add_argument('--log-interval', type=int, default=10, metavar='N')
    parser.add_argument('--save-model', action='store_true', default=False)
    args = parser.parse_args(argv)
    use_cuda = not args.no_cuda and tn.cuda.is_available()

    tn.manual_seed(args.seed)

    device = tn.device("cuda" if use_cuda else "cpu")

    train_kwargs = {'batch_size': args.batch_size, 'shuffle': True}
    test_kwargs = {'batch_size': args.test_batch_size}
    if use_cuda:
        cuda_kwargs = {'num_workers': 1, 'pin_memory': True}
        train_kwargs.update(cuda_kwargs)
        test_kwargs.update(cuda_kwargs)

    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,))
    ])
    dataset1 = tn.data.Digits(train=True, transform=transform)
    dataset2 = tn.data.Digits(train=False, transform=transform)
    train_loader = tn.utils.data.DataLoader(dataset1, **train_kwargs)
    test_loader = tn.utils.data.DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    scheduler = lr_scheduler.StepLR(optimizer, step_size=1, gamma=args.gamma)
    log, history = [], []
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch, log)
        history.append(test(model, device, test_loader, log))
        scheduler.step()

    if args.save_model:
        tn.save(model.state_dict(), save_path)
    return model, optimizer, history, log


def test_mnist_style_cnn_learns_the_digits_and_reloads(tmp_path, device):
    path = str(tmp_path / "mnist_cnn.pt")
    on_cpu = [] if 'cuda' in device else ['--no-cuda']   # the suite's device
    model, optimizer, history, log = mnist_main(['--epochs', '2', '--save-model'] + on_cpu, path)
    (loss1, acc1), (loss2, acc2) = history
    assert acc2 > 0.8 and loss2 < loss1, history
    assert optimizer.param_groups[0]['lr'] == pytest.approx(0.7 ** 2)
    assert log[0].startswith('Train Epoch: 1 [0/1438 (0%)]\tLoss: ')
    assert 'Test set: Average loss' in log[-1]

    device = tn.device(device)
    model = Net().to(device)
    model.load_state_dict(tn.load(path, map_location=device, weights_only=True))
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,),
                                                                                (0.3081,))])
    test_loader = tn.utils.data.DataLoader(tn.data.Digits(train=False, transform=transform),
                                           batch_size=100)
    assert test(model, device, test_loader, []) == pytest.approx(history[-1])


def test_dry_run_logs_one_batch_per_epoch():
    _, _, history, log = mnist_main(['--epochs', '1', '--dry-run', '--batch-size', '8',
                                     '--no-cuda'], None)
    assert len(log) == 2 and log[0].startswith('Train Epoch: 1 [0/1438')


# ----------------------------------------------------------------------------------------
# 3. transfer learning on an image folder, in the usual tutorial style


def make_image_folder(root, n_train=12, n_val=6, size=(40, 32), seed=0):
    """root/{train,val}/{ants,bees}/*.jpg|png: ants are reddish, bees are bluish."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for phase, n in (('train', n_train), ('val', n_val)):
        for cls, colour in (('ants', (200, 60, 40)), ('bees', (40, 70, 210))):
            folder = os.path.join(root, phase, cls)
            os.makedirs(folder)
            for i in range(n):
                noise = rng.integers(-40, 40, size=(size[1], size[0], 3))
                pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                ext = 'jpg' if i % 2 else 'png'
                Image.fromarray(pixels).save(os.path.join(folder, f'{cls}_{i}.{ext}'))


def imshow_array(inp):
    """The tutorial's imshow, without the plotting: a CHW tensor back to HWC pixels."""
    inp = inp.numpy().transpose((1, 2, 0))
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    inp = std * inp + mean
    inp = np.clip(inp, 0, 1)
    return inp


def train_model(model, criterion, optimizer, scheduler, dataloaders, dataset_sizes, device,
                num_epochs=25, log=None):
    best_model_wts = copy.deepcopy(model.state_dict())
    best_acc = 0.0

    for epoch in range(num_epochs):
        log.append(f'Epoch {epoch}/{num_epochs - 1}')
        log.append('-' * 10)

        for phase in ['train', 'val']:
            if phase == 'train':
                model.train()
            else:
                model.eval()

            running_loss = 0.0
            running_corrects = 0

            for inputs, labels in dataloaders[phase]:
                inputs = inputs.to(device)
                labels = labels.to(device)

                optimizer.zero_grad()

                with tn.set_grad_enabled(phase == 'train'):
                    outputs = model(inputs)
                    _, preds = tn.max(outputs, 1)
                    loss = criterion(outputs, labels)

                    if phase == 'train':
                        loss.backward()
                        optimizer.step()

                running_loss += loss.item() * inputs.size(0)
                running_corrects += tn.sum(preds == labels.data)
            if phase == 'train':
                scheduler.step()

            epoch_loss = running_loss / dataset_sizes[phase]
            epoch_acc = running_corrects.double() / dataset_sizes[phase]

            log.append(f'{phase} Loss: {epoch_loss:.4f} Acc: {epoch_acc:.4f}')

            if phase == 'val' and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())

    log.append(f'Best val Acc: {best_acc:4f}')
    model.load_state_dict(best_model_wts)
    return model, best_acc


def val_accuracy(model, loader, device):
    model.eval()
    correct = 0
    with tn.no_grad():
        for inputs, labels in loader:
            correct += (model(inputs.to(device)).argmax(1) == labels.to(device)).sum().item()
    return correct / len(loader.dataset)


def transfer_setup(root):
    data_transforms = {
        'train': transforms.Compose([
            transforms.RandomResizedCrop(32),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        ]),
        'val': transforms.Compose([
            transforms.Resize(36),
            transforms.CenterCrop(32),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        ]),
    }
    image_datasets = {x: ImageFolder(os.path.join(root, x), data_transforms[x])
                      for x in ['train', 'val']}
    dataloaders = {x: tn.utils.data.DataLoader(image_datasets[x], batch_size=4, shuffle=True,
                                               num_workers=0)
                   for x in ['train', 'val']}
    dataset_sizes = {x: len(image_datasets[x]) for x in ['train', 'val']}
    class_names = image_datasets['train'].classes
    return data_transforms, image_datasets, dataloaders, dataset_sizes, class_names


def test_transfer_learning_finetune_and_fixed_feature_extractor(tmp_path, monkeypatch):
    import tinynet.backends.cudnn as cudnn
    import tinynet.models
    monkeypatch.setattr(cudnn, 'benchmark', False)   # restored afterwards
    cudnn.benchmark = True
    root = str(tmp_path / 'hymenoptera_data')
    make_image_folder(root)
    tn.manual_seed(0)
    device = tn.device("cuda:0" if tn.cuda.is_available() else "cpu")
    data_transforms, image_datasets, dataloaders, dataset_sizes, class_names = \
        transfer_setup(root)
    assert class_names == ['ants', 'bees'] and dataset_sizes == {'train': 24, 'val': 12}

    inputs, classes = next(iter(dataloaders['train']))
    assert inputs.shape == (4, 3, 32, 32) and classes.dtype == tn.long
    assert [class_names[x] for x in classes] == [class_names[int(c)] for c in classes.tolist()]
    # (the tutorial writes inputs.cpu().data[j]: in tinynet `.data` is the numpy array itself,
    # by design, so `.data[j].numpy()` has no `.numpy()`; index the tensor instead)
    pixels = imshow_array(inputs.cpu()[0])
    assert pixels.shape == (32, 32, 3) and 0 <= pixels.min() <= pixels.max() <= 1

    # fine-tuning the whole network
    model_ft = tinynet.models.resnet18(weights=None)
    num_ftrs = model_ft.fc.in_features
    model_ft.fc = nn.Linear(num_ftrs, len(class_names))
    model_ft = model_ft.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer_ft = optim.SGD(model_ft.parameters(), lr=0.001, momentum=0.9)
    exp_lr_scheduler = lr_scheduler.StepLR(optimizer_ft, step_size=7, gamma=0.1)
    log = []
    model_ft, best_acc = train_model(model_ft, criterion, optimizer_ft, exp_lr_scheduler,
                                     dataloaders, dataset_sizes, device, num_epochs=2, log=log)
    assert log[0] == 'Epoch 0/1' and log[-1].startswith('Best val Acc: ')
    assert best_acc.dtype == tn.float64 and 0 <= best_acc.item() <= 1
    assert not model_ft.training   # the last phase was 'val'
    # load_state_dict(best_model_wts) brought back the weights of the best epoch
    assert val_accuracy(model_ft, dataloaders['val'], device) == best_acc.item()

    # ConvNet as fixed feature extractor
    model_conv = tinynet.models.resnet18(weights=None)
    for param in model_conv.parameters():
        param.requires_grad = False
    num_ftrs = model_conv.fc.in_features
    model_conv.fc = nn.Linear(num_ftrs, 2)
    model_conv = model_conv.to(device)
    frozen = {k: v.clone() for k, v in model_conv.state_dict().items() if not k.startswith('fc.')}
    optimizer_conv = optim.SGD(model_conv.fc.parameters(), lr=0.01, momentum=0.9)
    exp_lr_scheduler = lr_scheduler.StepLR(optimizer_conv, step_size=7, gamma=0.1)
    log = []
    model_conv, best_acc = train_model(model_conv, criterion, optimizer_conv, exp_lr_scheduler,
                                       dataloaders, dataset_sizes, device, num_epochs=2,
                                       log=log)
    assert sum(p.numel() for p in model_conv.parameters() if p.requires_grad) == 512 * 2 + 2
    for k, v in model_conv.state_dict().items():   # BatchNorm statistics still move in train()
        if k in frozen and 'running_' not in k and 'num_batches' not in k:
            assert tn.equal(v, frozen[k]), k
    assert val_accuracy(model_conv, dataloaders['val'], device) == best_acc.item()

    # predicting one image, as the tutorial's visualize_model_predictions does
    from PIL import Image
    model_conv.eval()
    img = Image.open(os.path.join(root, 'val', 'bees', 'bees_0.png'))
    img = data_transforms['val'](img)
    img = img.unsqueeze(0)
    img = img.to(device)
    with tn.no_grad():
        outputs = model_conv(img)
        _, preds = tn.max(outputs, 1)
    assert class_names[preds[0]] in class_names


# ----------------------------------------------------------------------------------------
# the same programs on torch 2.13: the classes above run there unchanged when `tn`, `nn`,
# `F` and `optim` name torch's modules, so the sources are executed once more with them








@pytest.mark.cpu_only
@pytest.mark.parametrize("flash", [True, False])
def test_gpt_matches_torch_loss_gradients_step_and_greedy_generation(flash):
    torch, ns = as_torch(LayerNorm, CausalSelfAttention, MLP, Block, GPT)
    config = GPTConfig(flash=flash)
    tn.manual_seed(0)
    ours = GPT(config)
    theirs = ns['GPT'](config)
    assert list(ours.state_dict()) == list(theirs.state_dict())   # both names of the tied weight
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    copy_weights(torch, ours, theirs)
    assert ours.get_num_params() == theirs.get_num_params()

    tn.manual_seed(3)
    X, Y = get_batch(corpus(), 4, config.block_size, 'cpu')
    Y[0, :5] = -1   # ignored positions
    tX, tY = torch.from_numpy(X.numpy()), torch.from_numpy(Y.numpy())
    opt = ours.configure_optimizers(0.1, 3e-3, (0.9, 0.95), 'cpu')
    topt = theirs.configure_optimizers(0.1, 3e-3, (0.9, 0.95), 'cpu')
    for step in range(2):
        _, loss = ours(X, Y)
        _, tloss = theirs(tX, tY)
        assert_close(loss, tloss, what=f'loss at step {step}')
        loss.backward()
        tloss.backward()
        assert_params_close(ours, theirs, grads=True, rtol=1e-4, atol=1e-6)
        norm = nn.utils.clip_grad_norm_(ours.parameters(), 0.5)
        tnorm = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5)
        assert_close(norm, tnorm, rtol=1e-5)
        for o in (opt, topt):
            for param_group in o.param_groups:
                param_group['lr'] = get_lr(step)
        opt.step()
        topt.step()
        opt.zero_grad(set_to_none=True)
        topt.zero_grad(set_to_none=True)
        assert_params_close(ours, theirs, grads=False, rtol=1e-4, atol=1e-6)

    ours.eval()
    theirs.eval()
    start = tn.tensor([[1, 2, 3]])
    with tn.no_grad(), torch.no_grad():
        logits, _ = ours(start)
        tlogits, _ = theirs(torch.tensor([[1, 2, 3]]))
        assert logits.shape == tuple(tlogits.shape) == (1, 1, config.vocab_size)
        assert_close(logits, tlogits, rtol=1e-4, atol=1e-5)
    greedy = ours.generate(start, config.block_size + 2, top_k=1)   # past block_size: cropped
    tgreedy = theirs.generate(torch.tensor([[1, 2, 3]]), config.block_size + 2, top_k=1)
    assert greedy.tolist() == tgreedy.tolist()


@pytest.mark.cpu_only
def test_cnn_matches_torch_forward_loss_and_an_adadelta_steplr_step():
    torch, ns = as_torch(Net)
    tn.manual_seed(0)
    ours = Net()
    theirs = ns['Net']()
    copy_weights(torch, ours, theirs)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,),
                                                                                (0.3081,))])
    data, target = next(iter(tn.utils.data.DataLoader(tn.data.Digits(train=False,
                                                                        transform=transform),
                                                        batch_size=64)))
    tdata, ttarget = torch.from_numpy(data.numpy()), torch.from_numpy(target.numpy())
    opt = optim.Adadelta(ours.parameters(), lr=1.0)
    topt = torch.optim.Adadelta(theirs.parameters(), lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=1, gamma=0.7)
    ours.eval()     # dropout off, so both nets see the same function
    theirs.eval()
    for step in range(2):
        output, toutput = ours(data), theirs(tdata)
        assert_close(output, toutput, rtol=1e-4, atol=1e-5, what='log-probabilities')
        assert F.nll_loss(output, target, reduction='sum').item() == pytest.approx(
            torch.nn.functional.nll_loss(toutput, ttarget, reduction='sum').item(), rel=1e-5)
        pred = output.argmax(dim=1, keepdim=True)
        tpred = toutput.argmax(dim=1, keepdim=True)
        assert pred.eq(target.view_as(pred)).sum().item() == \
            tpred.eq(ttarget.view_as(tpred)).sum().item()
        opt.zero_grad()
        topt.zero_grad()
        F.nll_loss(output, target).backward()
        torch.nn.functional.nll_loss(toutput, ttarget).backward()
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert opt.param_groups[0]['lr'] == pytest.approx(topt.param_groups[0]['lr'])
        assert_params_close(ours, theirs, grads=False, rtol=1e-4, atol=1e-5)
