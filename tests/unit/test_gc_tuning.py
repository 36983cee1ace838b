"""The start-up heap is frozen out of the collector's generations only when asked."""

from __future__ import annotations

import gc

from users_service.entrypoints.process.gc_tuning import freeze_startup_heap


def test_gc_freeze_only_in_the_server_process() -> None:
    before = gc.get_freeze_count()
    freeze_startup_heap(False)
    assert gc.get_freeze_count() == before
    try:
        freeze_startup_heap(True)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
