#!/usr/bin/env python3
"""Reference decodes of test/fixtures/photos/*.jpg by OpenCV (the zoo's image2npz: imread + BGR2RGB + HWC->CHW).

Writes test/fixtures/photos/opencv.json: per photo the CHW uint8 shape and the sha256 of its bytes, which the
image2npz test compares with sharp's decode. Needs cv2 (only to regenerate; `npm test` does not).
"""
import hashlib
import json
import os

import cv2
import numpy as np

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "photos")
out = {}
for name in sorted(f for f in os.listdir(here) if f.endswith(".jpg")):
    img = cv2.cvtColor(cv2.imread(os.path.join(here, name)), cv2.COLOR_BGR2RGB)
    chw = np.ascontiguousarray(img.transpose(2, 0, 1))
    out[name] = {"shape": list(chw.shape), "sha256": hashlib.sha256(chw.tobytes()).hexdigest(), "opencv": cv2.__version__}
with open(os.path.join(here, "opencv.json"), "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
print(json.dumps(out, indent=2))
