#!/usr/bin/env python3
"""The same MLP as `mlp_gpu_check` (2 × 256 ReLU, Adam lr 1e-3, batch 1024, softmax over 2
classes) trained in PyTorch on the same device and table shape; prints samples/s as one JSON line.

Usage: gpu_check.py ROWS COLS EPOCHS [DEVICE]
"""
import json
import sys
import time

import torch


def main():
    n, p, epochs = (int(a) for a in sys.argv[1:4])
    device = sys.argv[4] if len(sys.argv) > 4 else ("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(42)
    x = torch.rand(n, p, generator=g) * 2 - 1
    y = ((x[:, 0] * x[:, 1] + torch.sin(x[:, 2])) > 0).long()
    # Standardised once, as MicroLearn standardises before training.
    x = (x - x.mean(0)) / x.std(0)
    x, y = x.to(device), y.to(device)
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(p, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 2)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
    loss_fn = torch.nn.CrossEntropyLoss()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for s in range(0, n, 1024):
            idx = order[s:s + 1024]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    secs = time.perf_counter() - t
    with torch.no_grad():
        acc = (net(x).argmax(1) == y).float().mean().item()
    print(json.dumps({"backend": f"pytorch ({device})", "rows": n, "cols": p, "epochs": epochs,
                      "fit_s": secs, "samples_per_s": n * epochs / secs, "train_accuracy": acc}))


if __name__ == "__main__":
    main()
