"""Run cells of a lesson as Colab would, but offline.

    python tests/colab_cells.py STAND_INS NOTEBOOK I J ...

tests/test_colab_paths.py starts this script in a fresh interpreter, so that the environment
(``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``MINIVISION_QUICK``, ``HOME``) holds from the first import.
It does three things before it runs code cells I, J, ... of NOTEBOOK, in order, in one namespace:

1. It loads an empty ``google.colab`` module, which is what :func:`minivision.lesson.in_colab`
   looks for, so every ``if lesson.in_colab():`` branch runs.
2. Models named on the Hugging Face hub need nothing: the hub cache the test prepared holds tiny
   random models under the real names, written by ``save_pretrained``.
3. timm, open_clip and torchvision take a *registry* name (``"vit_base_patch16_224"``,
   ``"ViT-B-32"``, ``"vit_b_16"``) that fixes the architecture, so a tiny stand-in cannot live
   under it. For the names listed in the STAND_INS JSON file only, their loaders are wrapped so
   that they read the tiny model saved on disk instead (timm and open_clip: a ``local-dir:``
   folder; torchvision: the architecture's arguments and a weights file). Every other call goes
   to the library unchanged.
"""
import json
import sys
import types


def pretend_to_be_colab():
    sys.modules.setdefault("google", types.ModuleType("google"))
    sys.modules["google.colab"] = types.ModuleType("google.colab")


def redirect_registry_names(stand_ins: dict):
    """Wrap timm.create_model, open_clip's loaders and torchvision.models.get_model (see above)."""
    if "timm" in stand_ins:
        import timm

        create_model, names = timm.create_model, stand_ins["timm"]
        timm.create_model = lambda name, *args, **kw: create_model(names.get(name, name), *args,
                                                                   **kw)
    if "open_clip" in stand_ins:
        import open_clip

        create, tokenizer, names = (open_clip.create_model_and_transforms,
                                    open_clip.get_tokenizer, stand_ins["open_clip"])

        def create_model_and_transforms(name, pretrained=None, **kw):
            return create(names[name], pretrained=None, **kw) if name in names else \
                create(name, pretrained=pretrained, **kw)

        open_clip.create_model_and_transforms = create_model_and_transforms
        open_clip.get_tokenizer = lambda name, **kw: tokenizer(names.get(name, name), **kw)
    if "torchvision" in stand_ins:
        import torch
        import torchvision

        get_model, specs = torchvision.models.get_model, stand_ins["torchvision"]

        def get_model_from_file(name, **config):
            if name not in specs or config.get("weights") is None:
                return get_model(name, **config)
            model = torchvision.models.VisionTransformer(**specs[name]["kwargs"])
            model.load_state_dict(torch.load(specs[name]["file"], weights_only=True))
            return model

        torchvision.models.get_model = get_model_from_file


def run_cells(notebook: str, indices: list[int]):
    cells = json.load(open(notebook, encoding="utf-8"))["cells"]
    namespace = {"__name__": "__main__"}
    for index in indices:
        cell = cells[index]
        assert cell["cell_type"] == "code", f"cell {index} of {notebook} is not a code cell"
        source = "".join(cell["source"])
        print(f"--- cell {index}", flush=True)
        exec(compile(source, f"{notebook}, cell {index}", "exec"), namespace)


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")  # figures are drawn, not shown
    stand_ins_file, notebook, *indices = sys.argv[1:]
    pretend_to_be_colab()
    redirect_registry_names(json.load(open(stand_ins_file, encoding="utf-8")))
    run_cells(notebook, [int(i) for i in indices])
