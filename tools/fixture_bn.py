"""Shared by the fixture exporters: BatchNorm parameters that make a wrong fold show."""
import numpy as np
import torch


def perturb_bn(m, rng):
    """After calibrating running statistics: shift the mean by U(-0.3,0.3)*std, scale the variance by
    U(0.5,2), gamma = +-U(0.5,1.5) (about 15% negative), beta = U(-0.3,0.3)."""
    n = m.num_features
    var = m.running_var.double().numpy()
    sign = np.where(rng.rand(n) < 0.15, -1.0, 1.0)
    m.weight.copy_(torch.from_numpy((sign * rng.uniform(0.5, 1.5, n)).astype(np.float32)))
    m.bias.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, n).astype(np.float32)))
    m.running_mean.add_(torch.from_numpy((rng.uniform(-0.3, 0.3, n) * np.sqrt(var)).astype(np.float32)))
    m.running_var.copy_(torch.from_numpy((var * rng.uniform(0.5, 2.0, n)).astype(np.float32)))
