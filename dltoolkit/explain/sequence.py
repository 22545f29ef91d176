"""Explaining sequence models: one score per token, and the attention weights a model computes.

    from dltoolkit.explain import attention_maps, explain_tokens
    scores = explain_tokens(model, token_ids, embedding_layer="embed")   # (B, T): one score per token
    maps = attention_maps(model, token_ids)                               # {"encoder.attn": (B, heads, T, T)}

Token scores are Integrated Gradients through the embedding layer (Captum's
``LayerIntegratedGradients``): token ids are not differentiable, so the path runs between the embeddings
of a baseline sequence (every token the padding id) and of the input, and each token's score is the sum
of its embedding's attributions (Sundararajan et al. 2017, section 6.3).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dltoolkit.explain._model import Target, eval_mode, model_device, resolve_layer, resolve_target


def _check_token_ids(token_ids: Any, embedding: nn.Embedding) -> Tensor:
    if not isinstance(token_ids, Tensor):
        raise TypeError(f"token_ids must be a torch.Tensor of token indices, got {type(token_ids).__name__}")
    if token_ids.is_floating_point() or token_ids.is_complex() or token_ids.dtype == torch.bool:
        raise TypeError(f"token_ids must be an integer tensor, got dtype {token_ids.dtype}")
    if token_ids.ndim != 2 or token_ids.numel() == 0:
        hint = "; for one sequence use ids.unsqueeze(0)" if token_ids.ndim == 1 else ""
        raise ValueError(
            f"token_ids must be a non-empty batch (B, T), got shape {tuple(token_ids.shape)}{hint}"
        )
    low, high = int(token_ids.min()), int(token_ids.max())
    if low < 0 or high >= embedding.num_embeddings:
        raise ValueError(
            f"token ids must be in [0, {embedding.num_embeddings}) (the embedding's vocabulary), "
            f"got values from {low} to {high}"
        )
    device = model_device(embedding)
    return token_ids if device is None else token_ids.to(device)


def explain_tokens(
    model: nn.Module,
    token_ids: Tensor,
    embedding_layer: str | nn.Module | None = None,
    target: Target = None,
    *,
    baseline_token_id: int = 0,
    n_steps: int = 50,
    **options: Any,
) -> Tensor:
    """One Integrated Gradients score per token, ``(B, T)``, for ``model``'s class ``target``.

        scores = explain_tokens(classifier, ids, embedding_layer="embed", target=1)
        scores[0].topk(3)   # the three tokens that pushed sample 0 most towards class 1

    Args:
        model: maps ``token_ids`` ``(B, T)`` to class scores ``(B, K)``.
        token_ids: an integer batch ``(B, T)`` of token indices.
        embedding_layer: the ``nn.Embedding`` the ids go through (module or name); default the model's
            only one.
        target: class to explain; ``None`` is each sample's predicted class.
        baseline_token_id: the reference token (usually padding): the baseline sequence is all of it.
        n_steps: steps of the path integral.
        options: passed to ``LayerIntegratedGradients.attribute`` (``additional_forward_args`` …).

    The scores sum to about ``f(ids) - f(baseline)`` for the target class (completeness); positive
    scores push towards the class, negative ones away from it.
    """
    from captum.attr import LayerIntegratedGradients

    _, layer = resolve_layer(model, embedding_layer, (nn.Embedding,))
    if not isinstance(layer, nn.Embedding):
        raise TypeError(f"embedding_layer must be an nn.Embedding, got {type(layer).__name__}")
    ids = _check_token_ids(token_ids, layer)
    if not 0 <= baseline_token_id < layer.num_embeddings:
        raise ValueError(f"baseline_token_id must be in [0, {layer.num_embeddings}), got {baseline_token_id}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps}")
    with eval_mode(model):
        classes = resolve_target(model, ids, target)
        scores = LayerIntegratedGradients(model, layer).attribute(
            ids,
            baselines=torch.full_like(ids, baseline_token_id),
            target=classes,
            n_steps=n_steps,
            **options,
        )
    return scores.detach().sum(-1)  # (B, T, D) -> (B, T): each token's embedding attributions summed


#: ``nn.MultiheadAttention.forward``'s parameters in order, to read arguments given by position.
_MHA_PARAMETERS = (
    "query",
    "key",
    "value",
    "key_padding_mask",
    "need_weights",
    "attn_mask",
    "average_attn_weights",
    "is_causal",
)


def attention_maps(model: nn.Module, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
    """The attention weights of every ``nn.MultiheadAttention`` in ``model`` for one forward pass.

        maps = attention_maps(model, token_ids)
        maps["encoder.layers.0.self_attn"].shape   # (B, heads, T_query, T_key); each row sums to 1

    ``args``/``kwargs`` are the model's forward arguments. Forward hooks make each attention module
    return its per-head weights (``need_weights=True, average_attn_weights=False``) even where the model
    asks for none, as ``nn.TransformerEncoderLayer`` does; PyTorch's fused Transformer fast path, which
    would skip the modules, is off for the call (``torch.backends.mha``, a process-wide switch, restored
    afterwards). Keys are module names (``model.named_modules()``); a module called again in the same
    pass adds ``name[1]``, ``name[2]`` …. The model runs in eval mode, without gradients; its outputs
    are computed as usual and discarded.
    """
    modules = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    if not modules:
        raise ValueError(f"{type(model).__name__} has no nn.MultiheadAttention module to read attention from")
    maps: dict[str, Tensor] = {}

    def ask_for_weights(module: nn.Module, call_args: tuple[Any, ...], call_kwargs: dict[str, Any]) -> Any:
        named = {**dict(zip(_MHA_PARAMETERS[3:], call_args[3:], strict=False)), **call_kwargs}
        return call_args[:3], {**named, "need_weights": True, "average_attn_weights": False}

    def keep_weights(name: str) -> Any:
        def hook(module: nn.Module, call_args: tuple[Any, ...], output: tuple[Tensor, Tensor | None]) -> None:
            weights = output[1]
            if weights is not None:
                key, n = name, 1
                while key in maps:
                    key, n = f"{name}[{n}]", n + 1
                maps[key] = weights.detach()  # (B, heads, L, S), or (heads, L, S) unbatched

        return hook

    handles = []
    fast_path = torch.backends.mha.get_fastpath_enabled()
    try:
        for name, m in modules:
            handles.append(m.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            handles.append(m.register_forward_hook(keep_weights(name)))
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad(), eval_mode(model):
            model(*args, **kwargs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
        for handle in handles:
            handle.remove()
    return maps
