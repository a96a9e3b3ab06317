"""Conditional instance normalisation++ (Song & Ermon 2019, appendix B.1) as one function.

    out = gamma * (x_hat + alpha * m_hat) + beta

with x_hat the instance-normalised input (per sample and channel, biased variance) and m_hat the
channel means of the sample standardised across channels (unbiased variance).  The same formula,
computed with less traffic over the image-sized tensors:

- statistics in two passes, a mean and then the mean square of d = x - mean (exact two-pass variance;
  PyTorch's Welford `var_mean` is several times slower over the spatial dimensions on the CPU);
- every per-(sample, channel) factor folds into one scale and one bias: out = d * scale + bias,
  one fused multiply-add;
- when gradients are needed, a hand-written backward pass for the image-sized part (the gradient
  of the per-channel factors comes from autograd on [N, C] tensors): three reductions and two fused
  passes instead of the dozen autograd would take.  Under torch.func transforms (jvp, vmap, ...) and
  torch.compile the plain differentiable form is used.

On float32 channels_last tensors on the CPU, the native kernels of ncsn.models.native compute the function
(and the ELU that follows it in most of the reference network's layers, `elu=True`) in one read of each
sample, and with autograd its backward pass in two (`_NativeCondInstanceNormPlus`); the forms above run
elsewhere and under `ncsn.models.forms.plain_forms()`.

`cond_instance_norm_plus_reference` is the formula written out, one operation per term (for tests).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ncsn.models import activations, native
from ncsn.models.forms import needs_grad, plain, under_transform

EPS = 1e-5


def _factors(
    mean: Tensor, var: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float
) -> tuple[Tensor, Tensor]:
    """[N, C] scale and bias with out = (x - mean) * scale + bias."""
    means_var, means_mean = torch.var_mean(mean, dim=1, keepdim=True)  # unbiased, like Tensor.var
    standardised_means = (mean - means_mean) * torch.rsqrt(means_var + eps)
    return gamma * torch.rsqrt(var + eps), torch.addcmul(beta, gamma * alpha, standardised_means)


def _centre(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(mean [N, C], biased variance [N, C], x - mean)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    centred = x - mean
    # centred * centred: on channels-last tensors 30% faster than square() (torch 2.14, CPU)
    return mean.flatten(1), (centred * centred).mean(dim=(2, 3)), centred


def _plain(x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float) -> Tensor:
    mean, var, centred = _centre(x)
    scale, bias = _factors(mean, var, gamma, alpha, beta, eps)
    return torch.addcmul(bias[:, :, None, None], centred, scale[:, :, None, None])


class _CondInstanceNormPlus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float) -> Tensor:
        mean, var, centred = _centre(x)
        with torch.enable_grad():  # a small graph over [N, C], differentiated in backward
            leaves = [t.detach().requires_grad_() for t in (mean, var, gamma, alpha, beta)]
            scale, bias = _factors(*leaves, eps)
        ctx.save_for_backward(centred)
        ctx.small = (leaves, scale, bias)
        return torch.addcmul(bias.detach()[:, :, None, None], centred, scale.detach()[:, :, None, None])

    @staticmethod
    def backward(ctx, grad: Tensor):
        (centred,) = ctx.saved_tensors
        leaves, scale, bias = ctx.small
        grad_bias = grad.sum(dim=(2, 3))
        grad_scale = (grad * centred).sum(dim=(2, 3))
        grad_mean, grad_var, *grad_affine = torch.autograd.grad((scale, bias), leaves, (grad_scale, grad_bias))
        # d/dx of d * scale + bias with d = x - mean(x), var = mean(d^2), through every path, using
        # mean(d) = 0:  grad * scale + d * (2 grad_var / HW) + (grad_mean - scale * grad_bias) / HW
        hw = centred.shape[2] * centred.shape[3]
        scale = scale.detach()
        per_channel = (grad_mean - scale * grad_bias) / hw
        grad_x = torch.addcmul(per_channel[:, :, None, None], centred, (grad_var * (2.0 / hw))[:, :, None, None])
        grad_x.addcmul_(grad, scale[:, :, None, None])
        return (grad_x, *grad_affine, None)


class _NativeCondInstanceNormPlus(torch.autograd.Function):
    """The function (and ELU) with autograd, both passes native (ncsn.models.native): forward one read of
    x per sample, backward two reads of x and the gradient (the second from cache)."""

    @staticmethod
    def forward(ctx, x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float, elu: bool) -> Tensor:
        out, stats = native.cond_instance_norm_plus_with_statistics(x, gamma, alpha, beta, eps, elu)
        ctx.save_for_backward(x, gamma, alpha, beta, stats)
        ctx.eps, ctx.elu = eps, elu
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        x, gamma, alpha, beta, stats = ctx.saved_tensors
        grads = native.cond_instance_norm_plus_backward(grad, x, gamma, alpha, beta, ctx.eps, ctx.elu, stats)
        return (*grads, None, None)


def cond_instance_norm_plus(
    x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float = EPS, elu: bool = False
) -> Tensor:
    """x: [N, C, H, W] (any memory format); gamma, alpha, beta: [N, C]; with `elu`, F.elu of the result.
    The native kernels where they take the call (float32, channels_last, CPU; with autograd, both passes),
    else this module's forms (under `ncsn.models.forms.plain_forms()` too, and under torch.func transforms
    and torch.compile the plain differentiable form)."""
    fast = not (plain() or under_transform())
    if fast and native.available() and native.accepts_cond_instance_norm_plus(x, gamma, alpha, beta):
        if needs_grad(x, gamma, alpha, beta):
            return _NativeCondInstanceNormPlus.apply(x, gamma, alpha, beta, eps, elu)
        return native.cond_instance_norm_plus(x, gamma, alpha, beta, eps, elu)
    if needs_grad(x, gamma, alpha, beta) and not under_transform():
        out = _CondInstanceNormPlus.apply(x, gamma, alpha, beta, eps)
    else:
        out = _plain(x, gamma, alpha, beta, eps)
    return activations.elu(out, inplace=True) if elu else out  # out is fresh


def cond_instance_norm_plus_reference(
    x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float = EPS
) -> Tensor:
    """The formula as written in the paper, one operation per term."""
    means = x.mean(dim=(2, 3))
    standardised_means = (means - means.mean(-1, keepdim=True)) / torch.sqrt(means.var(-1, keepdim=True) + eps)
    h = F.instance_norm(x, eps=eps)
    return (
        gamma[..., None, None] * (h + alpha[..., None, None] * standardised_means[..., None, None])
        + beta[..., None, None]
    )
