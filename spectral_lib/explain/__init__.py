"""Explanations: the attribution methods, one signature for all, in five modules.

* :mod:`.core`: what every method shares (eval mode for the call, target checks, the predicted class, the exact
  per-sample gradient of the target's log-softmax, hook registration);
* :mod:`.methods`: our methods; :mod:`.authors`: the authors' captum calls and :data:`PAPER_ROWS`;
* :mod:`.posthoc`: post-hoc transforms of the gradient (BetaSmooth, FORGrad-style low-pass);
* :mod:`.registry`: :data:`METHODS`, :func:`explain` and method specs (``"lowpass_grad:0.25"``).

May import the root infrastructure, :mod:`spectral_lib.nn` and :mod:`spectral_lib.spectral`.

Every method is ``method(model, x, target=None, **options) -> attribution`` with ``x`` of shape (N, C, H, W) (or any
(N, ...) input) and an attribution of the input's shape. ``target=None`` means the class the model predicts on the
clean input. The model is put in eval mode for the call (so that per-sample gradients are exact under batch norm) and
restored afterwards; computation happens on ``x``'s device.

Two families live side by side.

**Our methods** explain the *log-softmax of the target class* (logits minus their logsumexp):

* ``vanilla_grad``, ``smooth_grad``, ``integrated_gradients`` (midpoint rule), ``grad_cam`` (plain Grad-CAM at the
  last ``nn.Conv2d``, bilinear upsampling), ``guided_backprop``, ``guided_grad_cam``: implemented here in plain torch
  (batched; cross-checked against captum in the tests).
* ``deeplift``: captum's ``DeepLift`` (rescale rule, zero baseline) on ``LogSoftmax(model)``. captum handles
  ``nn.Softplus`` (hence SP) and ``nn.ReLU`` with the rescale rule; other activation modules (GaussianReLU, GELU)
  fall back to their plain gradient.
* ``guided_backprop(rule="generalised")`` (the default) generalises Guided Backprop to smooth activations: through
  every activation module the backward signal is ``sigma'(x) * relu(grad_out)`` (captum's rule clamps the module's
  input gradient at zero, which is the same for any increasing activation; for ReLU it is exactly Springenberg et
  al.'s rule). ``rule="captum"`` guides only ``nn.ReLU`` modules (``isinstance``, as captum does), so on an SP
  network it is the plain gradient. ``guided_grad_cam`` takes the same ``rule``.

**The paper's protocol** (``captum_*``): the authors' code (captum 0.9) explains the *logits*, no log-softmax,
target = the class predicted on the clean image, with these exact calls, reproduced by:

* ``captum_integrated_gradients``: ``IntegratedGradients(model).attribute(x, target=t, baselines=zeros)``
  (captum's defaults: 50 steps, Gauss-Legendre).
* ``captum_deeplift``: ``DeepLift(model).attribute(x, target=t)`` (zero baseline).
* ``captum_guided_backprop``: ``GuidedBackprop(model).attribute(x, target=t)``.
* ``captum_guided_grad_cam``: ``GuidedGradCam(model, layer).attribute(x, target=t)`` with captum's default nearest
  upsampling and the authors' layer (:func:`authors_cam_layer`): the last ``nn.MaxPool2d`` of the simple CNN
  (``model.features[-1]``), ``layer4[1].conv2`` of ResNet-18/34, ``layer4[2].conv3`` of ResNet-50,
  ``conv_proj`` of ViT-B/16. This is what the paper's tables call "GradCAM".

:data:`PAPER_ROWS` maps each row of the paper's tables to the method that reproduces it. VanillaGrad and SmoothGrad
are on the log-softmax of the predicted class in the authors' code too, so they are our ``vanilla_grad`` and
``smooth_grad``.

Two captum details matter for SP networks. (1) captum's DeepLift picks its rules by exact type
(``type(m) in SUPPORTED_NON_LINEAR``), so SP, a subclass of ``nn.Softplus``, would silently get the plain gradient;
we register SP with the rule captum uses for ``nn.Softplus`` (both ``deeplift`` and ``captum_deeplift``), so an SP
network gives what the authors' ``nn.Softplus`` network gives. (2) captum's GuidedBackprop (and so GuidedGradCam)
hooks only ``nn.ReLU`` modules (by ``isinstance``; SP is not one, nor is the authors' ``nn.Softplus``). On an SP
network the paper's "GuidedBP" is therefore exactly the plain gradient of the logit, and its "GradCAM" row is that
gradient times the upsampled CAM. The paper's observation that SP removes the gap between Guided Backprop and the
gradient rests on this: the gap is zero by construction, not a property of the SP network. Our default
``guided_backprop`` keeps guiding through SP and does not have this artefact.
"""
from .authors import (PAPER_ROWS, authors_cam_layer, captum_deeplift, captum_guided_backprop, captum_guided_grad_cam,
                      captum_integrated_gradients)
from .core import predict
from .methods import (GUIDED_RULES, deeplift, grad_cam, guided_backprop, guided_grad_cam, integrated_gradients,
                      smooth_grad, vanilla_grad)
from .posthoc import beta_smooth_grad, lowpass_grad
from .registry import METHOD_PARAMETERS, METHODS, explain, method_family, method_label, parse_method_spec

__all__ = ["vanilla_grad", "smooth_grad", "integrated_gradients", "grad_cam", "guided_backprop", "guided_grad_cam",
           "deeplift", "beta_smooth_grad", "lowpass_grad", "authors_cam_layer", "captum_guided_grad_cam",
           "captum_integrated_gradients", "captum_deeplift", "captum_guided_backprop", "PAPER_ROWS", "GUIDED_RULES",
           "predict", "METHODS", "explain", "METHOD_PARAMETERS", "parse_method_spec", "method_family", "method_label"]
