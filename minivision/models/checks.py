"""Input checks shared by the models: a batch of images must be floating point, in the weights'
precision and (in debug mode) finite. Each error names what came and the fix.

The dtype check is free. The finiteness check reads the whole batch once, so models run it only
when asked (``model.check_finite = True``); ``fit`` runs it on the first batches of every run.
"""
import torch


def check_image_dtype(x: torch.Tensor, weight: torch.Tensor) -> None:
    """A ValueError unless ``x`` can meet ``weight`` in a convolution (autocast may cast it)."""
    if not torch.is_floating_point(x):
        hint = " (pixels 0-255?): x.float() / 255, or the dataset's ToTensor transform" \
            if x.dtype == torch.uint8 else ": x.float()"
        raise ValueError(f"images must be floating point, got {x.dtype}{hint}.")
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise ValueError(f"images are {x.dtype} but the model's weights are {weight.dtype}: "
                         f"convert the images (x.to({weight.dtype})) or the model "
                         f"(model.to({x.dtype})), or run under torch.autocast.")


def check_finite(x: torch.Tensor, name: str = "images") -> None:
    """A ValueError that counts the NaN and infinite values of ``x`` and says where they come
    from."""
    finite = torch.isfinite(x)
    if bool(finite.all()):
        return
    nan, inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
    bad_items = (~finite).flatten(1).any(1).nonzero().flatten()[:5].tolist() if x.ndim > 1 else []
    raise ValueError(
        f"the {name} hold {nan} NaN and {inf} infinite values (batch items {bad_items}...): "
        f"check the data pipeline (a normalisation that divides by a zero std, a corrupt file, "
        f"a log of zero) with torch.isfinite(x).all().")
