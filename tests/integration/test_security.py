"""With security on, the plant's server refuses an anonymous, unencrypted client."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from asyncua import Client, ua
from tests.integration.helpers import free_port, start, stop, wait_port

pytestmark = pytest.mark.integration


def test_anonymous_unencrypted_client_is_refused(tmp_path: Path) -> None:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    plant = start(["plant", "run", "--endpoint", url, "--reactors", "1", "--days", "0.1", "--speed", "60",
                   "--sample-every", "5min", "--no-skid", "--security", str(tmp_path / "pki"),
                   "--user", "operator:s3cret", "--linger", "0"], tmp_path / "plant.log")
    try:
        wait_port(port)

        async def anonymous() -> None:
            client = Client(url, timeout=5)
            async with client:
                await client.nodes.objects.get_children()

        async def endpoints() -> list[ua.EndpointDescription]:
            return await Client(url, timeout=5).connect_and_get_server_endpoints()

        eps = asyncio.run(endpoints())
        assert eps and all(e.SecurityMode == ua.MessageSecurityMode.SignAndEncrypt for e in eps)
        with pytest.raises(Exception):  # noqa: B017 - the stack raises one of several errors
            asyncio.run(asyncio.wait_for(anonymous(), 20))
    finally:
        stop(plant, signal.SIGTERM, 30)
