"""Errors raised by the models package: one line each, naming the bad value and what is allowed."""
from __future__ import annotations


class ModelError(ValueError):
    """A model file, model bytes, image or model setting is invalid (message says which and why)."""


class DatasetError(ModelError):
    """A data-set folder or file is missing or malformed (message names the file)."""


class SettingsError(ModelError):
    """A training/build setting has a value outside what is allowed (message names the field)."""


class DeviceError(ModelError):
    """An execution device was requested that this machine cannot provide."""
