#!/usr/bin/env python3
"""Train the iris-c model and write models/iris/weights.bin.

Multinomial logistic regression (softmax, 4 features -> 3 classes) fitted by
plain full-batch gradient descent on the 150 rows of train/iris.csv (Fisher's
Iris data; rows 35 and 38 as Fisher published them, like R's `iris` and
scikit-learn, not the two typos of the UCI copy).  Standard library only.

The features are standardised while training, for fast, stable convergence,
and the scaling is then folded into W and b, so the server applies the model
to raw centimetres: logits = W x + b.

Deterministic: zero initialisation, a fixed number of full-batch steps, no
randomness, float64 until the final rounding to float32; rerunning it gives
the same weights.bin bytes (the committed file is its output).

weights.bin layout (little-endian):
    8 bytes   magic "IRISW001"
    uint32    n_features (4)
    uint32    n_classes (3)
    float32   W[n_classes][n_features]
    float32   b[n_classes]

Usage: python3 train/train.py [--csv train/iris.csv] [--out models/iris/weights.bin]
"""
import argparse
import csv
import math
import os
import struct
import sys

CLASSES = ("setosa", "versicolor", "virginica")
N_FEATURES = 4
STEPS = 3000
LEARNING_RATE = 0.5
L2 = 1e-4


def load(path):
    xs, ys = [], []
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        if len(header) != N_FEATURES + 1:
            sys.exit(f"{path}: expected {N_FEATURES + 1} columns, got {len(header)}")
        for lineno, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != N_FEATURES + 1 or row[-1] not in CLASSES:
                sys.exit(f"{path}:{lineno}: bad row {row!r}")
            xs.append([float(v) for v in row[:N_FEATURES]])
            ys.append(CLASSES.index(row[-1]))
    return xs, ys


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def train(xs, ys):
    n, k = len(xs), len(CLASSES)
    mean = [sum(x[j] for x in xs) / n for j in range(N_FEATURES)]
    std = [math.sqrt(sum((x[j] - mean[j]) ** 2 for x in xs) / n) for j in range(N_FEATURES)]
    zs = [[(x[j] - mean[j]) / std[j] for j in range(N_FEATURES)] for x in xs]

    w = [[0.0] * N_FEATURES for _ in range(k)]
    b = [0.0] * k
    for _ in range(STEPS):
        gw = [[0.0] * N_FEATURES for _ in range(k)]
        gb = [0.0] * k
        for z, y in zip(zs, ys):
            p = softmax([sum(w[c][j] * z[j] for j in range(N_FEATURES)) + b[c] for c in range(k)])
            for c in range(k):
                d = p[c] - (1.0 if c == y else 0.0)
                gb[c] += d
                for j in range(N_FEATURES):
                    gw[c][j] += d * z[j]
        for c in range(k):
            b[c] -= LEARNING_RATE * gb[c] / n
            for j in range(N_FEATURES):
                w[c][j] -= LEARNING_RATE * (gw[c][j] / n + L2 * w[c][j])

    # Fold the standardisation in: w.(x - mean)/std + b = (w/std).x + (b - sum w*mean/std).
    raw_w = [[w[c][j] / std[j] for j in range(N_FEATURES)] for c in range(k)]
    raw_b = [b[c] - sum(w[c][j] * mean[j] / std[j] for j in range(N_FEATURES)) for c in range(k)]
    return raw_w, raw_b


def to_f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def predict(w, b, x):
    # The server computes in float32 weights; evaluate exactly what it will see.
    return max(range(len(b)), key=lambda c: sum(to_f32(w[c][j]) * x[j] for j in range(N_FEATURES)) + to_f32(b[c]))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="train the iris-c logistic-regression model")
    ap.add_argument("--csv", default=os.path.join(here, "iris.csv"))
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "models", "iris", "weights.bin")))
    args = ap.parse_args()

    xs, ys = load(args.csv)
    counts = [ys.count(c) for c in range(len(CLASSES))]
    if len(xs) != 150 or counts != [50, 50, 50]:
        sys.exit(f"{args.csv}: expected 150 rows, 50 per class; got {len(xs)} rows, {counts}")
    w, b = train(xs, ys)
    correct = sum(predict(w, b, x) == y for x, y in zip(xs, ys))

    blob = b"IRISW001" + struct.pack("<II", N_FEATURES, len(CLASSES))
    blob += struct.pack("<%df" % (len(CLASSES) * N_FEATURES), *[v for row in w for v in row])
    blob += struct.pack("<%df" % len(CLASSES), *b)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, args.out)
    print(f"training accuracy: {correct}/{len(xs)} = {correct / len(xs):.4f}")
    print(f"wrote {args.out} ({len(blob)} bytes)")


if __name__ == "__main__":
    main()
