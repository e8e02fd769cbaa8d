#!/usr/bin/env python3
"""Export small train-time models of the re-parameterizable families to ONNX as test fixtures.

Writes test/fixtures/reparam_families/<name>.onnx, <name>.io.npz, summary.json and README.md.

Run from the repository root with the Debian interpreter (it has torch/onnx):

    /usr/bin/python3 tools/export_reparam_family_fixtures.py

Every block is written from its paper's description of the train-time structure (not the authors' code):

- ACNet (Ding et al., ICCV 2019): BN(conv3x3) + BN(conv1x3) + BN(conv3x1), dense and depthwise, stride 1 and 2.
- DBB, Diverse Branch Block (Ding et al., CVPR 2021): BN(convKxK) + BN(conv1x1) + BN(convKxK(BNpad(conv1x1)))
  + BN(avgpoolKxK(BNpad(conv1x1))), where BNpad is a BN whose output is padded with the BN's own shift
  (so the sequential branch equals one KxK conv); dense and depthwise, stride 1 and 2.
- RepViT (Wang et al., CVPR 2024) depthwise token mixer: BN(BN(dwconv3x3(x)) + dwconv1x1(x) + x), i.e. a BN
  after the Add, followed by a residual 1x1-GELU-1x1 channel mixer; classifier BatchNorm1d + Linear after
  global pooling.
- FastViT (Vasu et al., ICCV 2023) RepMixer: x + layer_scale * (mixer(x) - norm(x)) with norm = BN(x) and
  mixer = BN(x) + BN(dwconv1x1(x)) + BN(dwconv3x3(x)) (MobileOne branches), layer_scale a [C,1,1]
  parameter; and its large-kernel conv: BN(dwconv7x7(x)) + BN(dwconv3x3(x)) before the activation.
- RepGhost (Chen et al., 2022): ReLU(BN(dwconv3x3(h)) + BN(h)) with h = ReLU(BN(conv1x1(x))), the BN
  shortcut replacing the Ghost concat.

Each model is a stem (conv3x3 + BN + ReLU) then its blocks separated by ReLUs, then global average
pooling + Linear (RepViT: + BatchNorm1d first). Exports keep every BatchNormalization
(training=TrainingMode.PRESERVE, do_constant_folding=True; F.pad still computes its pads at run time, the model in eval mode), opset 13, dynamic
batch and image size (the benchmark runs them larger). BN statistics and affine parameters are randomized
so a wrong fold shows.
"""
import collections
import io
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import onnx

from fixture_bn import perturb_bn

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT_DIR = os.path.join(REPO, "test", "fixtures", "reparam_families")
C = 16
IMG = 16
CLASSES = 5
BATCH = 4


def conv_bn(cin, cout, k, stride=1, groups=1, padding=None):
    if padding is None:
        padding = (k[0] // 2, k[1] // 2) if isinstance(k, tuple) else k // 2
    return nn.Sequential(collections.OrderedDict(
        conv=nn.Conv2d(cin, cout, k, stride=stride, padding=padding, groups=groups, bias=False),
        bn=nn.BatchNorm2d(cout)))


class ACBlock(nn.Module):
    def __init__(self, c, stride, groups):
        super().__init__()
        self.square = conv_bn(c, c, 3, stride, groups)
        self.hor = conv_bn(c, c, (1, 3), stride, groups)
        self.ver = conv_bn(c, c, (3, 1), stride, groups)

    def forward(self, x):
        return self.square(x) + self.hor(x) + self.ver(x)


class BNAndPad(nn.Module):
    """DBB's BN followed by padding with the BN's shift, so a following unpadded conv sees exactly what the
    merged conv's zero padding of the input gives it. Written as pad(bn(x) - shift) + shift."""

    def __init__(self, c, pad):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.pad = pad
        self.register_buffer("shift", torch.zeros(1, c, 1, 1))

    def finalize(self):
        bn = self.bn
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.shift.copy_((bn.bias - bn.running_mean * s).reshape(1, -1, 1, 1))

    def forward(self, x):
        return F.pad(self.bn(x) - self.shift, [self.pad] * 4) + self.shift


class DBBlock(nn.Module):
    def __init__(self, c, k, stride, groups):
        super().__init__()
        p = k // 2
        self.origin = conv_bn(c, c, k, stride, groups)
        self.one = conv_bn(c, c, 1, stride, groups)
        self.seq_1x1 = nn.Conv2d(c, c, 1, groups=groups, bias=False)
        self.seq_bnpad = BNAndPad(c, p)
        self.seq_kxk = nn.Conv2d(c, c, k, stride=stride, padding=0, groups=groups, bias=False)
        self.seq_bn = nn.BatchNorm2d(c)
        self.avg_1x1 = nn.Conv2d(c, c, 1, groups=groups, bias=False)
        self.avg_bnpad = BNAndPad(c, p)
        self.avg = nn.AvgPool2d(k, stride=stride, padding=0)
        self.avg_bn = nn.BatchNorm2d(c)

    def forward(self, x):
        seq = self.seq_bn(self.seq_kxk(self.seq_bnpad(self.seq_1x1(x))))
        avg = self.avg_bn(self.avg(self.avg_bnpad(self.avg_1x1(x))))
        return self.origin(x) + self.one(x) + seq + avg


class RepVGGDW(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = conv_bn(c, c, 3, groups=c)
        self.conv1 = nn.Conv2d(c, c, 1, groups=c)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn((self.conv(x) + self.conv1(x)) + x)


class RepViTBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_mixer = RepVGGDW(c)
        self.mix1 = conv_bn(c, 2 * c, 1)
        self.mix2 = conv_bn(2 * c, c, 1)

    def forward(self, x):
        t = self.token_mixer(x)
        return t + self.mix2(F.gelu(self.mix1(t)))


class MobileOneDW(nn.Module):
    """MobileOne block without activation: BN skip + BN(1x1) scale branch + BN(kxk) conv branch."""

    def __init__(self, c, k):
        super().__init__()
        self.skip = nn.BatchNorm2d(c)
        self.scale = conv_bn(c, c, 1, groups=c)
        self.conv = conv_bn(c, c, k, groups=c)

    def forward(self, x):
        return self.skip(x) + self.scale(x) + self.conv(x)


class RepMixer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.BatchNorm2d(c)
        self.mixer = MobileOneDW(c, 3)
        self.layer_scale = nn.Parameter(torch.empty(c, 1, 1).uniform_(0.5, 1.5))

    def forward(self, x):
        return x + self.layer_scale * (self.mixer(x) - self.norm(x))


class LargeKernel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lkb_origin = conv_bn(c, c, 7, groups=c)
        self.small_conv = conv_bn(c, c, 3, groups=c)

    def forward(self, x):
        return self.lkb_origin(x) + self.small_conv(x)


class RepGhost(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.primary = conv_bn(c, c, 1)
        self.cheap = conv_bn(c, c, 3, groups=c)
        self.fusion_bn = nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.primary(x))
        return self.cheap(h) + self.fusion_bn(h)


class Net(nn.Module):
    """stem -> blocks (ReLU after each, GELU for FastViT's) -> global pool -> [BN1d] -> Linear."""

    def __init__(self, blocks, act=F.relu, bn_head=False):
        super().__init__()
        self.stem = conv_bn(3, C, 3)
        self.blocks = nn.ModuleList(blocks)
        self.act = act
        self.head_bn = nn.BatchNorm1d(C) if bn_head else None
        self.fc = nn.Linear(C, CLASSES)

    def forward(self, x):
        x = F.relu(self.stem(x))
        for b in self.blocks:
            x = self.act(b(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        if self.head_bn is not None:
            x = self.head_bn(x)
        return self.fc(x)


# name -> (model factory, description)
FAMILIES = {
    "acnet": (lambda: Net([ACBlock(C, 1, 1), ACBlock(C, 2, 1)]), "ACNet: 3x3 + 1x3 + 3x1, stride 1 and 2"),
    "acnet_dw": (lambda: Net([ACBlock(C, 1, C), ACBlock(C, 2, C)]), "ACNet, depthwise"),
    "dbb": (lambda: Net([DBBlock(C, 3, 1, 1), DBBlock(C, 3, 2, 1)]), "DBB: kxk + 1x1 + 1x1->kxk + 1x1->avg, stride 1 and 2"),
    "dbb_dw": (lambda: Net([DBBlock(C, 3, 1, C), DBBlock(C, 5, 2, C)]), "DBB, depthwise, 3x3 and 5x5"),
    "repvit": (lambda: Net([RepViTBlock(C), RepViTBlock(C)], bn_head=True), "RepViT: BN after the Add, BN1d + Linear head"),
    "fastvit": (lambda: Net([RepMixer(C), LargeKernel(C), RepMixer(C)], act=F.gelu),
                "FastViT: RepMixer x + ls*(mixer(x) - bn(x)), large-kernel 7x7 + 3x3"),
    "repghost": (lambda: Net([RepGhost(C), RepGhost(C)]), "RepGhost: dw 3x3 + BN shortcut"),
}


def randomize(model, rng):
    """Calibrate BN running statistics on random data, then perturb every BN parameter."""
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    gen = torch.Generator().manual_seed(int(rng.randint(1 << 30)))
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, IMG, IMG, generator=gen))
        for m in bns:
            perturb_bn(m, rng)
            m.eps = float(rng.choice([1e-5, 1e-3]))
        for m in model.modules():
            if isinstance(m, BNAndPad):
                m.finalize()
    model.eval()


def export(model, x):
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, export_params=True, opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    return buf.getvalue()


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.set_num_threads(1)
    summary = []
    for i, (name, (factory, what)) in enumerate(FAMILIES.items()):
        torch.manual_seed(100 + i)
        rng = np.random.RandomState(200 + i)
        model = factory()
        randomize(model, rng)
        x = np.random.RandomState(300 + i).standard_normal((BATCH, 3, IMG, IMG)).astype(np.float32)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy().astype(np.float32)
        data = export(model, torch.from_numpy(x))
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto)
        bn_nodes = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
        n_bn = sum(1 for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)))
        assert len(bn_nodes) == n_bn, (name, len(bn_nodes), n_bn)
        assert all(a.i == 0 for n in bn_nodes for a in n.attribute if a.name == "training_mode"), name
        with open(os.path.join(OUT_DIR, name + ".onnx"), "wb") as f:
            f.write(data)
        np.savez(os.path.join(OUT_DIR, name + ".io.npz"), input=x, output=y)
        hist = dict(sorted(collections.Counter(n.op_type for n in proto.graph.node).items()))
        summary.append(dict(name=name, what=what, blocks=len(model.blocks), ops=hist, file_bytes=len(data),
                            output_absmax=float(np.abs(y).max())))
        print("%-10s %6d bytes  %s" % (name, len(data), json.dumps(hist)))
    with open(os.path.join(OUT_DIR, "summary.json"), "w") as f:
        json.dump(dict(torch=torch.__version__, onnx=onnx.__version__, numpy=np.__version__, channels=C,
                       input_hw=IMG, classes=CLASSES, io_batch=BATCH, fixtures=summary), f, indent=1)
        f.write("\n")
    write_readme(summary)


def write_readme(summary):
    L = ["# Re-parameterizable family fixtures", "",
         "Generated by `tools/export_reparam_family_fixtures.py` (do not edit by hand); regenerate from the",
         "repository root with `/usr/bin/python3 tools/export_reparam_family_fixtures.py`. The script's docstring",
         "describes each block as its paper does.", "",
         "Producer: PyTorch %s (legacy TorchScript exporter, `training=TrainingMode.PRESERVE`," % torch.__version__,
         "`do_constant_folding=True`: every BatchNormalization stays), onnx %s, opset 13, dynamic batch, height" % onnx.__version__,
         "and width (`bench:reparam` runs them at 128x128).",
         "", "Each model: stem conv3x3+BN+ReLU (3 -> %d channels, %dx%d input), the blocks below with an" % (C, IMG, IMG),
         "activation after each, global average pooling, Linear(%d, %d). BN statistics are calibrated on" % (C, CLASSES),
         "random data, then perturbed (mean, var, gamma with ~15% negative signs, beta, eps 1e-5 or 1e-3).", "",
         "`<name>.io.npz`: `input` float32 [%d,3,%d,%d] (seeded standard normal) and `output` = the PyTorch" % (BATCH, IMG, IMG),
         "module's eval output (compare with ~1e-4 relative tolerance: another framework).", "",
         "| fixture | blocks | what | ops |", "|---|---|---|---|"]
    for r in summary:
        L.append("| %s | %d | %s | %s |" % (r["name"], r["blocks"], r["what"],
                                          ", ".join("%s %d" % kv for kv in r["ops"].items())))
    with open(os.path.join(OUT_DIR, "README.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
