"""Frozen-feature evaluation. For now: feature extraction and the weighted kNN monitor."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def features(encoder: nn.Module, images: Tensor, batch_size: int = 512) -> Tensor:
    """Frozen features ``(N, D)`` of images (uint8 or float in [-1, 1]), batch-norm in eval mode."""
    was_training = encoder.training
    encoder.eval()
    dev = next(encoder.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        x = x.float().div(127.5).sub(1.0) if x.dtype == torch.uint8 else x
        out.append(encoder(x.to(dev)).cpu())
    encoder.train(was_training)
    return torch.cat(out)


def knn_accuracy(train_feats: Tensor, train_labels: Tensor, test_feats: Tensor, test_labels: Tensor,
                 k: int = 200, temperature: float = 0.1, n_classes: int | None = None,
                 chunk: int = 1000) -> float:
    """Weighted kNN top-1 (Wu et al. 2018): cosine similarity, the k nearest training features
    vote for their class with weight exp(s / temperature)."""
    n_classes = n_classes or int(train_labels.max()) + 1
    tr = F.normalize(train_feats, dim=1)
    correct = 0
    for i in range(0, len(test_feats), chunk):
        te = F.normalize(test_feats[i:i + chunk], dim=1)
        sim, idx = (te @ tr.t()).topk(min(k, len(tr)), dim=1)  # (n, k)
        votes = torch.zeros(len(te), n_classes).scatter_add_(1, train_labels[idx], (sim / temperature).exp())
        correct += (votes.argmax(1) == test_labels[i:i + chunk]).sum().item()
    return correct / len(test_feats)
