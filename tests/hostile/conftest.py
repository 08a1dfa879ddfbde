"""The hostile suite's shared fixture: one kit (hostile_models.Kit) for the model-folder and checkpoint
tests, made once per session from the session's tiny model and its folder."""
from __future__ import annotations

from typing import Iterator

import pytest
from hostile_models import Kit, start_kit


@pytest.fixture(scope="session")
def models(tiny_model, tiny_folder, tmp_path_factory) -> Iterator[Kit]:
    kit, server = start_kit(tiny_model.ckpt, tiny_folder, tmp_path_factory.mktemp("hostile-models"))
    yield kit
    server.shutdown()
    server.server_close()
