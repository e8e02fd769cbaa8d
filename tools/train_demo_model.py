#!/usr/bin/env python3
"""Train the demo model: a small RepVGG (train-time form) on Fashion-MNIST.

Run from the repository root with the Debian interpreter (packages python3-torch, python3-opencv,
python3-onnx, dataset-fashion-mnist):

    /usr/bin/python3 tools/train_demo_model.py     # 5 epochs, one thread: 21 minutes on a busy shared machine

Writes
  tools/demo_model/repvgg_fmnist.onnx   train-time ONNX: every branch keeps its BatchNormalization,
                                        opset 13, input `input` float32 [N,3,32,32], output `output` [N,10]
  tools/demo_model/labels.txt           one class name per line, class-id order
  tools/demo_model/images/<id>/*.png    a balanced test subset (200 per class), 28x28 grayscale PNG,
                                        named by the image's index in the test set
  tools/demo_model/metrics.json         PyTorch top-1/top-5, train-time and re-parameterized model, on the
                                        full test set and on the subset, plus per-image top-5 on the subset
  vdsp_params/demo-repvgg_fmnist-vdsp_params.json   the preprocessing below, as vdsp params

Preprocessing (training and evaluation alike, exactly what the vdsp params express): the 28x28 uint8 image
-> cv2.resize to 36x36 INTER_LINEAR on uint8 (what BILINEAR_CV reproduces pixel for pixel) -> crop 32x32
(at 2,2 for evaluation; at a random offset in 0..4 while training, plus random horizontal flips) -> the
gray plane replicated into 3 channels -> x/255, minus mean, divided by std. Mean and std are the training
set's, rounded to float16 as vdsp hardware stores them; PyTorch uses the rounded values too.

Everything is seeded (numpy, torch), on one thread by default so that float sums run in one order.
"""
import argparse
import gzip
import json
import os
import re
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_repvgg_fixtures import RepVGG, deploy_forward, export  # noqa: E402

import onnx  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT_DIR = os.path.join(REPO, "tools", "demo_model")
VDSP_PATH = os.path.join(REPO, "vdsp_params", "demo-repvgg_fmnist-vdsp_params.json")
DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SRC, RESIZED, CROP, CROP_AT = 28, 36, 32, 2
# stem stride 1 (32x32), then stages at 16, 8, 4, 2; layer index: stem 0, stage blocks 1..7; identity
# branches in 2, 4 and 6.
NUM_BLOCKS = [2, 2, 2, 1]
WIDTHS = [16, 16, 32, 64, 128]
GROUPS = {2: 2, 4: 2}              # two of the three identity blocks grouped, one plain
PER_CLASS = 200
SEED = 20240


def read_idx(name):
    with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def resize(images):
    """uint8 [N,28,28] -> uint8 [N,36,36], OpenCV bilinear (the vdsp BILINEAR_CV resize)."""
    return np.stack([cv2.resize(im, (RESIZED, RESIZED), interpolation=cv2.INTER_LINEAR) for im in images])


def fp16(x):
    return float(np.float16(x))


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = np.float32(mean), np.float32(std)

    def __call__(self, crops):
        """uint8 [N,32,32] -> float32 [N,3,32,32], the gray plane in all three channels."""
        x = torch.from_numpy(np.ascontiguousarray(crops)).float().div_(255.0)
        x = (x - float(self.mean)) / float(self.std)
        return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def eval_crop(resized):
    return resized[:, CROP_AT:CROP_AT + CROP, CROP_AT:CROP_AT + CROP]


def train_batches(resized, labels, batch, rng):
    order = rng.permutation(len(resized))
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        off = rng.randint(0, RESIZED - CROP + 1, size=(len(idx), 2))
        crops = np.stack([resized[i, y:y + CROP, x:x + CROP] for i, (y, x) in zip(idx, off)])
        flip = rng.rand(len(idx)) < 0.5
        crops[flip] = crops[flip, :, ::-1]
        yield crops, labels[idx]


def logits_of(forward, crops, norm, batch=500):
    out = []
    with torch.no_grad():
        for s in range(0, len(crops), batch):
            out.append(forward(norm(crops[s:s + batch])).double().numpy())
    return np.concatenate(out)


def topk_hits(logits, labels):
    # stable order on ties: the lower class id first, as rebake's eval and the zoo's argsort-based scripts
    top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    hit1, hit5 = int(np.sum(top5[:, 0] == labels)), int(np.sum((top5 == labels[:, None]).any(1)))
    return dict(top1=round(hit1 * 100 / len(labels), 4), top5=round(hit5 * 100 / len(labels), 4),
                top1_correct=hit1, top5_correct=hit5, images=int(len(labels))), top5


def write_subset(test_u8, test_labels, out):
    """The first PER_CLASS test images of each class as PNGs; returns (relative paths, labels)."""
    files, labels = [], []
    for c in range(len(LABELS)):
        os.makedirs(os.path.join(out, "images", str(c)), exist_ok=True)
        for i in np.flatnonzero(test_labels == c)[:PER_CLASS]:
            rel = "%d/%05d.png" % (c, i)
            ok = cv2.imwrite(os.path.join(out, "images", rel), test_u8[i], [cv2.IMWRITE_PNG_COMPRESSION, 9])
            assert ok, rel
            files.append(rel)
            labels.append(c)
    return files, np.array(labels)


def read_subset(files, out):
    """The PNGs as written (what rebake image2npz reads), not the in-memory arrays."""
    ims = [cv2.imread(os.path.join(out, "images", f), cv2.IMREAD_GRAYSCALE) for f in files]
    return np.stack(ims)


def write_vdsp(mean, std):
    params = {
        "OpType": "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR",
        "OpConfig": {
            "IimageFormat": "RGB_PLANAR",
            "IimageWidth": SRC, "IimageHeight": SRC,
            "OimageWidth": CROP, "OimageHeight": CROP,
            "CropX": CROP_AT, "CropY": CROP_AT,
            "ResizeWidth": RESIZED, "ResizeHeight": RESIZED,
            "IimageWidthPitch": SRC, "IimageHeightPitch": SRC,
            "Mean": [mean] * 3,
            "Std": [std] * 3,
            "NormaType": "DIV255_MINUSMEAN_DIVSTD",
            "ColorCvtCode": "NO_CHANGE",
            "ResizeType": "BILINEAR_CV",
        },
    }
    with open(VDSP_PATH, "w") as f:
        json.dump(params, f, indent=4)
        f.write("\n")


def compact_json(obj):
    """Indented JSON with innermost lists, then objects holding no object, on one line (one per image)."""
    def one_line(m):
        return re.sub(r"\n\s*", " ", m.group(0))
    text = re.sub(r"\[[^\[\]{}]*\]", one_line, json.dumps(obj, indent=1))
    return re.sub(r"\{[^{}]*\}", one_line, text) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = np.random.RandomState(SEED)
    t0 = time.time()

    train_u8, train_labels = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    test_u8, test_labels = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    train_labels, test_labels = train_labels.astype(np.int64), test_labels.astype(np.int64)
    pixels = train_u8.astype(np.float64) / 255.0
    mean, std = fp16(pixels.mean()), fp16(pixels.std())
    norm = Normalize(mean, std)
    train_rs, test_rs = resize(train_u8), resize(test_u8)

    model = RepVGG(NUM_BLOCKS, WIDTHS, len(LABELS), GROUPS, set(), 4, lambda kind: 1e-5,
                   "flatten", stem_stride=1)
    steps = args.epochs * ((len(train_rs) + args.batch - 1) // args.batch)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.2)
    history = []
    for epoch in range(args.epochs):
        model.train()
        loss_sum, n = 0.0, 0
        for crops, y in train_batches(train_rs, train_labels, args.batch, rng):
            loss = F.cross_entropy(model(norm(crops)), torch.from_numpy(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss) * len(y)
            n += len(y)
        model.eval()
        acc, _ = topk_hits(logits_of(model, eval_crop(test_rs), norm), test_labels)
        history.append(dict(epoch=epoch + 1, train_loss=loss_sum / n, test_top1=acc["top1"]))
        print("epoch %d  loss %.4f  test top-1 %.2f%%  (%.0f s)" % (epoch + 1, loss_sum / n, acc["top1"],
                                                                  time.time() - t0), flush=True)

    model.eval()
    os.makedirs(OUT_DIR, exist_ok=True)
    files, sub_labels = write_subset(test_u8, test_labels, OUT_DIR)
    sub_u8 = read_subset(files, OUT_DIR)
    sub_rs = resize(sub_u8)
    assert np.array_equal(sub_u8, test_u8[[int(f.split("/")[1][:5]) for f in files]]), "PNG round trip"

    def deploy(x):
        return deploy_forward(model, x)

    results = {}
    for name, fwd in (("train_time", model), ("reparameterized_float64", deploy)):
        full, _ = topk_hits(logits_of(fwd, eval_crop(test_rs), norm), test_labels)
        sub, top5 = topk_hits(logits_of(fwd, eval_crop(sub_rs), norm), sub_labels)
        results[name] = dict(test_set=full, subset=sub)
        if name == "train_time":
            sub_top5 = top5
        else:
            deploy_top1 = top5[:, 0]
    agree = float(np.mean(deploy_top1 == sub_top5[:, 0]) * 100)

    x = norm(eval_crop(sub_rs[:4]))
    with torch.no_grad():
        data, kwargs = export(model, dict(opset=13, dynamic=True, keep_bn=True), x)
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    proto.doc_string = "RepVGG (train-time form) trained on Fashion-MNIST by tools/train_demo_model.py"
    with open(os.path.join(OUT_DIR, "repvgg_fmnist.onnx"), "wb") as f:
        f.write(proto.SerializeToString())
    with open(os.path.join(OUT_DIR, "labels.txt"), "w") as f:
        f.write("".join(l + "\n" for l in LABELS))
    write_vdsp(mean, std)

    metrics = dict(
        dataset="Fashion-MNIST (Debian dataset-fashion-mnist), 60000 train / 10000 test",
        preprocessing=dict(resize=[RESIZED, RESIZED], interpolation="cv2.INTER_LINEAR on uint8",
                           crop=[CROP, CROP], crop_at=[CROP_AT, CROP_AT], channels="gray replicated to 3",
                           mean=mean, std=std, normalize="x/255, minus mean, divided by std"),
        model=dict(num_blocks=NUM_BLOCKS, widths=WIDTHS, stem_stride=1, grouped_layers=GROUPS,
                   layers=model.layer_info,
                   parameters=int(sum(p.numel() for p in model.parameters()))),
        training=dict(seed=SEED, epochs=args.epochs, batch=args.batch, optimizer="SGD nesterov momentum 0.9",
                      max_lr=args.lr, schedule="OneCycle", weight_decay=5e-4,
                      augmentation="random 32x32 crop of the 36x36 resize, horizontal flip",
                      threads=args.threads, seconds=round(time.time() - t0, 1), history=history),
        export=dict(opset=13, dynamic_batch=True, bn_kept=True,
                    ops=dict(sorted({n.op_type: sum(1 for m in proto.graph.node if m.op_type == n.op_type)
                                     for n in proto.graph.node}.items()))),
        torch=torch.__version__, opencv=cv2.__version__, onnx=onnx.__version__,
        pytorch=results,
        subset=dict(images=len(files), per_class=PER_CLASS, folder="images/<class id>/<test index>.png",
                    reparameterized_top1_agreement=agree,
                    predictions=[dict(file=f, label=int(l), top5=[int(c) for c in t])
                                 for f, l, t in zip(files, sub_labels, sub_top5)]),
    )
    with open(os.path.join(OUT_DIR, "metrics.json"), "w") as f:
        f.write(compact_json(metrics))
    print(json.dumps(results, indent=1))
    print("written to %s in %.0f s" % (os.path.relpath(OUT_DIR, REPO), time.time() - t0))


if __name__ == "__main__":
    main()
