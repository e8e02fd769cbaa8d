#!/usr/bin/env python3
"""Calibration preprocessing (dataset.process_ops) fixtures, computed with OpenCV and numpy.

Writes test/fixtures/calibration/:
  <case>.npz    keys: expected (float32, the model input of one sample); for the synthetic image also input
                (uint8 RGB planar [3,H,W]); the photo cases read test/fixtures/photos/; np.savez_compressed
  index.json    the cases: source image, the process_ops list (as in a build YAML), the output layout
  README.md

The reference semantics (docs/calibration.md):
  DecodeImage   cv2.imread + BGR2RGB (for an npz input: the stored image)
  Resize        cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR) on uint8; size is [height, width]
  CenterCrop    top = (H - h) // 2, left = (W - w) // 2; crop_size is [height, width]
  CvtColor      BGR2RGB / RGB2BGR: reverse the channel order
  Normalize     float32: (x / 255 - mean) / std when mean and std are all <= 1, else (x - mean) / std
  ToTensor      HWC -> CHW (no scaling); without it the output stays HWC

Run from the repository root with the Debian interpreter (python3-opencv, python3-numpy):

    /usr/bin/python3 tools/make_calibration_fixtures.py

Deterministic: the synthetic image comes from numpy RandomState(7).
"""
import json
import os

import cv2
import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PHOTOS = os.path.join(REPO, "test", "fixtures", "photos")
OUT = os.path.join(REPO, "test", "fixtures", "calibration")

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
IMAGENET_255 = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}

# The zoo's pipeline shape (shrunk: the fixtures stay small), and one exercising everything else: a
# non-square resize, a crop with odd margins, a channel swap, 0..255 mean/std and channels-last output.
ZOO = [
    {"type": "DecodeImage"},
    {"type": "Resize", "size": [96, 96]},
    {"type": "CenterCrop", "crop_size": [80, 80]},
    {"type": "Normalize", **IMAGENET},
    {"type": "ToTensor"},
]
BGR_HWC = [
    {"type": "DecodeImage"},
    {"type": "Resize", "size": [70, 90]},
    {"type": "CenterCrop", "crop_size": [51, 77]},
    {"type": "CvtColor", "code": "BGR2RGB"},
    {"type": "Normalize", **IMAGENET_255},
]
UPSCALE = [
    {"type": "Resize", "size": [40, 56]},
    {"type": "Normalize", **IMAGENET},
    {"type": "ToTensor"},
]


def decode(name):
    bgr = cv2.imread(os.path.join(PHOTOS, name), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def apply(ops, rgb_hwc):
    img = rgb_hwc
    out = None
    chw = False
    for op in ops:
        t = op["type"]
        if t == "DecodeImage":
            continue
        if t == "Resize":
            h, w = op["size"]
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        elif t == "CenterCrop":
            h, w = op["crop_size"]
            top = (img.shape[0] - h) // 2
            left = (img.shape[1] - w) // 2
            img = img[top:top + h, left:left + w]
        elif t == "CvtColor":
            if out is None:
                img = img[:, :, ::-1]
            else:
                out = out[:, :, ::-1]
        elif t == "Normalize":
            mean = np.array(op["mean"], np.float32)
            std = np.array(op["std"], np.float32)
            x = img.astype(np.float32)
            if max(op["mean"] + op["std"]) <= 1:
                x = x / np.float32(255)
            out = (x - mean) / std
        elif t == "ToTensor":
            chw = True
    res = out if out is not None else img.astype(np.float32)
    res = np.ascontiguousarray(res.transpose(2, 0, 1) if chw else res, dtype=np.float32)
    return res, ("chw" if chw else "hwc")


def main():
    os.makedirs(OUT, exist_ok=True)
    rs = np.random.RandomState(7)
    synthetic = rs.randint(0, 256, size=(13, 17, 3), dtype=np.uint8)
    cases = [
        ("astronaut_zoo", "astronaut.jpg", decode("astronaut.jpg"), ZOO),
        ("chelsea_zoo", "chelsea.jpg", decode("chelsea.jpg"), ZOO),
        ("coffee_bgr_hwc", "coffee.jpg", decode("coffee.jpg"), BGR_HWC),
        ("rocket_bgr_hwc", "rocket.jpg", decode("rocket.jpg"), BGR_HWC),
        ("noise13x17_upscale", None, synthetic, UPSCALE),
    ]
    index = []
    for name, photo, rgb, ops in cases:
        expected, layout = apply(ops, rgb)
        arrays = {"expected": expected}
        if photo is None:
            arrays["input"] = np.ascontiguousarray(rgb.transpose(2, 0, 1))
        np.savez_compressed(os.path.join(OUT, name + ".npz"), **arrays)
        index.append({"case": name, "photo": photo, "process_ops": ops, "layout": layout, "shape": list(expected.shape)})
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump({"opencv": cv2.__version__, "numpy": np.__version__, "cases": index}, f, indent=1)
        f.write("\n")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(
            "# Calibration preprocessing fixtures\n\n"
            "Made by `tools/make_calibration_fixtures.py` (OpenCV %s, numpy %s): each `<case>.npz` holds the model\n"
            "input (`expected`, float32) that the case's `process_ops` (in `index.json`) make of its image: a photo\n"
            "of `../photos/` decoded with `cv2.imread` + BGR2RGB, or the synthetic image stored as `input` (uint8\n"
            "RGB planar). The script's header states the reference semantics.\n" % (cv2.__version__, np.__version__)
        )


if __name__ == "__main__":
    main()
