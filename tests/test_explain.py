"""dltoolkit.explain: Captum's attributions by name, their quality, sanity checks, token scores, attention."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dltoolkit.catalog import UnknownNameError, create_data, create_model
from dltoolkit.explain import (
    METHODS,
    attention_maps,
    explain,
    explain_tokens,
    explanation_quality,
    heatmap_overlay,
    randomisation_check,
    top_k,
)
from dltoolkit.explain._model import check_inputs


@pytest.fixture(scope="module")
def digits() -> Any:
    dm = create_data("digits", batch_size=64, augment="none")
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def lenet(digits: Any) -> Any:
    """LeNet-5 trained for 3 epochs on 8x8 digits (about 90 % test accuracy, a few seconds)."""
    import lightning.pytorch as pl

    pl.seed_everything(0, verbose=False)
    model = create_model("lenet", data=digits, lr=3e-3, scheduler="none")
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,  # no validation: the test split below says whether it learnt
    )
    trainer.fit(model, digits)
    model.eval()
    with torch.no_grad():
        hits = torch.cat([model(x).argmax(-1) == y for x, y in digits.test_dataloader()])
    assert hits.float().mean() > 0.8  # trained: what the sanity checks below rely on
    return model.eval()


@pytest.fixture(scope="module")
def images(digits: Any) -> tuple[Tensor, Tensor]:
    x, y = next(iter(digits.test_dataloader()))
    return x[:6], y[:6]  # (6, 1, 8, 8) normalised, as the model takes them


def test_import_is_light() -> None:
    code = "import sys, dltoolkit.explain; print('torch' in sys.modules, 'captum' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --- attributions ----------------------------------------------------------------------------------


def test_integrated_gradients_completeness(lenet: Any, images: tuple[Tensor, Tensor]) -> None:
    x, _ = images
    result = explain(lenet, x, "integrated_gradients", n_steps=100, return_convergence_delta=True)
    with torch.no_grad():
        gain = (
            lenet(x).gather(1, result.target[:, None])[:, 0] - lenet(torch.zeros_like(x))[:, result.target][0]
        )
    totals = result.attributions.sum(dim=(1, 2, 3))
    # Sundararajan et al. (2017), completeness: the attributions add up to f(x) - f(baseline)
    assert torch.allclose(totals, gain, atol=0.02 * float(gain.abs().max()))
    assert result.delta is not None and torch.allclose(result.delta, totals - gain, atol=1e-4)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_attributions_of_the_inputs_shape(
    method: str, lenet: Any, images: tuple[Tensor, Tensor]
) -> None:
    x, _ = images
    result = explain(lenet, x, method)
    assert result.method == method
    assert result.attributions.shape == x.shape
    assert torch.isfinite(result.attributions).all() and result.attributions.abs().sum() > 0
    assert torch.equal(result.target, lenet(x).argmax(-1))  # target=None: the predicted class
    assert (result.layer is not None) == METHODS[method].layer
    assert not x.requires_grad  # the caller's tensor is left as it was


@pytest.mark.parametrize("method", [m for m, spec in METHODS.items() if not spec.layer])
def test_input_methods_work_on_an_mlp(method: str) -> None:
    mlp = create_model("mlp", hidden_sizes=[16])
    x = torch.randn(3, 1, 8, 8)
    assert explain(mlp, x, method, target=[1, 2, 3]).attributions.shape == x.shape


def test_layer_methods_on_a_model_without_convolutions() -> None:
    mlp = create_model("mlp", hidden_sizes=[16], batch_norm=False, dropout=0.0)
    x = torch.randn(3, 1, 8, 8)
    with pytest.raises(ValueError, match="no Conv1d/Conv2d/Conv3d layer; pass layer="):
        explain(mlp, x, "grad_cam")
    result = explain(mlp, x, "layer_conductance", layer="net.1", return_convergence_delta=True)
    assert result.attributions.shape == (3, 16)  # a Linear layer has no map: one score per unit
    with torch.no_grad():
        gain = mlp(x)[torch.arange(3), result.target] - mlp(torch.zeros_like(x))[0, result.target]
    assert torch.allclose(result.attributions.sum(1), gain, atol=0.05 * float(gain.abs().max()) + 1e-4)


def test_grad_cam_is_upsampled_to_the_input_size(lenet: Any, images: tuple[Tensor, Tensor]) -> None:
    from captum.attr import LayerGradCam

    x, _ = images
    result = explain(lenet, x, "grad_cam", target=3)
    assert result.layer == "net.features.3"  # C3, the last convolution
    assert result.layer_attributions is not None and result.layer_attributions.shape == (6, 1, 4, 4)
    assert result.attributions.shape == (6, 1, 8, 8)
    direct = LayerGradCam(lenet, lenet.net.features[3]).attribute(x, target=3, relu_attributions=True)
    upsampled = F.interpolate(direct, size=(8, 8), mode="bilinear", align_corners=False)
    assert torch.allclose(result.attributions, upsampled, atol=1e-6)
    assert result.attributions.min() >= 0  # ReLU: only evidence for the class
    by_module = explain(lenet, x, "grad_cam", target=3, layer=lenet.net.features[0])
    assert by_module.layer == "net.features.0" and by_module.layer_attributions.shape == (6, 1, 8, 8)
    big = create_model("lenet")  # 28x28 input: C3 maps 14x14 to 10x10
    cam = explain(big, torch.randn(2, 1, 28, 28), "grad_cam")
    assert cam.layer_attributions.shape == (2, 1, 10, 10) and cam.attributions.shape == (2, 1, 28, 28)


def test_smoothgrad_averages_noisy_copies(lenet: Any, images: tuple[Tensor, Tensor]) -> None:
    x, _ = images
    plain = explain(lenet, x, "saliency", target=0).attributions
    noiseless = explain(lenet, x, "saliency", target=0, smoothgrad=True, nt_samples=4, nt_stdev=0.0)
    assert torch.allclose(noiseless.attributions, plain, atol=1e-6)
    torch.manual_seed(0)
    smooth = explain(lenet, x, "saliency", target=0, nt_samples=8).attributions
    assert smooth.shape == x.shape and not torch.allclose(smooth, plain, atol=1e-3)


def test_targets_and_modes(images: tuple[Tensor, Tensor]) -> None:
    x, _ = images
    mlp = create_model("mlp", hidden_sizes=[16], dropout=0.5)
    mlp.train()
    mlp.net[1].eval()  # a partly frozen model: each submodule gets its own mode back
    first = explain(mlp, x, "saliency", target=2)
    again = explain(mlp, x, "saliency", target=2)
    assert torch.equal(first.attributions, again.attributions)  # eval mode: dropout off
    assert mlp.training and not mlp.net[1].training and mlp.net[3].training
    per_sample = explain(mlp, x, "saliency", target=torch.tensor([2, 2, 2, 2, 2, 2]))
    assert torch.equal(per_sample.attributions, first.attributions)
    assert not torch.equal(explain(mlp, x, "saliency", target=5).attributions, first.attributions)


def test_overlay_of_an_explanation(lenet: Any, images: tuple[Tensor, Tensor]) -> None:
    x, _ = images
    rgb = explain(lenet, x, "grad_cam").overlay(1)
    assert rgb.shape == (8, 8, 3) and rgb.min() >= 0 and rgb.max() <= 1


# --- bad input -------------------------------------------------------------------------------------


def test_bad_input_is_a_clear_error(lenet: Any, images: tuple[Tensor, Tensor]) -> None:
    x, _ = images
    with pytest.raises(
        UnknownNameError, match=r"did you mean 'integrated_gradients'.*Known: deeplift, grad_cam"
    ):
        explain(lenet, x, "integrated_gradient")
    with pytest.raises(ValueError, match=r"target 10 is out of range: the model has 10 classes \(0..9\)"):
        explain(lenet, x, "saliency", target=10)
    with pytest.raises(ValueError, match="target -1 is out of range"):
        explain(lenet, x, "saliency", target=[0, 1, 2, 3, 4, -1])
    with pytest.raises(ValueError, match="one int or 6 of them"):
        explain(lenet, x, "saliency", target=[0, 1])
    with pytest.raises(TypeError, match="integer class indices"):
        explain(lenet, x, "saliency", target=torch.tensor(1.5))
    with pytest.raises(ValueError, match=r"takes inputs of shape \(B, 1, 8, 8\), got \(6, 1, 9, 9\)"):
        explain(lenet, torch.zeros(6, 1, 9, 9), "saliency")
    with pytest.raises(ValueError, match=r"for one image use x\.unsqueeze"):
        explain(lenet, x[0], "saliency")
    bad = x.clone()
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        explain(lenet, bad, "integrated_gradients")
    bad[0, 0, 3, 3] = -float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        explain(lenet, bad, "saliency")
    huge = torch.full((2, 1, 8, 8), 3e38)  # finite values whose sum overflows: still valid inputs
    assert check_inputs(lenet, huge) is huge
    with pytest.raises(TypeError, match="floating-point"):
        explain(lenet, x.long(), "saliency")
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        explain(lenet, x.numpy(), "saliency")
    with pytest.raises(ValueError, match="layer= is for grad_cam, layer_conductance"):
        explain(lenet, x, "saliency", layer="net.features.0")
    with pytest.raises(
        UnknownNameError, match=r"unknown layer 'net\.feature\.3'; did you mean 'net\.features\.3'"
    ):
        explain(lenet, x, "grad_cam", layer="net.feature.3")
    with pytest.raises(ValueError, match="not a submodule"):
        explain(lenet, x, "grad_cam", layer=nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="saliency has no convergence delta"):
        explain(lenet, x, "saliency", return_convergence_delta=True)
    with pytest.raises(ValueError, match="nt_samples must be a positive integer"):
        explain(lenet, x, "saliency", nt_samples=0)


# --- quality ---------------------------------------------------------------------------------------


class Linear(nn.Module):
    """f(x) = W x + b on flattened inputs: its gradient is W everywhere."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(64, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.flatten(1))


def test_explanation_quality_of_an_exact_explanation_is_zero(
    lenet: Any, images: tuple[Tensor, Tensor]
) -> None:
    x, _ = images
    # for a linear model the signed gradient explains every perturbation exactly: I·W = f(x) - f(x - I)
    exact = explanation_quality(Linear(), x.reshape(6, 64), "saliency", abs=False)
    assert set(exact) == {"infidelity", "sensitivity_max"}
    assert exact["infidelity"] < 1e-9 and exact["sensitivity_max"] < 1e-6
    # the magnitude alone is not exact, and a ReLU network's gradient changes near x
    assert explanation_quality(Linear(), x.reshape(6, 64), "saliency")["infidelity"] > 1e-4
    trained = explanation_quality(lenet, x, "integrated_gradients", n_steps=20, n_perturb_samples=4)
    assert all(math.isfinite(v) and v > 0 for v in trained.values())
    with pytest.raises(ValueError, match="not in the inputs' space"):
        explanation_quality(create_model("mlp", hidden_sizes=[8]), x, "layer_conductance", layer="net.1")


def test_randomisation_check_passes_for_saliency_and_ig(lenet: Any, images: tuple[Tensor, Tensor]) -> None:
    x, _ = images
    before = {k: v.clone() for k, v in lenet.state_dict().items()}
    saliency = randomisation_check(lenet, x, "saliency")
    ig = randomisation_check(lenet, x, "integrated_gradients", mode="all", n_steps=20)
    for check in (saliency, ig):
        assert check.passed and check.correlation < check.threshold == 0.5
        assert len(check.per_sample) == 6 and math.isclose(
            check.correlation, float(np.mean(check.per_sample))
        )
    # cascading: one step per layer with weights, top first, ending with all of them re-initialised
    names = [name for name, _ in saliency.layers]
    assert names == [
        "net.classifier.4",
        "net.classifier.2",
        "net.classifier.0",
        "net.features.3",
        "net.features.0",
    ]
    assert saliency.layers[-1][1] == saliency.correlation
    assert ig.layers == [] and ig.mode == "all"
    for key, value in lenet.state_dict().items():  # the user's model is never changed
        assert torch.equal(value, before[key])
    # Adebayo et al. (2018): Guided Backprop hardly changes when the top layers are randomised
    guided = randomisation_check(lenet, x, "guided_backprop")
    assert guided.layers[0][1] > saliency.layers[0][1] + 0.2


def test_randomisation_check_fails_when_the_explanation_ignores_the_weights() -> None:
    class Energy(nn.Module):
        """Scores ±a·Σx²: Integrated Gradients gives a·x², whose ranking does not depend on a."""

        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(torch.tensor(2.0))

        def forward(self, x: Tensor) -> Tensor:
            energy = self.a * x.pow(2).flatten(1).sum(1)
            return torch.stack([energy, -energy], dim=1)  # (B, 2)

    check = randomisation_check(Energy(), torch.randn(4, 16), "integrated_gradients", target=0)
    assert check.correlation > 0.99 and not check.passed
    with pytest.raises(ValueError, match="no parameters to randomise"):
        randomisation_check(nn.Flatten(), torch.randn(2, 4), "saliency", target=0)


# --- sequences -------------------------------------------------------------------------------------


class BagOfEmbeddings(nn.Module):
    """Embedding, mean over tokens, linear: the score is linear in the embeddings."""

    def __init__(self, vocab: int = 10, dim: int = 4, classes: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)  # padding's embedding is zero
        self.head = nn.Linear(dim, classes)
        with torch.no_grad():
            self.embed.weight[7] = torch.tensor([3.0, 0.0, 0.0, 0.0])  # token 7 carries the signal
            self.head.weight.copy_(torch.tensor([[-1.0, 0.1, 0.1, 0.1], [1.0, -0.1, -0.1, -0.1]]))

    def forward(self, ids: Tensor) -> Tensor:
        return self.head(self.embed(ids).mean(1))  # (B, T, D) -> (B, D) -> (B, K)


def test_token_attributions_single_out_the_signal_token() -> None:
    model = BagOfEmbeddings()
    ids = torch.tensor([[3, 7, 5, 2], [7, 1, 1, 9]])
    scores = explain_tokens(model, ids, embedding_layer="embed", target=1)
    assert scores.shape == (2, 4)
    assert scores.argmax(1).tolist() == [1, 0]
    # linear in the embeddings, so Integrated Gradients is exact: (e_token - e_pad) · w_class / T
    expected = (model.embed.weight[ids] @ model.head.weight[1]) / ids.shape[1]
    assert torch.allclose(scores, expected.detach(), atol=1e-5)
    with torch.no_grad():
        gain = model(ids)[:, 1] - model(torch.zeros_like(ids))[:, 1]
    assert torch.allclose(scores.sum(1), gain, atol=1e-5)
    by_default = explain_tokens(model, ids)  # the only embedding, the predicted class
    assert torch.equal(by_default[0], scores[0])  # sample 0 is predicted class 1


def test_token_attributions_bad_input() -> None:
    model = BagOfEmbeddings()
    with pytest.raises(TypeError, match="integer tensor"):
        explain_tokens(model, torch.rand(2, 4))
    with pytest.raises(ValueError, match=r"for one sequence use ids.unsqueeze\(0\)"):
        explain_tokens(model, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 10\)"):
        explain_tokens(model, torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match="target 2 is out of range"):
        explain_tokens(model, torch.tensor([[1, 2]]), target=2)
    with pytest.raises(ValueError, match="no Embedding layer"):
        explain_tokens(nn.Linear(2, 2), torch.tensor([[1, 0]]))


class TinyAttention(nn.Module):
    """Embedding, one bare attention module (asked for no weights), one Transformer encoder layer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 8)
        self.attn = nn.MultiheadAttention(8, num_heads=2, batch_first=True)
        self.encoder = nn.TransformerEncoderLayer(8, nhead=2, dim_feedforward=16, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, ids: Tensor, padding: Tensor | None = None) -> Tensor:
        h = self.embed(ids)  # (B, T, D)
        h = h + self.attn(h, h, h, padding, False)[0]  # need_weights=False, by position
        h = self.encoder(h, src_key_padding_mask=padding)  # (B, T, D)
        return self.head(h.mean(1))  # (B, K)


def test_attention_maps_from_forward_hooks() -> None:
    model = TinyAttention()
    ids = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]])
    padding = torch.tensor([[False] * 5, [False] * 4 + [True]])
    fast_path = torch.backends.mha.get_fastpath_enabled()
    maps = attention_maps(model, ids, padding=padding)
    assert set(maps) == {"attn", "encoder.self_attn"}
    for weights in maps.values():
        assert weights.shape == (2, 2, 5, 5)  # (B, heads, T_query, T_key)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 5), atol=1e-5)
        assert torch.all(weights[1, :, :, 4] == 0)  # the padded key gets no attention
    h = model.embed(ids)
    _, expected = model.attn(h, h, h, key_padding_mask=padding, average_attn_weights=False)
    assert torch.allclose(maps["attn"], expected, atol=1e-6)
    assert torch.backends.mha.get_fastpath_enabled() == fast_path
    assert not model.attn._forward_hooks and not model.attn._forward_pre_hooks
    with pytest.raises(ValueError, match=r"no nn\.MultiheadAttention"):
        attention_maps(nn.Linear(2, 2), torch.zeros(1, 2))


# --- drawing ---------------------------------------------------------------------------------------


def test_heatmap_overlay() -> None:
    image = torch.linspace(-1, 2, 64).reshape(1, 8, 8)  # a normalised input, outside [0, 1]
    attribution = torch.zeros(1, 8, 8)
    attribution[0, 2, 5] = -4.0
    rgb = heatmap_overlay(image, attribution, outlier_percent=0.0)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.float64 and rgb.min() >= 0 and rgb.max() <= 1
    grey = heatmap_overlay(image, attribution, alpha=0.0)
    assert np.allclose(grey[..., 0], (image[0].numpy() + 1) / 3) and np.allclose(grey[..., 0], grey[..., 2])
    from matplotlib import colormaps

    heat = heatmap_overlay(image, attribution, alpha=1.0, outlier_percent=0.0)
    assert np.allclose(heat[2, 5], colormaps["inferno"](1.0)[:3]) and np.allclose(
        heat[0, 0], colormaps["inferno"](0.0)[:3]
    )
    signed = heatmap_overlay(image.numpy()[0], attribution, sign="all", alpha=1.0, outlier_percent=0.0)
    assert np.allclose(signed[2, 5], colormaps["bwr"](0.0)[:3]) and np.allclose(
        signed[0, 0], colormaps["bwr"](0.5)[:3]
    )
    assert np.allclose(
        heatmap_overlay(image, attribution, sign="positive", alpha=1.0)[2, 5], colormaps["inferno"](0.0)[:3]
    )
    with pytest.raises(ValueError, match="attribution is 4x4 but the image is 8x8"):
        heatmap_overlay(image, torch.zeros(4, 4))
    with pytest.raises(ValueError, match="sign must be"):
        heatmap_overlay(image, attribution, sign="abs")


def test_top_k(lenet: Any, images: tuple[Tensor, Tensor], digits: Any) -> None:
    x, _ = images
    best = top_k(lenet, x[0], k=3, class_names=digits.classes)
    probabilities = lenet(x[:1]).softmax(-1)[0]
    assert [name for name, _ in best] == [str(i) for i in probabilities.topk(3).indices.tolist()]
    assert [p for _, p in best] == pytest.approx(probabilities.topk(3).values.tolist())
    assert top_k(lenet, x[:1], k=1)[0][0] == int(probabilities.argmax())
    with pytest.raises(ValueError, match="k=11 is more than the model's 10 classes"):
        top_k(lenet, x[0], k=11)
    with pytest.raises(ValueError, match="one input at a time"):
        top_k(lenet, x, k=2)
    with pytest.raises(ValueError, match="class_names has 2 names"):
        top_k(lenet, x[0], class_names=["a", "b"])
