"""The names the command line offers as choices, without importing torch (``vaediag --help`` stays fast)."""

from vaediag.engine.config import ARCHS, LOADERS, PRECISIONS, PRESETS, RESUME_FIELDS, STAGE2_FIELDS, TRAIN_FIELDS

__all__ = ["ARCHS", "LOADERS", "PRECISIONS", "PRESETS", "RESUME_FIELDS", "STAGE2_FIELDS", "TRAIN_FIELDS"]
