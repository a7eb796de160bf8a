__version__ = "0.1.0"

def __getattr__(name):
    "`sidae.load_backbone`, imported on first use: `import sidae` (and `sidae --help`) does not import torch."
    if name == 'load_backbone':
        from .export import load_backbone
        return load_backbone
    raise AttributeError(f"module 'sidae' has no attribute {name!r}")
