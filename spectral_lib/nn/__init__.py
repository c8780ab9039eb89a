"""Networks: the activations (SP(beta), the Gaussian-smoothed ReLU, swapping them into any model) and the paper's
architectures (the simple CNN, the SK/BN CNN, an MLP, torchvision's ResNets and ViT-B/16, built by :func:`build_model`),
and how they run faster without computing anything else (pooling before a monotone activation, the memory
layout: :mod:`.layout`).

May import only the package's root infrastructure (``checks``)."""
from .activations import (ACTIVATION_TYPES, SP, GaussianReLU, activation_beta, activation_family, activation_name,
                          beta_to_sigma, gaussian_spec, make_activation, sigma_to_beta, swap_activations)
from .layout import fast_execution, fast_layout, in_layout, pooling_first
from .models import MLP, MODEL_NAMES, SimpleCNN, SkipBNCNN, build_model, permute_mlp_inputs

__all__ = ["SP", "GaussianReLU", "beta_to_sigma", "sigma_to_beta", "make_activation", "swap_activations",
           "activation_name", "activation_beta", "activation_family", "gaussian_spec", "ACTIVATION_TYPES",
           "fast_layout", "in_layout", "pooling_first", "fast_execution", "SimpleCNN", "SkipBNCNN", "MLP",
           "permute_mlp_inputs", "build_model", "MODEL_NAMES"]
