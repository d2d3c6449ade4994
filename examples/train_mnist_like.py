"""A plain PyTorch training script: a small CNN on synthetic MNIST-like digits (28x28, 10 classes).

Nothing here knows about smdbg. ``examples/estimator_pytorch.py`` runs it as a training job with
a debugger rule, and the job instruments it with ``smdbg run`` (zero code change). It also runs on
its own, or under the launcher by hand::

    python examples/train_mnist_like.py --epochs 2
    smdbg run --out /tmp/mnist-trial examples/train_mnist_like.py --epochs 2

The data is generated (10 fixed prototype digits plus noise), so no download is needed. It follows
the SageMaker training contract where it is set: the model goes to ``$SM_MODEL_DIR``.
"""

import argparse
import os

import torch
from torch import nn


def synthetic_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noisy 1x28x28 images of 10 fixed random prototypes, and their labels."""
    protos = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = protos[labels] + 0.3 * torch.randn(n, 1, 28, 28, generator=g)
    return images, labels


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 14 * 14, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "."))
    args = p.parse_args()

    torch.manual_seed(0)
    x, y = synthetic_digits(args.samples, seed=1)
    x_val, y_val = synthetic_digits(256, seed=2)
    model = build_model()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(args.samples)
        total = 0.0
        for i in range(0, args.samples, args.batch_size):
            idx = order[i : i + args.batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        print(f"epoch={epoch} train_loss={total / args.samples:.5f} val_accuracy={accuracy:.4f}", flush=True)
    torch.save(model.state_dict(), os.path.join(args.model_dir, "model.pt"))


if __name__ == "__main__":
    main()
