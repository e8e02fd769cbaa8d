#!/usr/bin/env python3
"""OpenCV's time for the host-resize benchmark (bench:preprocess): cv2.resize(INTER_LINEAR) with one thread
on the committed photo fixture test/fixtures/preprocess/images/retina_711x397.npz (uint8 RGB) to 256x256, in
OpenCV's own layout (H, W, 3 interleaved). Writes bench/opencv_resize_timing.json with the CPU it ran on;
with --print it prints the same JSON instead (bench:preprocess runs it live when cv2 is importable).

    /usr/bin/python3 tools/time_opencv_resize.py [--print]      # Debian: apt-get install python3-opencv
"""
import json
import os
import platform
import sys
import time

import numpy as np
import cv2

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
IMAGE = os.path.join("test", "fixtures", "preprocess", "images", "retina_711x397.npz")
OUT = os.path.join(REPO, "bench", "opencv_resize_timing.json")
SIZE = (256, 256)  # (width, height)
WARMUP = 50
CALLS = 500


def cpu():
    model, flags = platform.processor() or "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", "unknown", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    break
    except OSError:
        pass
    wanted = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "neon", "asimd"]
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags]}


def main():
    cv2.setNumThreads(1)
    planar = np.load(os.path.join(REPO, IMAGE))["input_0"]
    img = np.ascontiguousarray(planar.transpose(1, 2, 0))
    for _ in range(WARMUP):
        cv2.resize(img, SIZE, interpolation=cv2.INTER_LINEAR)
    times = []
    for _ in range(CALLS):
        t = time.perf_counter()
        cv2.resize(img, SIZE, interpolation=cv2.INTER_LINEAR)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    result = {
        "what": "cv2.resize(INTER_LINEAR), 1 thread, %dx%d RGB -> %dx%d, HWC uint8" % (img.shape[1], img.shape[0], SIZE[0], SIZE[1]),
        "image": IMAGE,
        "calls": CALLS,
        "ms": {"min": round(times[0], 4), "median": round(times[len(times) // 2], 4), "mean": round(sum(times) / len(times), 4)},
        "opencv": cv2.__version__,
        "opencv_cpu_features": cv2.getCPUFeaturesLine(),
        "cpu": cpu(),
        "load_1min": round(os.getloadavg()[0], 2),
    }
    text = json.dumps(result, indent=2) + "\n"
    if "--print" in sys.argv:
        sys.stdout.write(text)
    else:
        with open(OUT, "w") as f:
            f.write(text)
        print("wrote", os.path.relpath(OUT, REPO))


if __name__ == "__main__":
    main()
