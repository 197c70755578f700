"""Thin shim so that legacy tools (``python setup.py develop``) still work; metadata lives in pyproject.toml."""

from setuptools import setup

setup()
