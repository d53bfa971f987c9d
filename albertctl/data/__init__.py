"""Pretraining data: SOP pairing and n-gram masking (pure functions), the Arrow shard schema and
writer, the manifest, the build orchestration (``build_pretraining_data``, what ``make-data``
calls) and the training-time loader (``albertctl.data.loader``). See docs/data-format.md."""

from __future__ import annotations

from albertctl.data.build import (
    MakeDataConfig,
    MakeDataReport,
    build_pretraining_data,
    merge_parts,
    read_manifest,
)

__all__ = ["MakeDataConfig", "MakeDataReport", "build_pretraining_data", "merge_parts", "read_manifest"]
