"""The package version, in a module of its own: checkpoints, feature stores and model folders record it,
and importing it from here (not from ``vidcap``, whose ``Captioner`` reaches them all) keeps the import
graph free of cycles.

Example:
    >>> import vidcap
    >>> __version__ == vidcap.__version__
    True
"""
__version__ = "0.1.0"
