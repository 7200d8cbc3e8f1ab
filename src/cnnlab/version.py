"""cnnlab's version, in a module of its own so that any part of the package can read it without importing
the package's __init__ (and, through it, torch)."""
__version__ = "0.1.0"
