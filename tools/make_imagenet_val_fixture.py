#!/usr/bin/env python3
"""A tiny ImageNet validation set in the zoo's valprep.sh layout: val/<wnid>/<name>.JPEG.

Writes test/fixtures/imagenet_val/<wnid>/*.JPEG from the sample photos in test/fixtures/photos, shrunk to
160 pixels wide (JPEG quality 85) to keep the fixture small. The class of each photo is its ImageNet
synset (index in eval/imagenet_synsets.txt): chelsea (a tabby cat) twice, once mirrored, coffee (a coffee
mug), rocket (a missile). Needs cv2 (only to regenerate; `npm test` does not).

    /usr/bin/python3 tools/make_imagenet_val_fixture.py
"""
import os

import cv2

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PHOTOS = os.path.join(REPO, "test", "fixtures", "photos")
OUT = os.path.join(REPO, "test", "fixtures", "imagenet_val")
WIDTH = 160

# (photo, wnid, output name, mirrored)
SET = [
    ("chelsea.jpg", "n02123045", "chelsea.JPEG", False),
    ("chelsea.jpg", "n02123045", "chelsea_mirrored.JPEG", True),
    ("coffee.jpg", "n03063599", "coffee.JPEG", False),
    ("rocket.jpg", "n03773504", "rocket.JPEG", False),
]

for photo, wnid, name, mirrored in SET:
    img = cv2.imread(os.path.join(PHOTOS, photo))
    h, w = img.shape[:2]
    img = cv2.resize(img, (WIDTH, round(h * WIDTH / w)), interpolation=cv2.INTER_AREA)
    if mirrored:
        img = cv2.flip(img, 1)
    os.makedirs(os.path.join(OUT, wnid), exist_ok=True)
    assert cv2.imwrite(os.path.join(OUT, wnid, name), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(wnid, name, img.shape)
