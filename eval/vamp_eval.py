#!/usr/bin/env python3
"""Top-1 / top-k accuracy of `rebake run` (or vamp) outputs, numpy only.

The twin of `rebake eval` (runtime/eval.ts): same arguments, same pairing of outputs with the datalist, same
ground truth rules, same tie order, and it prints the same lines.

  python3 eval/vamp_eval.py --result_path output --datalist npz_datalist.txt --label eval/imagenet.txt \
      [--gt gt.txt] [--synsets synsets.txt] [--topk 5] [--decode result.txt]

Pairing: when every output file is named like rebake's `<index>_<input name>.npz`, by name; otherwise the
zoo's way, sorted output names zipped with the datalist lines.
Ground truth: `--gt` lines `<npz path> <class id>`, else the parent folder of each datalist entry: a class
id, or an ImageNet synset looked up in `--synsets` (one wnid per line, class order), in the label file
when its lines start with the wnid, or in imagenet_synsets.txt beside this script when its class names are
the label file's (so `--label eval/imagenet.txt` scores a val/<wnid>/ folder). With `--decode` and no
ground truth for any entry: only the decoded top-k, no accuracy.
`--decode` writes the zoo's result format: 5 lines per image,
  `<input path>: Relay top-<k> id: <class id>, prob: <score %.8f>, class name: <label line>`.
"""
import argparse
import os
import re
import sys
import zipfile

import numpy as np

WNID = re.compile(r"^n\d{8}$")


def fail(where, msg):
    sys.stderr.write("rebake: %s: %s\n" % (where, msg))
    sys.exit(2)


def text_lines(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        fail(path, "%s (expected %s)" % ("no such file" if isinstance(e, FileNotFoundError) else e, what))
    if lines and lines[-1] == "":
        lines.pop()
    return [l.strip() for l in lines]


def read_datalist(path):
    entries = [l for l in text_lines(path, "a datalist: one .npz path per line") if l != ""]
    if not entries:
        fail(path, "the datalist is empty (expected one .npz path per line)")
    return entries


def output_name(index, total, entry):
    width = len(str(max(total - 1, 0)))
    base = re.sub(r"\.npz$", "", os.path.basename(entry), flags=re.IGNORECASE)
    return "%s_%s.npz" % (str(index).zfill(width), base)


def pair_outputs(result_path, entries):
    if not os.path.isdir(result_path):
        fail(result_path, "no such folder (expected the --path_output of rebake run)")
    files = sorted(f for f in os.listdir(result_path) if f.endswith(".npz") and not f.startswith("."))
    by_name = {output_name(i, len(entries), e): i for i, e in enumerate(entries)}
    if files and all(f in by_name for f in files):
        pairs = sorted((by_name[f], os.path.join(result_path, f)) for f in files)
        return pairs, "by name"
    if len(files) != len(entries):
        fail(result_path, "%d output files for %d datalist entries, and their names are not rebake's "
             "<index>_<name>.npz: cannot pair them" % (len(files), len(entries)))
    return [(i, os.path.join(result_path, f)) for i, f in enumerate(files)], "by sorted order"


def first_word(line):
    return line.split()[0] if line.split() else ""


def synset_list(args, labels):
    """--synsets; else the label file when its lines start with the wnid; else the imagenet_synsets.txt
    beside this script when its class names are the label file's, line for line."""
    if args.synsets:
        return text_lines(args.synsets, "a synset list: one ImageNet wnid per line, in class order")
    if all(WNID.match(first_word(l)) for l in labels):
        return labels
    shipped = text_lines(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_synsets.txt"),
                         "the shipped ImageNet synset list")
    if len(shipped) == len(labels) and all(l[len(first_word(l)):].strip() == n for l, n in zip(shipped, labels)):
        return shipped
    return None


def ground_truth(entries, args, labels):
    """Class id per entry; None when no entry has one and only --decode was asked for (no accuracy)."""
    if args.gt:
        table = {}
        for n, line in enumerate(text_lines(args.gt, 'a ground truth list: "<npz path> <class id>" per line')):
            if not line:
                continue
            m = re.match(r"^(.*\S)\s+(\d+)$", line)
            if not m:
                fail("%s:%d" % (args.gt, n + 1), 'expected "<npz path> <class id>", got "%s"' % line)
            table[os.path.abspath(m.group(1))] = int(m.group(2))
        gt = []
        for e in entries:
            if os.path.abspath(e) not in table:
                fail(args.gt, "no ground truth for %s" % e)
            gt.append(table[os.path.abspath(e)])
        return gt
    synset_lines = synset_list(args, labels)
    synset_ids = {}
    for i, l in enumerate(synset_lines or []):
        synset_ids.setdefault(first_word(l), i)
    folder_of = lambda e: os.path.basename(os.path.dirname(e))
    class_of = lambda f: int(f) if re.match(r"^\d+$", f) else synset_ids.get(f)
    gt = [class_of(folder_of(e)) for e in entries]
    if args.decode and all(c is None for c in gt):
        return None
    if None in gt:
        e = entries[gt.index(None)]
        folder = folder_of(e)
        why = ("a synset, but no synset list was given (--synsets)" if WNID.match(folder) and synset_lines is None
               else "neither a class id nor a synset of the synset list")
        fail(args.datalist, 'cannot tell the class of %s: its folder "%s" is %s; or give --gt '
             '(or --decode alone for predictions without accuracy)' % (e, folder, why))
    return gt


def broken_npz(path):
    """Why numpy could not read `path`, in rebake eval's words (core/npz.ts), never a traceback."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "cannot read the file"
    if not data:
        return "empty file (expected an npz: a zip of .npy arrays)"
    if data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF)) < 0:
        if data[:4] == b"PK\x03\x04":
            return "truncated npz: the zip's central directory is missing (file cut short at %d bytes?)" % len(data)
        return "not an npz file (not a zip archive)"
    return "corrupt npz: a member or its directory record does not read back"


def scores_of(path):
    try:
        with np.load(path) as z:
            if "output_0" not in z.files:
                fail(path, 'no array "output_0" (expected a rebake run / vamp output)')
            a = z["output_0"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        fail(path, broken_npz(path))
    if a.dtype.kind != "f":
        fail(path, "output_0 is %s; expected float scores" % a.dtype)
    return np.squeeze(a).astype(np.float32).ravel()


def top_k(scores, k):
    # Higher score first, ties by lower class id: the same order as rebake eval.
    return [int(i) for i in np.argsort(-scores, kind="stable")[: min(k, scores.size)]]


def main():
    p = argparse.ArgumentParser(description="top-1 / top-k accuracy of rebake run outputs (numpy only)")
    p.add_argument("--result_path", required=True, help="the --path_output folder of rebake run / vamp")
    p.add_argument("--datalist", required=True, help="the datalist the run used")
    p.add_argument("--label", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet.txt"),
                   help="class names, one per line (line index = class id); default: the ImageNet list beside this script")
    p.add_argument("--gt", help='ground truth: "<npz path> <class id>" per line')
    p.add_argument("--synsets", help="ImageNet wnids, one per line in class order (folder-name ground truth)")
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--decode", help="also write the zoo's result.txt format here")
    args = p.parse_args()
    if args.topk < 1:
        fail("command line", "--topk must be an integer >= 1")

    entries = read_datalist(args.datalist)
    labels = text_lines(args.label, "a label list: one class name per line, line index = class id")
    gt = ground_truth(entries, args, labels)
    pairs, pairing = pair_outputs(args.result_path, entries)
    top1 = topk = 0
    k = args.topk
    decoded = []
    for i, path in pairs:
        scores = scores_of(path)
        ids = top_k(scores, args.topk)
        k = min(k, len(ids))
        if gt is not None:
            top1 += ids[0] == gt[i]
            topk += gt[i] in ids
        for r, cid in enumerate(ids):
            name = labels[cid] if cid < len(labels) else str(cid)
            decoded.append("%s: Relay top-%d id: %d, prob: %.8f, class name: %s\n" % (entries[i], r, cid, float(scores[cid]), name))
    if args.decode:
        tmp = args.decode + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(decoded))
        os.replace(tmp, args.decode)

    n = len(pairs)
    if gt is None:
        print("decoded %d of %d datalist entries (outputs paired %s): top-%d per image in %s" % (n, len(entries), pairing, k, args.decode))
        print("no ground truth (folders are neither class ids nor synsets, no --gt): no accuracy")
        return
    pct = (lambda c: "%.3f" % (100.0 * c / n)) if n else (lambda c: "nan")
    print("evaluated %d of %d datalist entries (outputs paired %s)" % (n, len(entries), pairing))
    print("top-1: %s%% (%d/%d)" % (pct(top1), top1, n))
    print("top-%d: %s%% (%d/%d)" % (k, pct(topk), topk, n))


if __name__ == "__main__":
    main()
