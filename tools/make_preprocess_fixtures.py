#!/usr/bin/env python3
"""Preprocessing ("vdsp params") fixtures: real photos + synthetic edge cases run through
OpenCV / Pillow reference implementations of the zoo's fused preprocessing op.

Writes test/fixtures/preprocess/:
  params/<original vdsp params file names>.json   copies of the zoo files
  images/<name>.npz          key input_0: uint8 [3,H,W] RGB planar (np.savez, stored)
  expected/<image>__<config id>.npz   keys resized, normalized (optional), resized_pillow
                                      (repvgg config only); np.savez_compressed
  synthetic.json             closed-form formulas of the images that are NOT committed
  index.json                 images, configs, expected files
  README.md

Run from the repository root with the Debian interpreter (it has cv2/PIL/skimage):

    /usr/bin/python3 tools/make_preprocess_fixtures.py

Deterministic: no randomness except numpy RandomState with fixed seeds.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import shutil
import sys

import numpy as np
import cv2
import PIL
from PIL import Image
import skimage
import skimage.data

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT_DIR = os.path.join(REPO, "test", "fixtures", "preprocess")
# The zoo's vdsp params: VASTMODELZOO_DIR names a folder holding vdsp_params/ and vdsp_params_other/;
# without it the copies already committed in test/fixtures/preprocess/params/ are used.
REF_DIR = os.environ.get("VASTMODELZOO_DIR")
PARAM_DIRS = ["vdsp_params", "vdsp_params_other"]
PIL_BILINEAR = getattr(Image, "Resampling", Image).BILINEAR

# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------

# Real photographs from Debian's python3-skimage sample data (only images whose
# docstring names a licence: CC0 or public domain). crop = (x0, y0, width, height)
# in the original image, None = whole image. Gray images are replicated to R=G=B.
PHOTOS = [
    # realistic downscales
    dict(name="rocket_500x375", fn="rocket", crop=(70, 26, 500, 375),
         licence="public domain (SpaceX)"),
    dict(name="retina_711x397", fn="retina", crop=(350, 500, 711, 397),
         licence="CC0 1.0 (Mikael Haggstrom, via Wikimedia Commons)"),
    dict(name="cell_300x451", fn="cell", crop=(100, 150, 300, 451),
         licence="CC0 (quantitative phase image, Paul Mueller et al.)"),
    # extreme aspect ratios from real photos
    dict(name="hubble_1000x7", fn="hubble_deep_field", crop=(0, 400, 1000, 7),
         licence="public domain (NASA; 'may be freely used in the public domain')"),
    dict(name="retina_7x1000", fn="retina", crop=(700, 400, 7, 1000),
         licence="CC0 1.0 (Mikael Haggstrom, via Wikimedia Commons)"),
    # small crops (upscaling), odd sizes
    dict(name="coffee_36x48", fn="coffee", crop=(340, 150, 36, 48),
         licence="CC0 (photographer Rachel Michetti)"),
    dict(name="astronaut_24x32", fn="astronaut", crop=(200, 115, 24, 32),
         licence="public domain (NASA; 'No known copyright restrictions, released into the public domain')"),
    dict(name="chelsea_40x30", fn="chelsea", crop=(300, 120, 40, 30),
         licence="CC0 (photographer Stefan van der Walt)"),
    dict(name="camera_30x40", fn="camera", crop=(200, 100, 30, 40),
         licence="CC0 (photographer Lav Varshney)"),
    dict(name="clock_64x48", fn="clock", crop=(150, 100, 64, 48),
         licence="public domain (photographer Stefan van der Walt)"),
    dict(name="microaneurysms_51x51", fn="microaneurysms", crop=(20, 20, 51, 51),
         licence="CC0 (owner Andreas Maier)"),
    dict(name="brick_32x24", fn="brick", crop=(200, 200, 32, 24),
         licence="CC0 (CC0Textures, Bricks25)"),
    dict(name="gravel_12x9", fn="gravel", crop=(300, 300, 12, 9),
         licence="CC0 (CC0Textures, Gravel04)"),
]

# Closed-form images that are NOT committed (too big); TypeScript regenerates them.
# Integer arithmetic only; all intermediate values < 2^31. The content is periodic
# (u = x mod PX, v = y mod PY) with periods chosen so that the resize sampling
# pattern repeats too: every output pixel is a non-trivial interpolation, yet the
# expected outputs compress to a few KB.
FORMULA_EXPR = "(u*7 + v*13 + c*101 + ((u*v) >> 5)) & 255, u = x % {px}, v = y % {py}"
UNCOMMITTED = [
    dict(name="formula_4000x3000", width=4000, height=3000, px=125, py=375,
         why="4000x3000 (36 MB raw) is too big to commit; strong downscale (x15.6 / x11.7)"),
    dict(name="formula_512x512", width=512, height=512, px=64, py=64,
         why="exact 2x downscale to 256x256 (OpenCV takes its INTER_AREA fast path for "
             "INTER_LINEAR at exactly 2x; the result still equals the bilinear fixed-point one) "
             "and a same-size (no-op) letterbox to 512x512"),
]


def formula_image(width, height, px, py):
    c = np.arange(3, dtype=np.int64)[:, None, None]
    v = (np.arange(height, dtype=np.int64) % py)[None, :, None]
    u = (np.arange(width, dtype=np.int64) % px)[None, None, :]
    return ((u * 7 + v * 13 + c * 101 + ((u * v) >> 5)) & 255).astype(np.uint8)


def synthetic_committed():
    """Small synthetic edge cases, committed as npz (so their recipes are informative only)."""
    out = []
    a = np.array([200, 100, 50], np.uint8).reshape(3, 1, 1)
    out.append(dict(name="px_1x1", img=a, recipe="single pixel R,G,B = 200,100,50"))
    b = np.array([[[0, 255], [10, 20], [200, 100]],
                  [[255, 0], [30, 40], [50, 150]],
                  [[128, 64], [250, 5], [90, 180]]], np.uint8)  # [3, H=3, W=2]
    out.append(dict(name="px_2x3", img=b, recipe="width 2, height 3, hand-picked values"))
    # random tiles repeated with a period (125) that matches the resize sampling period
    tile = np.random.RandomState(1234).randint(0, 256, (3, 7, 125)).astype(np.uint8)
    out.append(dict(name="wide_1000x7", img=np.ascontiguousarray(np.tile(tile, (1, 1, 8))),
                    recipe="np.tile(RandomState(1234).randint(0,256,(3,7,125)), (1,1,8))"))
    tile = np.random.RandomState(1235).randint(0, 256, (3, 125, 7)).astype(np.uint8)
    out.append(dict(name="tall_7x1000", img=np.ascontiguousarray(np.tile(tile, (1, 8, 1))),
                    recipe="np.tile(RandomState(1235).randint(0,256,(3,125,7)), (1,8,1))"))
    # tile period n/32 = the resize sampling period for every config (n -> 224/256/288/512)
    for n, seed in ((224, 1236), (256, 1237), (288, 1238)):
        t = n // 32
        tile = np.random.RandomState(seed).randint(0, 256, (3, t, t)).astype(np.uint8)
        out.append(dict(name="noise_%dx%d" % (n, n),
                        img=np.ascontiguousarray(np.tile(tile, (1, 32, 32))),
                        recipe="np.tile(RandomState(%d).randint(0,256,(3,%d,%d)), (1,32,32)); "
                               "same size as a config's resize (no-op resize path)"
                               % (seed, t, t)))
    h, w = 200, 333
    y = np.arange(h)[:, None]
    x = np.arange(w)[None, :]
    st = np.stack([np.broadcast_to((x % 2) * 255, (h, w)),
                   np.broadcast_to((y % 3 == 0) * 255, (h, w)),
                   np.broadcast_to(((x // 4 + y // 4) % 2) * 200 + 30, (h, w))]).astype(np.uint8)
    out.append(dict(name="stripes_333x200", img=st,
                    recipe="R = 255*(x%2), G = 255*(y%3==0), B = 30 + 200*((x//4 + y//4)%2)"))
    h, w = 170, 250
    y = np.arange(h)[:, None]
    x = np.arange(w)[None, :]
    chk = ((x // 8 + y // 8) % 2).astype(bool)
    col_a = np.array([230, 20, 20], np.uint8)
    col_b = np.array([20, 40, 220], np.uint8)
    cb = np.where(chk[None], col_b[:, None, None], col_a[:, None, None]).astype(np.uint8)
    out.append(dict(name="checker_250x170", img=cb,
                    recipe="8 px checkerboard, (x//8 + y//8) even -> RGB(230,20,20), odd -> RGB(20,40,220)"))
    return out


def load_photo(p):
    img = getattr(skimage.data, p["fn"])()
    gray = img.ndim == 2
    if gray:
        img = np.stack([img] * 3, axis=-1)
    if img.shape[2] == 4:
        img = img[:, :, :3]
    orig = (img.shape[1], img.shape[0])
    if p["crop"] is not None:
        x0, y0, w, h = p["crop"]
        assert x0 + w <= img.shape[1] and y0 + h <= img.shape[0], (p["name"], img.shape)
        img = img[y0:y0 + h, x0:x0 + w]
    assert img.dtype == np.uint8
    return np.ascontiguousarray(img.transpose(2, 0, 1)), gray, orig


# --------------------------------------------------------------------------
# Preprocessing semantics (reference implementation)
# --------------------------------------------------------------------------

def resize_hwc(hwc, w, h, kind):
    """uint8 HWC -> uint8 HWC of size (w, h)."""
    H, W = hwc.shape[:2]
    if (W, H) == (w, h):
        return hwc.copy()
    if kind == "BILINEAR_CV":
        return cv2.resize(hwc, (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == "BILINEAR_PILLOW":
        return np.asarray(Image.fromarray(hwc).resize((w, h), PIL_BILINEAR))
    raise ValueError("unsupported ResizeType %s" % kind)


def normalize(chw_u8, cfg):
    x = chw_u8.astype(np.float64)
    mean = np.asarray(cfg.get("Mean", [0, 0, 0]), np.float64).reshape(3, 1, 1)
    std = np.asarray(cfg.get("Std", [1, 1, 1]), np.float64).reshape(3, 1, 1)
    t = cfg["NormaType"]
    if t == "DIV255_MINUSMEAN_DIVSTD":
        y = (x / 255.0 - mean) / std
    elif t == "MINUSMEAN_DIVSTD":
        y = (x - mean) / std
    elif t == "DIV255":
        y = x / 255.0
    elif t == "EQUAL":
        y = x
    elif t == "DIV1275_MINUSONE":
        y = x / 127.5 - 1.0
    else:
        raise ValueError("unsupported NormaType %s" % t)
    return y.astype(np.float32)


def swap_channels(cfg):
    code = cfg["ColorCvtCode"]
    if code == "NO_CHANGE":
        return False
    if code in ("BGR2RGB", "RGB2BGR"):
        return True
    raise ValueError("unsupported ColorCvtCode %s" % code)


def run_config(chw, op_type, cfg):
    """Returns (resized uint8 [3,RH,RW] after channel swap, normalized float32 [3,OH,OW], info)."""
    hwc = np.ascontiguousarray(chw.transpose(1, 2, 0))
    H, W = hwc.shape[:2]
    OW, OH = cfg["OimageWidth"], cfg["OimageHeight"]
    info = {}
    if "LETTERBOX" in op_type:
        s = min(OW / W, OH / H)
        nw = max(1, min(OW, int(math.floor(W * s + 0.5))))
        nh = max(1, min(OH, int(math.floor(H * s + 0.5))))
        r = resize_hwc(hwc, nw, nh, cfg["ResizeType"])
        top, left = (OH - nh) // 2, (OW - nw) // 2
        canvas = np.full((OH, OW, 3), 114, np.uint8)
        canvas[top:top + nh, left:left + nw] = r
        resized = canvas
        cropped = canvas
        info = dict(scale=s, nw=nw, nh=nh, top=top, left=left)
    elif "_CROP_" in op_type:
        RW, RH = cfg["ResizeWidth"], cfg["ResizeHeight"]
        resized = resize_hwc(hwc, RW, RH, cfg["ResizeType"])
        cx, cy = cfg["CropX"], cfg["CropY"]
        assert cx + OW <= RW and cy + OH <= RH
        cropped = resized[cy:cy + OH, cx:cx + OW]
    else:
        RW, RH = cfg.get("ResizeWidth", OW), cfg.get("ResizeHeight", OH)
        assert (RW, RH) == (OW, OH), "no-crop op with ResizeWidth/Height != Oimage size"
        resized = resize_hwc(hwc, OW, OH, cfg["ResizeType"])
        cropped = resized
    if swap_channels(cfg):
        resized = resized[:, :, ::-1]
        cropped = cropped[:, :, ::-1]
    resized_chw = np.ascontiguousarray(resized.transpose(2, 0, 1))
    cropped_chw = np.ascontiguousarray(cropped.transpose(2, 0, 1))
    return resized_chw, normalize(cropped_chw, cfg), info


# The fixed-point description (docs/vdsp-params.md) of OpenCV INTER_LINEAR on uint8, used to
# cross-check that every cv2 result here follows it (TypeScript implements the same).
def fixed_point_resize(hwc, dw, dh):
    sh, sw = hwc.shape[:2]
    src = hwc.astype(np.int64)

    def tables(s, d, clamp):
        scale = 1.0 / (d / s)  # OpenCV: inv_scale = (double)dst/src; scale = 1./inv_scale
        f = ((np.arange(d) + 0.5) * scale - 0.5).astype(np.float32)
        i0 = np.floor(f).astype(np.int64)
        r = (f - i0.astype(np.float32)).astype(np.float32)
        if clamp:
            lo = i0 < 0
            r[lo] = 0
            i0[lo] = 0
            hi = i0 >= s - 1
            r[hi] = 0
            i0[hi] = s - 1
        w0 = np.rint((np.float32(1) - r) * np.float32(2048)).astype(np.int64)
        w1 = np.rint(r * np.float32(2048)).astype(np.int64)
        return i0, w0, w1

    xi, xw0, xw1 = tables(sw, dw, True)
    yi, yw0, yw1 = tables(sh, dh, False)
    x1 = np.minimum(xi + 1, sw - 1)
    rows = src[:, xi] * xw0[None, :, None] + src[:, x1] * xw1[None, :, None]  # [sh, dw, 3]
    r0 = rows[np.clip(yi, 0, sh - 1)]
    r1 = rows[np.clip(yi + 1, 0, sh - 1)]
    out = (((r0 >> 4) * yw0[:, None, None]) >> 16) + (((r1 >> 4) * yw1[:, None, None]) >> 16)
    out = (out + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def config_id_for(fname):
    base = os.path.basename(fname)
    if base.startswith("official-repvgg"):
        return "repvgg"
    table = {
        "classification_cspnet_mmcls-cspdarknet53-vdsp_params.json": "cspdarknet53",
        "classification_pplcnet_doc_ori_pplcnet_x1_0_doc_ori-vdsp_params-resize.json": "pplcnet_doc_ori",
        "classification_shufflenet_v1_megvii-Group3_0.5x-vdsp_params.json": "shufflenet_v1_g3",
        "detection_centernet_official-centernet_res18-vdsp_params.json": "centernet_res18",
    }
    if base in table:
        return table[base]
    return os.path.splitext(base)[0].replace("-vdsp_params", "")


# pairs (image, config) that keep the float32 `normalized` array. Everything else only
# has `resized` (normalized = a per-channel affine map of the crop of `resized`, so it is
# recomputable exactly in float64). Chosen to cover every config and NormaType with real
# photos plus every small synthetic case, within the 8 MB budget.
KEEP_NORMALIZED_IMAGES_ALL_CONFIGS = {
    "px_1x1", "checker_250x170", "noise_224x224", "noise_256x256", "noise_288x288",
    "formula_4000x3000"}
KEEP_NORMALIZED_PAIRS = {
    ("astronaut_24x32", "repvgg"),
    ("coffee_36x48", "shufflenet_v1_g3"),
    ("retina_7x1000", "centernet_res18"),
    ("stripes_333x200", "repvgg"),
    ("stripes_333x200", "shufflenet_v1_g3"),
    ("formula_512x512", "repvgg"),
    ("formula_512x512", "centernet_res18"),
}

# images whose raw size exceeds this are written with np.savez_compressed, the others
# with np.savez (stored, exactly what the zoo's image2npz.py writes)
STORED_MAX_BYTES = 100 * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()
    out = args.out
    cv2.setNumThreads(1)

    committed = os.path.join(out, "params")
    if REF_DIR:
        sources = [f for sub in PARAM_DIRS for f in sorted(glob.glob(os.path.join(REF_DIR, sub, "*.json")))]
    else:
        # The zoo's order: its vdsp_params/ (the RepVGG files) first, then vdsp_params_other/.
        names = sorted(os.listdir(committed))
        sources = [os.path.join(committed, n) for n in names if n.startswith("official-repvgg")]
        sources += [os.path.join(committed, n) for n in names if not n.startswith("official-repvgg")]
    for sub in ("images", "expected") + (("params",) if REF_DIR else ()):
        d = os.path.join(out, sub)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)

    # ---- configs
    configs = []  # dict(id, opType, opConfig, files)
    for f in sources:
        if REF_DIR:
            shutil.copyfile(f, os.path.join(committed, os.path.basename(f)))
        j = json.load(open(f))
        key = json.dumps([j["OpType"], j["OpConfig"]], sort_keys=True)
        for c in configs:
            if c["_key"] == key:
                c["files"].append("params/" + os.path.basename(f))
                break
        else:
            configs.append(dict(_key=key, id=config_id_for(f), opType=j["OpType"],
                                opConfig=j["OpConfig"],
                                files=["params/" + os.path.basename(f)]))
    ids = [c["id"] for c in configs]
    assert len(set(ids)) == len(ids), ids
    repvgg_cfg = next(c for c in configs if c["id"] == "repvgg")["opConfig"]

    # ---- images
    images = []  # dict(meta..., img)
    for p in PHOTOS:
        img, gray, orig = load_photo(p)
        assert p["name"].endswith("_%dx%d" % (img.shape[2], img.shape[1])), p["name"]
        images.append(dict(
            name=p["name"], width=int(img.shape[2]), height=int(img.shape[1]),
            source="skimage.data.%s() (python3-skimage %s)%s%s" % (
                p["fn"], skimage.__version__,
                ", original %dx%d" % orig,
                (", crop x=%d y=%d w=%d h=%d" % p["crop"]) if p["crop"] else ", whole image"),
            licence=p["licence"], kind="photo", gray_replicated=gray,
            committed=True, img=img))
    for s in synthetic_committed():
        img = s["img"]
        images.append(dict(name=s["name"], width=int(img.shape[2]), height=int(img.shape[1]),
                           source="synthetic: " + s["recipe"], licence="generated (no rights)",
                           kind="synthetic", gray_replicated=False, committed=True, img=img))
    for u in UNCOMMITTED:
        img = formula_image(u["width"], u["height"], u["px"], u["py"])
        images.append(dict(name=u["name"], width=u["width"], height=u["height"],
                           source="synthetic formula, not committed: " + u["why"],
                           licence="generated (no rights)", kind="formula",
                           gray_replicated=False, committed=False,
                           synthetic=dict(formula=FORMULA_EXPR.format(px=u["px"], py=u["py"]),
                                          variables="c = channel 0..2 (R,G,B), y = row, x = column",
                                          dtype="uint8", layout="[3,H,W] RGB planar",
                                          sha256=hashlib.sha256(img.tobytes()).hexdigest()),
                           img=img))

    for im in images:
        if im["committed"]:
            im["npz_compressed"] = im["img"].nbytes > STORED_MAX_BYTES
            save = np.savez_compressed if im["npz_compressed"] else np.savez
            save(os.path.join(out, "images", im["name"] + ".npz"), input_0=im["img"])
            im["file"] = "images/%s.npz" % im["name"]
            back = np.load(os.path.join(out, im["file"]))["input_0"]
            assert back.dtype == np.uint8 and back.shape == im["img"].shape
        else:
            im["file"] = None

    # ---- expected outputs
    expected = []
    fixed_point_check = dict(resizes=0, mismatching_resizes=0, mismatching_pixels=0)
    for im in images:
        img = im["img"]
        for c in configs:
            resized, normed, info = run_config(img, c["opType"], c["opConfig"])
            keep = (im["name"] in KEEP_NORMALIZED_IMAGES_ALL_CONFIGS
                    or (im["name"], c["id"]) in KEEP_NORMALIZED_PAIRS)
            arrays = dict(resized=resized)
            if keep:
                arrays["normalized"] = normed
            if c["id"] == "repvgg":
                hwc = np.ascontiguousarray(img.transpose(1, 2, 0))
                rp = resize_hwc(hwc, repvgg_cfg["ResizeWidth"], repvgg_cfg["ResizeHeight"],
                                "BILINEAR_PILLOW")
                arrays["resized_pillow"] = np.ascontiguousarray(rp.transpose(2, 0, 1))
                diff = np.abs(arrays["resized_pillow"].astype(np.int16) - resized.astype(np.int16))
                pillow_stats = dict(differing_fraction=round(float((diff > 0).mean()), 4),
                                    max_abs_diff=int(diff.max()))
            fname = "expected/%s__%s.npz" % (im["name"], c["id"])
            np.savez_compressed(os.path.join(out, fname), **arrays)
            # cross-check the cv2 resize against the documented fixed-point algorithm
            cfg = c["opConfig"]
            hwc = np.ascontiguousarray(img.transpose(1, 2, 0))
            if "LETTERBOX" in c["opType"]:
                dw, dh = info["nw"], info["nh"]
            elif "_CROP_" in c["opType"]:
                dw, dh = cfg["ResizeWidth"], cfg["ResizeHeight"]
            else:
                dw, dh = cfg["OimageWidth"], cfg["OimageHeight"]
            if (dw, dh) != (im["width"], im["height"]):
                ref = fixed_point_resize(hwc, dw, dh)
                got = cv2.resize(hwc, (dw, dh), interpolation=cv2.INTER_LINEAR)
                fixed_point_check["resizes"] += 1
                bad = int((ref != got).sum())
                if bad:
                    fixed_point_check["mismatching_resizes"] += 1
                    fixed_point_check["mismatching_pixels"] += bad
                    print("fixed-point mismatch: %s %dx%d -> %dx%d: %d values" % (
                        im["name"], im["width"], im["height"], dw, dh, bad))
            rec = dict(file=fname, image=im["name"], config=c["id"],
                       resized_shape=list(resized.shape),
                       normalized=keep, normalized_shape=list(normed.shape),
                       resized_pillow="resized_pillow" in arrays,
                       bytes=os.path.getsize(os.path.join(out, fname)))
            rec["keys"] = sorted(arrays)
            if info:
                rec["letterbox"] = info
            if c["id"] == "repvgg":
                rec["pillow_vs_cv2"] = pillow_stats
            expected.append(rec)

    # ---- json files
    img_meta = []
    for im in images:
        m = {k: v for k, v in im.items() if k != "img"}
        img_meta.append(m)
    cfg_meta = [dict(id=c["id"], opType=c["opType"], files=c["files"], opConfig=c["opConfig"])
                for c in configs]
    versions = dict(python=sys.version.split()[0], numpy=np.__version__, opencv=cv2.__version__,
                    pillow=PIL.__version__, skimage=skimage.__version__)
    index = dict(
        generator="tools/make_preprocess_fixtures.py",
        regenerate="/usr/bin/python3 tools/make_preprocess_fixtures.py",
        versions=versions,
        images=img_meta,
        configs=cfg_meta,
        expected=expected,
        fixed_point_check=fixed_point_check,
    )
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    synth = dict(
        note="Images that are not committed; regenerate them exactly from these formulas. "
             "Pixel (c, y, x) of a uint8 [3,H,W] RGB planar image, integer arithmetic, "
             "'>>' arithmetic shift, '&' bitwise and. sha256 is over the C-order [3,H,W] bytes.",
        images=[dict(name=im["name"], width=im["width"], height=im["height"], **im["synthetic"])
                for im in images if not im["committed"]],
    )
    with open(os.path.join(out, "synthetic.json"), "w") as f:
        json.dump(synth, f, indent=1)
        f.write("\n")
    write_readme(out, index)

    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(out) for fn in fns)
    print("images: %d (%d committed), configs: %d, expected files: %d (normalized kept in %d)" % (
        len(images), sum(im["committed"] for im in images), len(configs), len(expected),
        sum(e["normalized"] for e in expected)))
    print("fixed-point check:", fixed_point_check)
    print("total bytes: %d" % total)


EXCLUDED = [
    ("coins, immunohistochemistry", "docstring says only 'No known copyright restrictions' (no licence named)"),
    ("motorcycle_left/right, logo, page, moon, text", "no licence statement in the docstring"),
    ("grass (CC0)", "not used: its upscaled texture compresses badly (size budget)"),
]


def write_readme(out, index):
    v = index["versions"]
    L = []
    A = L.append
    A("# Preprocessing fixtures (vdsp params)")
    A("")
    A("Generated by `tools/make_preprocess_fixtures.py` (do not edit by hand). Regenerate from the")
    A("repository root with:")
    A("")
    A("    " + index["regenerate"])
    A("")
    A("Producers: OpenCV %s (`cv2.resize`, `INTER_LINEAR`), Pillow %s (`Image.resize`, BILINEAR)," % (v["opencv"], v["pillow"]))
    A("numpy %s, scikit-image %s (Debian python3-skimage, sample images), Python %s." % (v["numpy"], v["skimage"], v["python"]))
    A("The TypeScript tests read these files without Python.")
    A("")
    A("## Layout")
    A("")
    A("- `params/*.json`: unchanged copies of the zoo's vdsp params files (original file names).")
    A("- `images/<name>.npz`: key `input_0`, uint8 [3,H,W] RGB planar, C order. Written with")
    A("  `np.savez` (stored, exactly what the zoo's image2npz.py produces) when the raw array is at")
    A("  most %d KB, else `np.savez_compressed` (`npz_compressed` in index.json)." % (STORED_MAX_BYTES // 1024))
    A("- `expected/<image>__<config id>.npz` (`np.savez_compressed`), one per image x distinct config:")
    A("  - `resized`: uint8 [3,RH,RW], the image after the resize (before the crop), channels already")
    A("    in OUTPUT order (after the ColorCvtCode swap); for letterbox the padded OH x OW canvas;")
    A("  - `normalized`: float32 [3,OH,OW], the network input (only where `normalized: true` in")
    A("    index.json, see below);")
    A("  - `resized_pillow` (repvgg config files only): uint8 [3,256,256], Pillow BILINEAR resize of")
    A("    the input to the repvgg ResizeWidth x ResizeHeight (no file uses BILINEAR_PILLOW; this")
    A("    pins down that flavour too).")
    A("- `synthetic.json`: closed-form formulas (+ sha256) of the images that are NOT committed.")
    A("- `index.json`: images, configs (with the file -> config mapping), expected files (keys,")
    A("  shapes, `normalized` flag, letterbox geometry, Pillow-vs-OpenCV difference stats).")
    A("")
    A("## Configs")
    A("")
    A("Configs are deduplicated on (OpType, OpConfig); the 11 RepVGG files are identical.")
    A("")
    A("| id | files | OpType | resize | crop (x,y) -> out | NormaType | ColorCvtCode | ResizeType |")
    A("|---|---|---|---|---|---|---|---|")
    for c in index["configs"]:
        oc = c["opConfig"]
        rs = ("%dx%d" % (oc["ResizeWidth"], oc["ResizeHeight"])) if "ResizeWidth" in oc else "(Oimage size)"
        if "LETTERBOX" in c["opType"]:
            rs = "letterbox"
        crop = ("(%d,%d) -> " % (oc["CropX"], oc["CropY"])) if "CropX" in oc else ""
        A("| `%s` | %s | `%s` | %s | %s%dx%d | %s | %s | %s |" % (
            c["id"], "<br>".join("`%s`" % os.path.basename(f) for f in c["files"]), c["opType"], rs,
            crop, oc["OimageWidth"], oc["OimageHeight"], oc["NormaType"], oc["ColorCvtCode"],
            oc["ResizeType"]))
    A("")
    A("NormaTypes `DIV255` and `DIV1275_MINUSONE` appear in no file here, so no fixture covers them.")
    A("")
    A("## Semantics implemented (reference for the TypeScript code)")
    A("")
    A("Input: uint8 RGB planar [3,H,W] of ANY size (the op is set up for IimageWidth x IimageHeight, but")
    A("whatever comes in is resized). Work in HWC, W x H = input size:")
    A("")
    A("1. Resize. `BILINEAR_CV`: `cv2.resize(hwc, (w, h), interpolation=cv2.INTER_LINEAR)` on uint8;")
    A("   `BILINEAR_PILLOW`: `Image.fromarray(hwc).resize((w, h), Image.BILINEAR)`. When (w, h) equals the")
    A("   input size the image is copied unchanged (both libraries do that anyway).")
    A("   - `..._RESIZE_CVTCOLOR_CROP_NORM_TENSOR`: resize to ResizeWidth x ResizeHeight, then crop")
    A("     rows CropY..CropY+OimageHeight-1, columns CropX..CropX+OimageWidth-1.")
    A("   - `..._RESIZE_CVTCOLOR_NORM_TENSOR` (no crop): resize straight to OimageWidth x OimageHeight")
    A("     (Resize* used only if present and equal to Oimage*; otherwise the script refuses).")
    A("   - `..._LETTERBOX_CVTCOLOR_NORM_TENSOR`: s = min(OW/W, OH/H) in float64;")
    A("     nw = max(1, min(OW, floor(W*s + 0.5))), nh = max(1, min(OH, floor(H*s + 0.5)));")
    A("     cv2 INTER_LINEAR resize to nw x nh; paste into an OW x OH canvas filled with 114 (all")
    A("     channels) at top = (OH-nh)//2, left = (OW-nw)//2. `resized` is that canvas.")
    A("2. ColorCvtCode: `NO_CHANGE` keeps RGB; `BGR2RGB` and `RGB2BGR` both reverse the channel order.")
    A("3. Normalize the (cropped) uint8 values x in float64, Mean/Std indexed by OUTPUT channel (after")
    A("   the swap), then round once to float32: `DIV255_MINUSMEAN_DIVSTD` (x/255 - mean)/std;")
    A("   `MINUSMEAN_DIVSTD` (x - mean)/std; `DIV255` x/255; `EQUAL` x; `DIV1275_MINUSONE` x/127.5 - 1.")
    A("   Computing the same expression in float64 and rounding with `Math.fround` reproduces")
    A("   `normalized` bit for bit; a float32 pipeline needs a tolerance of a few ulp.")
    A("")
    fp = index["fixed_point_check"]
    A("Cross-check: every BILINEAR_CV resize here (%d resizes whose size differs from the input) was" % fp["resizes"])
    A("also computed with the fixed-point description in docs/vdsp-params.md (float32 source")
    A("coordinate from a double scale 1/(dst/src), 11-bit weights rounded to nearest, horizontal")
    A("clamping, vertical row clipping without weight clamping, `((S0>>4)*w0>>16) + ((S1>>4)*w1>>16) + 2 >> 2`);")
    A("mismatching resizes: %d, mismatching values: %d. OpenCV here has no IPP (Debian build)," % (
        fp["mismatching_resizes"], fp["mismatching_pixels"]))
    A("so `cv2.resize` takes its own fixed-point path; at an exact 2x downscale (formula_512x512 ->")
    A("256x256) OpenCV switches INTER_LINEAR to its INTER_AREA fast path, whose `(a+b+c+d+2)>>2` is the")
    A("same number.")
    A("")
    A("Pillow BILINEAR differs from OpenCV (it anti-aliases when shrinking, and rounds differently):")
    A("see `pillow_vs_cv2` per repvgg expected file in index.json, e.g.")
    ex = [e for e in index["expected"] if e["config"] == "repvgg" and e["image"] in
          ("rocket_500x375", "coffee_36x48", "formula_4000x3000")]
    A(", ".join("%s: %.0f%% of values differ, max %d" % (
        e["image"], 100 * e["pillow_vs_cv2"]["differing_fraction"], e["pillow_vs_cv2"]["max_abs_diff"]) for e in ex) + ".")
    A("")
    A("## Images")
    A("")
    A("| name | W x H | committed | source | licence |")
    A("|---|---|---|---|---|")
    for im in index["images"]:
        A("| `%s` | %dx%d | %s | %s | %s |" % (
            im["name"], im["width"], im["height"],
            ("yes" + (" (compressed npz)" if im.get("npz_compressed") else " (stored npz)")) if im["committed"] else "no (formula)",
            im["source"].replace("|", "\\|") + (" (gray, replicated to R=G=B)" if im["gray_replicated"] else ""),
            im["licence"]))
    A("")
    A("Photos: Debian python3-skimage %s sample data (`skimage.data.<name>()`), only images whose" % v["skimage"])
    A("docstring names a licence (CC0 or public domain; the licence column quotes it). Not used:")
    for what, why in EXCLUDED:
        A("- %s: %s." % (what, why))
    A("")
    A("Uncommitted images (regenerate from `synthetic.json`; pixel (c, y, x) of uint8 [3,H,W], c = 0,1,2 = R,G,B):")
    A("")
    for im in index["images"]:
        if not im["committed"]:
            A("- `%s` (%dx%d): `%s`; sha256 of the [3,H,W] bytes `%s`." % (
                im["name"], im["width"], im["height"], im["synthetic"]["formula"], im["synthetic"]["sha256"]))
    A("")
    A("The periods (125/375 for 4000x3000, 64 for 512x512) and the random tiles of `wide_1000x7`,")
    A("`tall_7x1000` (period 125) and `noise_NxN` (period N/32) match the resize sampling period of every")
    A("config, so each output pixel is a non-trivial interpolation of varying values while the expected")
    A("arrays still compress to a few KB.")
    A("")
    A("## Size budget and `normalized`")
    A("")
    n_norm = sum(e["normalized"] for e in index["expected"])
    A("%d expected files; %d keep `normalized` (all configs for %s; plus %s). Every other file has" % (
        len(index["expected"]), n_norm, ", ".join("`%s`" % x for x in sorted(KEEP_NORMALIZED_IMAGES_ALL_CONFIGS)),
        ", ".join("`%s` x `%s`" % p for p in sorted(KEEP_NORMALIZED_PAIRS))))
    A("`resized` only: `normalized` is the per-channel affine map above applied to the crop of")
    A("`resized`, so tests recompute it; storing float32 for every pair would not fit the 8 MB budget.")
    A("Real photos are mostly small crops for the same reason: whatever its size, each image costs")
    A("3 x (3 x 256^2 + 288^2 + 224^2 + 512^2) = 2.7 MB of uint8 outputs over the five configs plus")
    A("`resized_pillow` before compression, and photo content compresses poorly; three photos")
    A("(rocket 500x375, retina 711x397, cell 300x451) cover realistic downscaling, the rest upscaling.")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
