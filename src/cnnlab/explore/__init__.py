"""`cnnlab explore`: a local web page showing what a CNN sees (every layer's maps, a unit's multiply-add,
Grad-CAM and saliency, two networks side by side, a run in progress, a padding/stride playground)."""
from .loader import Source, find_sources, load_network
from .server import make_server, serve

__all__ = ["Source", "find_sources", "load_network", "make_server", "serve"]


def __getattr__(name):
    if name == "Network":  # now cnnlab.trained.TrainedNetwork (the loader warns)
        from . import loader

        return loader.Network
    raise AttributeError(f"module 'cnnlab.explore' has no attribute '{name}'")
