#!/usr/bin/env python3
"""Export small train-time RepVGG models to ONNX as test fixtures.

Writes test/fixtures/repvgg/<variant>.onnx, <variant>.io.npz and README.md.

Run from the repository root with the Debian interpreter (it has torch/onnx):

    /usr/bin/python3 tools/export_repvgg_fixtures.py

The RepVGG implementation below is written from the RepVGG paper
(Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021)
and the description of the architecture in the project's format reference (RepVGG section):

  block(x) = ReLU( SE?( BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x) ) )

conv biases off, identity BN only when in == out channels and stride 1, optional
SE (global average pool over the whole feature map, 1x1 conv reduce with bias,
ReLU, 1x1 conv expand with bias, sigmoid, multiply) on the branch sum before the
ReLU, groups in the 3x3/1x1 branches of the even layers for g2/g4 variants.

Everything is seeded; rerunning produces the same tensors (and, with the same
torch version, byte-identical ONNX files).
"""
import argparse
import collections
import io
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import onnx

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT_DIR = os.path.join(REPO, "test", "fixtures", "repvgg")
HAVE_ORT = False


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

class ConvBN(nn.Module):
    """conv (no bias) followed by BatchNorm; state-dict names conv.* / bn.*"""

    def __init__(self, cin, cout, k, stride, padding, groups, eps):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding,
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x):
        return self.bn(self.conv(x))


class SEBlock(nn.Module):
    """Squeeze-excitation in the form the official RepVGG code uses."""

    def __init__(self, channels, internal):
        super().__init__()
        self.channels = channels
        self.down = nn.Conv2d(channels, internal, 1, bias=True)
        self.up = nn.Conv2d(internal, channels, 1, bias=True)

    def forward(self, inputs):
        # average over the whole (square) feature map, as the official code does
        # (`kernel_size=inputs.size(3)`); under the ONNX tracer of torch 1.13 size()
        # is a Tensor, which avg_pool2d rejects, so it is made a Python int here
        # (the tracer then records the kernel size as a constant).
        x = F.avg_pool2d(inputs, kernel_size=int(inputs.size(3)))
        x = self.down(x)
        x = F.relu(x)
        x = self.up(x)
        x = torch.sigmoid(x)
        x = x.view(-1, self.channels, 1, 1)
        return inputs * x


class RepVGGBlock(nn.Module):
    def __init__(self, cin, cout, stride, groups, use_se, se_internal, eps_fn):
        super().__init__()
        self.cin, self.cout, self.stride, self.groups = cin, cout, stride, groups
        self.rbr_identity = (nn.BatchNorm2d(cin, eps=eps_fn("identity"))
                             if cin == cout and stride == 1 else None)
        self.rbr_dense = ConvBN(cin, cout, 3, stride, 1, groups, eps_fn("dense"))
        self.rbr_1x1 = ConvBN(cin, cout, 1, stride, 0, groups, eps_fn("1x1"))
        self.se = SEBlock(cout, se_internal) if use_se else nn.Identity()
        self.nonlinearity = nn.ReLU()

    def forward(self, x):
        id_out = 0 if self.rbr_identity is None else self.rbr_identity(x)
        return self.nonlinearity(self.se(self.rbr_dense(x) + self.rbr_1x1(x) + id_out))


class RepVGG(nn.Module):
    """stage0 = stem (3 -> widths[0], stride stem_stride), stage1..4 with first-block stride 2,
    gap + flatten + linear head. Layer index: stem = 0, stage blocks 1, 2, 3, ..."""

    def __init__(self, num_blocks, widths, num_classes, groups_map, se_layers,
                 se_ratio, eps_fn, head_flatten, stem_stride=2):
        super().__init__()
        self.head_flatten = head_flatten
        self.layer_info = []  # (layer idx, name, cin, cout, stride, groups, identity, se)
        idx = 0

        def make(cin, cout, stride, name):
            nonlocal idx
            g = groups_map.get(idx, 1)
            use_se = idx in se_layers
            blk = RepVGGBlock(cin, cout, stride, g, use_se,
                              max(1, cout // se_ratio), eps_fn)
            self.layer_info.append(dict(layer=idx, name=name, cin=cin, cout=cout,
                                        stride=stride, groups=g,
                                        identity=blk.rbr_identity is not None,
                                        se=use_se))
            idx += 1
            return blk

        self.stage0 = make(3, widths[0], stem_stride, "stage0")
        cin = widths[0]
        for s in range(4):
            blocks = []
            for b in range(num_blocks[s]):
                stride = 2 if b == 0 else 1
                blocks.append(make(cin, widths[s + 1], stride, "stage%d.%d" % (s + 1, b)))
                cin = widths[s + 1]
            setattr(self, "stage%d" % (s + 1), nn.Sequential(*blocks))
        self.gap = nn.AdaptiveAvgPool2d(output_size=1)
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x):
        out = self.stage0(x)
        out = self.stage1(out)
        out = self.stage2(out)
        out = self.stage3(out)
        out = self.stage4(out)
        out = self.gap(out)
        if self.head_flatten == "flatten":
            out = torch.flatten(out, 1)
        else:  # "view": what the official RepVGG code does
            out = out.view(out.size(0), -1)
        return self.linear(out)


# --------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------

NUM_BLOCKS = [2, 3, 3, 1]          # 1 stem + 9 stage blocks = 10 RepVGG blocks
WIDTHS = [8, 8, 16, 24, 32]        # stem, stage1..stage4
NUM_CLASSES = 10
IMG = 64                           # input 64x64 -> 32, 16, 8, 4, 2 spatially
EVEN_LAYERS = [2, 4, 6, 8]         # like the official g2/g4 lists (even layer indices)

VARIANTS = [
    dict(name="folded_static_op13", model="plain", opset=13, dynamic=False, keep_bn=False),
    dict(name="folded_dynamic_op11", model="plain", opset=11, dynamic=True, keep_bn=False),
    dict(name="bn_kept_static_op13", model="plain", opset=13, dynamic=False, keep_bn=True),
    dict(name="grouped_se_folded_dynamic_op13", model="g2_se", opset=13, dynamic=True, keep_bn=False),
    dict(name="grouped_bn_kept_static_op11", model="g4", opset=11, dynamic=False, keep_bn=True),
]

MODELS = {
    # same seed => variants 1-3 share identical weights
    "plain": dict(seed=1001, groups={}, se=set(), head="flatten"),
    "g2_se": dict(seed=2002, groups={i: 2 for i in EVEN_LAYERS}, se={0, 3, 4, 8, 9},
                  head="view"),
    "g4": dict(seed=3003, groups={i: 4 for i in EVEN_LAYERS}, se=set(), head="view"),
}
SE_RATIO = 4  # internal = cout // 4 (official uses //16; widths here are tiny)


def build_model(key):
    spec = MODELS[key]
    torch.manual_seed(spec["seed"])
    rng = np.random.RandomState(spec["seed"])
    eps_choices = [1e-5, 1e-3, 1e-2]
    counter = [0]

    def eps_fn(kind):
        # deterministic non-default eps: cycle through 1e-5, 1e-3, 1e-2
        e = eps_choices[counter[0] % 3]
        counter[0] += 1
        return e

    model = RepVGG(NUM_BLOCKS, WIDTHS, NUM_CLASSES, spec["groups"], spec["se"],
                   SE_RATIO, eps_fn, spec["head"])
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    # 1) calibrate running statistics on seeded random data (cumulative average)
    #    so activations keep a sensible scale through the depth and the output
    #    really depends on the input; 2) then randomize every BN parameter so a
    #    wrong fold (eps, mean, var, gamma, beta, channel order) shows.
    gen = torch.Generator().manual_seed(spec["seed"] + 1)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, 3, IMG, IMG, generator=gen))
    with torch.no_grad():
        for m in bns:
            n = m.num_features
            var = m.running_var.double().numpy()
            sign = np.where(rng.rand(n) < 0.15, -1.0, 1.0)
            m.weight.copy_(torch.from_numpy((sign * rng.uniform(0.5, 1.5, n)).astype(np.float32)))
            m.bias.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, n).astype(np.float32)))
            m.running_mean.add_(torch.from_numpy(
                (rng.uniform(-0.3, 0.3, n) * np.sqrt(var)).astype(np.float32)))
            m.running_var.copy_(torch.from_numpy((var * rng.uniform(0.5, 2.0, n)).astype(np.float32)))
            m.num_batches_tracked.fill_(100)
            m.momentum = 0.1
        for m in model.modules():
            if isinstance(m, SEBlock):
                m.down.bias.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, m.down.out_channels).astype(np.float32)))
                m.up.bias.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, m.up.out_channels).astype(np.float32)))
    model.eval()
    return model, spec


def _fuse(kernel, bn):
    std = torch.sqrt(bn.running_var.double() + bn.eps)
    t = (bn.weight.double() / std).reshape(-1, 1, 1, 1)
    return kernel.double() * t, bn.bias.double() - bn.running_mean.double() * bn.weight.double() / std


def deploy_forward(model, x):
    """Re-parameterized forward pass (docs/repvgg.md), float64: checks that the
    fixtures follow the documented fold, including grouped identity kernels."""
    def block(b, h):
        k3, b3 = _fuse(b.rbr_dense.conv.weight, b.rbr_dense.bn)
        k1, b1 = _fuse(b.rbr_1x1.conv.weight, b.rbr_1x1.bn)
        k = k3 + F.pad(k1, [1, 1, 1, 1])
        bias = b3 + b1
        if b.rbr_identity is not None:
            per_group = b.cin // b.groups
            kid = torch.zeros(b.cin, per_group, 3, 3, dtype=torch.float64)
            for i in range(b.cin):
                kid[i, i % per_group, 1, 1] = 1.0
            ki, bi = _fuse(kid, b.rbr_identity)
            k, bias = k + ki, bias + bi
        y = F.conv2d(h, k, bias, stride=b.stride, padding=1, groups=b.groups)
        if isinstance(b.se, SEBlock):
            se = b.se
            s = y.mean(dim=(2, 3), keepdim=True)
            s = F.relu(F.conv2d(s, se.down.weight.double(), se.down.bias.double()))
            s = torch.sigmoid(F.conv2d(s, se.up.weight.double(), se.up.bias.double()))
            y = y * s
        return F.relu(y)

    h = x.double()
    h = block(model.stage0, h)
    for s in range(1, 5):
        for b in getattr(model, "stage%d" % s):
            h = block(b, h)
    h = h.mean(dim=(2, 3))
    return F.linear(h, model.linear.weight.double(), model.linear.bias.double())


def op_histogram(m):
    return dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items()))


def _const_repr(n):
    from onnx import numpy_helper
    for a in n.attribute:
        if a.name == "value":
            return "Constant(%s)" % numpy_helper.to_array(a.t).tolist()
    return "Constant"


def _node_repr(n):
    from onnx import helper
    if n.op_type == "Constant":
        return _const_repr(n)
    attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute
             if n.op_type in ("AveragePool", "Unsqueeze", "Gather", "Concat", "Flatten", "Pad", "Gemm")}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    return n.op_type + (json.dumps(attrs, sort_keys=True) if attrs else "")


def head_pattern(proto):
    """ops after the last Relu (global pool, flatten/reshape machinery, Gemm)"""
    nodes = list(proto.graph.node)
    last_relu = max(i for i, n in enumerate(nodes) if n.op_type == "Relu")
    return [_node_repr(n) for n in nodes[last_relu + 1:]]


def se_pattern(proto):
    """ops of the first SE block (node names contain '/se/')"""
    nodes = list(proto.graph.node)
    first = [n for n in nodes if "/se/" in n.name]
    if not first:
        return []
    scope = first[0].name.split("/se/")[0] + "/se/"
    return [_node_repr(n) for n in nodes if n.name.startswith(scope)]


def export(model, variant, x):
    kwargs = dict(
        export_params=True,
        opset_version=variant["opset"],
        input_names=["input"],
        output_names=["output"],
    )
    if variant["dynamic"]:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    if variant["keep_bn"]:
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
        kwargs["do_constant_folding"] = False
    else:
        kwargs["do_constant_folding"] = True
    import inspect
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # legacy TorchScript exporter
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, **kwargs)
    return buf.getvalue(), kwargs


def check_model(model, spec, variant, proto):
    """Structural checks of the exported graph."""
    g = proto.graph
    inits = {t.name: t for t in g.initializer}
    nodes = list(g.node)
    info = model.layer_info
    n_identity = sum(1 for l in info if l["identity"])
    n_bn_total = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    hist = collections.Counter(n.op_type for n in nodes)
    n_conv_expected = 2 * len(info) + 2 * sum(1 for l in info if l["se"])
    assert hist["Conv"] == n_conv_expected, (hist, n_conv_expected)
    if variant["keep_bn"]:
        assert hist["BatchNormalization"] == n_bn_total, (hist, n_bn_total)
        # every branch conv (not SE convs) has no bias, and feeds a BN
        consumers = collections.defaultdict(list)
        for n in nodes:
            for i in n.input:
                consumers[i].append(n)
        for n in nodes:
            if n.op_type == "Conv":
                w = n.input[1]
                if ".se." in w:
                    continue
                assert len(n.input) == 2, "branch conv has a bias: %s" % n.name
                cons = consumers[n.output[0]]
                assert len(cons) == 1 and cons[0].op_type == "BatchNormalization", n.name
                assert w in inits and w.endswith(".conv.weight"), w
        bn_names = set()
        for n in nodes:
            if n.op_type == "BatchNormalization":
                assert n.input[1] in inits, n.input[1]
                bn_names.add(n.input[1].rsplit(".", 1)[0])
        kinds = collections.Counter(
            "identity" if nm.endswith("rbr_identity") else nm.rsplit(".", 2)[-2] for nm in bn_names)
        assert kinds["identity"] == n_identity and kinds["rbr_dense"] == len(info) \
            and kinds["rbr_1x1"] == len(info), kinds
    else:
        assert hist["BatchNormalization"] == n_identity, (hist, n_identity)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    global HAVE_ORT
    try:
        import onnxruntime as ort  # noqa
    except Exception:
        ort = None
    HAVE_ORT = ort is not None

    summary = []
    models = {}
    for variant in VARIANTS:
        key = variant["model"]
        if key not in models:
            models[key] = build_model(key)
        model, spec = models[key]
        batch = 4 if variant["dynamic"] else 1
        seed = 5000 + batch  # same input for all variants with the same batch
        x = np.random.RandomState(seed).standard_normal((batch, 3, IMG, IMG)).astype(np.float32)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy().astype(np.float32)
            # how much a typical mistake moves the output (documents test power)
            import copy
            wrong = copy.deepcopy(model)
            for m in wrong.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eps = 1e-5
            eps_diff = float(np.abs(wrong(torch.from_numpy(x)).numpy() - y).max())
            yd = deploy_forward(model, torch.from_numpy(x)).numpy()
            deploy_diff = float(np.abs(yd - y).max())
            assert deploy_diff < 1e-4, deploy_diff
            # the export traces with batch 1 for static, batch 4 for dynamic
            data, kwargs = export(model, variant, torch.from_numpy(x))
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto)
        check_model(model, spec, variant, proto)
        if ort is not None:
            sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            yo = sess.run(None, {"input": x})[0]
            assert np.allclose(yo, y, rtol=1e-4, atol=1e-4), np.abs(yo - y).max()
        path = os.path.join(args.out, variant["name"] + ".onnx")
        with open(path, "wb") as f:
            f.write(data)
        np.savez(os.path.join(args.out, variant["name"] + ".io.npz"),
                 input=np.ascontiguousarray(x), output=np.ascontiguousarray(y))
        hist = op_histogram(proto)
        info = model.layer_info
        rec = dict(
            name=variant["name"],
            opset=variant["opset"],
            dynamic_batch=variant["dynamic"],
            bn_kept=variant["keep_bn"],
            export_kwargs={k: (str(v) if not isinstance(v, (int, bool, list, dict)) else v)
                           for k, v in kwargs.items()},
            io_batch=batch,
            input_shape=list(x.shape),
            output_shape=list(y.shape),
            output_absmax=float(np.abs(y).max()),
            output_std_over_batch=float(y.std(0).mean()) if batch > 1 else None,
            maxdiff_if_all_eps_1e5=eps_diff,
            maxdiff_deploy_float64=deploy_diff,
            blocks=len(info),
            identity_blocks=sum(1 for l in info if l["identity"]),
            se_blocks=sum(1 for l in info if l["se"]),
            grouped_layers={l["layer"]: l["groups"] for l in info if l["groups"] > 1},
            head=spec["head"],
            model_seed=spec["seed"],
            ops=hist,
            nodes=len(proto.graph.node),
            initializers=len(proto.graph.initializer),
            file_bytes=len(data),
            layers=info,
        )
        rec["head_ops"] = head_pattern(proto)
        rec["se_ops"] = se_pattern(proto)
        rec["initializer_names"] = "state-dict names" if variant["keep_bn"] else \
            "folded convs: onnx::Conv_<n>; BN/SE/linear: state-dict names"
        summary.append(rec)
        print("%-32s opset %2d  %s  nodes=%d  %s" % (
            variant["name"], variant["opset"], "dynamic" if variant["dynamic"] else "static ",
            len(proto.graph.node), json.dumps(hist)))

    write_readme(args.out, summary)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(dict(torch=torch.__version__, onnx=onnx.__version__,
                       numpy=np.__version__, input_hw=IMG, num_classes=NUM_CLASSES,
                       num_blocks=NUM_BLOCKS, widths=WIDTHS, se_ratio=SE_RATIO,
                       variants=summary), f, indent=1)
        f.write("\n")


def write_readme(out, summary):
    L = []
    L.append("# RepVGG ONNX fixtures")
    L.append("")
    L.append("Generated by `tools/export_repvgg_fixtures.py` (do not edit by hand). Regenerate from")
    L.append("the repository root with:")
    L.append("")
    L.append("    /usr/bin/python3 tools/export_repvgg_fixtures.py")
    L.append("")
    L.append("Producer: PyTorch %s (`torch.onnx.export`, legacy TorchScript exporter), onnx %s, numpy %s."
             % (torch.__version__, onnx.__version__, np.__version__))
    if HAVE_ORT:
        L.append("Each export was checked with `onnx.checker.check_model`, structural assertions in the script")
        L.append("(see `check_model`) and onnxruntime (Python) against the PyTorch output.")
    else:
        L.append("onnxruntime for Python was not available, so the exported graphs were checked with")
        L.append("`onnx.checker.check_model` plus structural assertions in the script (see `check_model`).")
    L.append("")
    L.append("## Model")
    L.append("")
    L.append("A small RepVGG written from the paper (not the official code): stem block 3->%d stride 2,"
             % WIDTHS[0])
    L.append("then 4 stages of %s blocks with widths %s, first block of each stage stride 2; head"
             % (NUM_BLOCKS, WIDTHS[1:]))
    L.append("`AdaptiveAvgPool2d(1)` + flatten + `Linear(%d, %d)`. Input `input` float32 NCHW [N,3,%d,%d],"
             % (WIDTHS[-1], NUM_CLASSES, IMG, IMG))
    L.append("output `output` float32 [N,%d] (logits, no softmax). Feature maps: 32, 16, 8, 4, 2." % NUM_CLASSES)
    L.append("")
    L.append("Block (train time): `ReLU(SE?(BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x)))`, conv biases off,")
    L.append("identity BN only when in==out and stride 1. SE (official RepVGG form): `F.avg_pool2d(x,")
    L.append("kernel_size=x.size(3))`, 1x1 conv reduce (bias, internal = cout//%d), ReLU, 1x1 conv expand"
             % SE_RATIO)
    L.append("(bias), sigmoid, `view(-1, C, 1, 1)`, multiply. Grouped layers: the 3x3 and 1x1 convs use")
    L.append("`groups`, the identity branch is a plain per-channel BN (re-param: centre 1 for channel i at")
    L.append("input channel i mod (in/groups)). Layer index: stem = 0, stage blocks 1..9.")
    L.append("")
    L.append("BN parameters are random: running statistics are first calibrated (train-mode forward of 4")
    L.append("seeded random batches, cumulative average) so that activations keep their scale through the")
    L.append("depth, then perturbed: running_mean += U(-0.3,0.3)*sqrt(var), running_var *= U(0.5,2.0);")
    L.append("gamma = ±U(0.5,1.5) (about 15% negative), beta = U(-0.3,0.3); eps cycles 1e-5, 1e-3, 1e-2 over the BNs in")
    L.append("construction order (identity, dense, 1x1 per block). SE conv biases U(-0.5,0.5). Conv/Linear")
    L.append("weights: PyTorch default init under `torch.manual_seed(model seed)`. Model in `eval()`.")
    L.append("")
    L.append("`<variant>.io.npz` (np.savez): `input` float32 (seeded standard normal; batch 1 for static,")
    L.append("batch 4 for dynamic) and `output` float32 = the PyTorch train-time module's eval output for")
    L.append("that input. Compare with a tolerance (~1e-4 relative); a folded/re-parameterized graph is not")
    L.append("bit-identical to PyTorch.")
    L.append("")
    L.append("The script also re-parameterizes each model itself (float64, docs/repvgg.md, grouped")
    L.append("identity kernel = 1 at the centre for output channel i, input channel i mod (in/groups)) and")
    L.append("asserts it reproduces `output`; max differences: " +
             ", ".join("%.2g" % r["maxdiff_deploy_float64"] for r in summary) + ".")
    L.append("")
    L.append("Sensitivity: ignoring the per-BN eps (using 1e-5 everywhere) changes the outputs by up to")
    L.append(", ".join("%.3g" % r["maxdiff_if_all_eps_1e5"] for r in summary) + " (variants in table order); output")
    L.append("magnitudes are about 1, and outputs differ clearly between the batch items.")
    L.append("")
    L.append("`summary.json` holds the same facts machine-readably, including a per-layer table")
    L.append("(cin, cout, stride, groups, identity, se).")
    L.append("")
    L.append("## Variants")
    L.append("")
    L.append("| variant | opset | batch | BN | model seed | blocks | identity blocks | SE blocks | grouped layers (idx: groups) | head | nodes | bytes |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in summary:
        gl = ", ".join("%s:%s" % (k, v) for k, v in r["grouped_layers"].items()) or "none"
        L.append("| `%s` | %d | %s | %s | %d | %d | %d | %d | %s | %s | %d | %d |" % (
            r["name"], r["opset"], "dynamic (`batch`)" if r["dynamic_batch"] else "static 1",
            "all kept" if r["bn_kept"] else "folded by exporter (identity BNs remain)",
            r["model_seed"], r["blocks"], r["identity_blocks"], r["se_blocks"], gl,
            "`torch.flatten(x,1)`" if r["head"] == "flatten" else "`x.view(x.size(0),-1)`",
            r["nodes"], r["file_bytes"]))
    L.append("")
    L.append("Variants 1-3 are the same model (same weights); only the export differs, so a")
    L.append("re-parameterized `bn_kept_static_op13` must match `folded_static_op13` numerically.")
    L.append("")
    L.append("## Node op counts")
    L.append("")
    ops = sorted({o for r in summary for o in r["ops"]})
    L.append("| op | " + " | ".join("`%s`" % r["name"] for r in summary) + " |")
    L.append("|---|" + "---|" * len(summary))
    for o in ops:
        L.append("| %s | " % o + " | ".join(str(r["ops"].get(o, 0)) for r in summary) + " |")
    L.append("")
    L.append("Export arguments:")
    L.append("")
    for r in summary:
        L.append("- `%s`: `%s`" % (r["name"], json.dumps(r["export_kwargs"])))
    L.append("")
    L.append("## Exporter behaviour (observed with torch %s)" % torch.__version__)
    L.append("")
    L.append("Head (nodes after the last Relu, in graph order):")
    L.append("")
    for r in summary:
        L.append("- `%s`: %s" % (r["name"], " -> ".join("`%s`" % o for o in r["head_ops"])))
    L.append("")
    for r in summary:
        if r["se_ops"]:
            L.append("SE block in `%s` (first SE, stem; all %d SE blocks have the same form, the" % (r["name"], r["se_blocks"]))
            L.append("kernel/stride of AveragePool = that block's feature-map size, the Reshape constant")
            L.append("= [-1, C, 1, 1]); the SE input is the output of the branch `Add` and the result feeds the block Relu:")
            L.append("")
            L.append("    " + "\n    ".join(r["se_ops"]))
            L.append("")
    for line in NOTES:
        L.append(line)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(L) + "\n")


NOTES = """Other observations (torch 1.13 legacy exporter; check again if the torch version changes):

- Folded variants (`do_constant_folding=True`, eval): every Conv+BN pair became one `Conv` with a
  bias input; the folded weights/biases get generated initializer names `onnx::Conv_<n>`. The
  identity BNs stay as `BatchNormalization` reading the block input directly, with state-dict
  initializer names (`stageS.B.rbr_identity.weight/bias/running_mean/running_var`).
- BN-kept variants (`training=TrainingMode.PRESERVE`, model in eval, `do_constant_folding=False`):
  every branch `Conv` has no bias and feeds exactly one `BatchNormalization`; all initializers keep
  state-dict names (`stageS.B.rbr_dense.conv.weight`, `stageS.B.rbr_dense.bn.running_var`, ...).
  `num_batches_tracked` is not exported.
- `BatchNormalization` is always the single-output inference form with attributes `epsilon`
  (float32, so 1e-3 is stored as 0.0010000000474974513) and `momentum` = 0.9 (= 1 - torch momentum);
  no `training_mode` attribute (opset <= 13).
- Block sum: `Add(dense, 1x1)` then `Add(that, identity)` (15 Adds = 10 blocks + 5 identity
  branches). The identity `BatchNormalization` node comes BEFORE the branch convs of its block in
  node order (right after the previous block's Relu); do not rely on node order to find the
  branches, match on the tensors.
- Conv attributes always spelled out: `dilations`, `group`, `kernel_shape`, `pads`, `strides`.
- No `Identity` nodes in any variant. `Constant` nodes appear only in the SE blocks (Pad pads and
  Reshape shape) and in the `view` head; variants 1-3 have none.
- The SE's `F.avg_pool2d` became `Pad` (all-zero pads from a `Constant`, mode constant, no
  constant_value input) + `AveragePool` with kernel = strides = the full feature map, not
  `GlobalAveragePool` or `ReduceMean`; constant folding does not remove the no-op Pad.
- `torch.flatten(x, 1)` exports as a single `Flatten(axis=1)` even with a dynamic batch. The
  official-code style `x.view(x.size(0), -1)` exports as `Shape -> Gather(0) -> Unsqueeze ->
  Concat([-1]) -> Reshape` with a dynamic batch, and, when static with constant folding off, as
  `Constant(1)`, `Constant(-1)` (scalars) -> two `Unsqueeze(axes=[0])` -> `Concat` -> `Reshape`.
- Linear -> `Gemm(transB=1)` with `linear.weight` [10, 32] and `linear.bias`.
- Dynamic variants: input dims `[batch, 3, 64, 64]`, output `[batch, 10]` (`dim_param` "batch");
  static variants use 1. No value_info is stored. ir_version 7 for opset 13, 6 for opset 11.
  Initializers are not listed as graph inputs.
- Cross-check done while writing these fixtures (not part of the script): onnxruntime-node 1.30
  reproduced every `output` to < 1e-6 (also batch 1 through the dynamic models).
""".splitlines()

if __name__ == "__main__":
    main()
