"""Errors a user can cause; the CLI prints them on one line and exits 2."""

from __future__ import annotations


class MiniatureError(Exception):
    """Base of every error caused by input (config, data, model names, files).

    The message says what is wrong and how to fix it, on one line.
    """


class ConfigError(MiniatureError):
    """A bad config file, key, value or command-line option."""


class DataError(MiniatureError):
    """A missing, malformed or inconsistent data file."""


class ModelError(MiniatureError):
    """An unknown model name, or a model lacking what a step needs."""


class MismatchError(MiniatureError):
    """Two artifacts that cannot be compared (different question universes, ids)."""


class DependencyError(MiniatureError):
    """An optional dependency is missing; the message names the pip install that fixes it."""
