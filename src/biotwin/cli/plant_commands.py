"""Plant and live-ingest commands: ``plant run``, ``ingest opcua``, ``ingest mqtt``.

``biotwin plant run`` serves a virtual plant behind an OPC UA server until its batches end
(plus ``--linger``); ``biotwin ingest opcua|mqtt`` ingests into the lake until SIGTERM, then
flushes its buffer and prints its metrics as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sys
from pathlib import Path

import typer

from biotwin.cli import app
from biotwin.cli.common import handle_errors, print_json
from biotwin.errors import BiotwinError

plant_app = typer.Typer(rich_markup_mode=None, help="The virtual plant: simulated bioreactors behind an OPC UA server.",
                        no_args_is_help=True)
ingest_app = typer.Typer(rich_markup_mode=None, help="Live ingestion into the lake (OPC UA, MQTT / Sparkplug B).",
                         no_args_is_help=True)
app.add_typer(plant_app, name="plant")
app.add_typer(ingest_app, name="ingest")


def _lake_root(ctx: typer.Context) -> str:
    root = str((ctx.obj or {}).get("lake", "./biotwin-data"))
    return re.sub(r"^(s3|gs|hdfs):/(?!/)", r"\1://", root)


def _buffer_path(ctx: typer.Context, given: Path | None, name: str) -> Path:
    if given is not None:
        return given
    root = _lake_root(ctx)
    base = Path(root) if "://" not in root else Path.home() / ".cache" / "biotwin"
    return base / "_ingest" / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".sqlite")


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("asyncua", "asyncua.server", "asyncua.client"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


@plant_app.command("run")
@handle_errors
def plant_run(
    endpoint: str = typer.Option("opc.tcp://127.0.0.1:4840", "--endpoint", help="OPC UA endpoint to serve."),
    reactors: int = typer.Option(2, "--reactors", min=1, help="Number of bioreactors."),
    days: float = typer.Option(14.0, "--days", help="Batch length [d] of plant time."),
    speed: float = typer.Option(10080.0, "--speed", help="Plant seconds per wall second (10080: 14 d in 2 min)."),
    sample_every: str = typer.Option("60s", "--sample-every", help="Publishing period in plant time (60s, 5min)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same plant)."),
    fault: list[str] = typer.Option([], "--fault", help="KIND:reactor=N:at=5d[:severity=1][:fail=3d]; repeatable."),
    truth: Path = typer.Option(None, "--truth", help="Write every published value to this CSV "
                               "(and the faults' ground truth to <PATH>.faults.json)."),
    linger: float = typer.Option(5.0, "--linger", help="Keep serving this long [s] after the batch ends."),
    skid: bool = typer.Option(True, "--skid/--no-skid", help="Include the chromatography skid CHROM01."),
    security_dir: Path = typer.Option(None, "--security", help="Folder for the server certificate: turns on "
                                      "Basic256Sha256 SignAndEncrypt and user login only."),
    user: list[str] = typer.Option([], "--user", help="USER:PASSWORD accepted with --security; repeatable."),
    mqtt: str = typer.Option(None, "--mqtt", help="Also publish Sparkplug B to this broker (HOST:PORT)."),
    restart_delay: float = typer.Option(3.0, "--restart-delay", help="Seconds the server stays down on SIGUSR1."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Serve a virtual plant (bioreactors + skid) in accelerated time until the batch ends."""
    from biotwin.plant.faults import parse_duration_h, parse_fault
    from biotwin.plant.plant import VirtualPlant
    from biotwin.plant.runner import PlantRun, run_plant

    _logging(verbose)
    faults = [parse_fault(f) for f in fault]
    bad = [f for f in faults if f.reactor > reactors]
    if bad:
        raise BiotwinError(f"fault on reactor {bad[0].reactor}, but the plant has {reactors} reactors")
    users = {}
    for u in user:
        if ":" not in u:
            raise BiotwinError(f"--user {u!r}: expected USER:PASSWORD")
        name, pw = u.split(":", 1)
        users[name] = pw
    plant = VirtualPlant(n_reactors=reactors, duration_h=days * 24.0, faults=faults, random_state=seed, skid=skid)
    run = PlantRun(plant, endpoint, speed=speed, sample_every_h=parse_duration_h(sample_every), linger_s=linger,
                   truth=truth, security_dir=security_dir, users=users, mqtt=mqtt, restart_delay_s=restart_delay)
    summary = asyncio.run(run_plant(run))
    if as_json:
        print_json(summary)
    else:
        typer.echo(f"published {summary['published']} values in {summary['wall_s']:.1f} s "
                   f"({summary['plant_hours']:.1f} h of plant time)", err=True)


def _run_until_sigterm(coro_factory, metrics) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await coro_factory(stop)

    asyncio.run(main())
    print_json(metrics())


@ingest_app.command("opcua")
@handle_errors
def ingest_opcua(
    ctx: typer.Context,
    endpoint: str = typer.Option(..., "--endpoint", help="opc.tcp://host:port of the server."),
    tags: Path = typer.Option(None, "--tags", help="YAML tag map; default: every variable of every unit."),
    buffer: Path = typer.Option(None, "--buffer", help="Store-and-forward SQLite file "
                                "(default <lake>/_ingest/opcua-<endpoint>.sqlite)."),
    user: str = typer.Option(None, "--user", help="User name."),
    password: str = typer.Option(None, "--password", envvar="BIOTWIN_OPCUA_PASSWORD", help="Password."),
    security: str = typer.Option(None, "--security", help="asyncua security string, e.g. "
                                 "Basic256Sha256,SignAndEncrypt,client_cert.der,client_key.pem"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Ingest from an OPC UA server until SIGTERM; then flush and print the metrics as JSON."""
    from biotwin.connect.opcua import OpcUaIngest
    from biotwin.lake import Lake

    _logging(verbose)
    ing = OpcUaIngest(endpoint, Lake(_lake_root(ctx)), _buffer_path(ctx, buffer, f"opcua-{endpoint}"),
                      tags_file=tags, user=user, password=password, security=security)
    _run_until_sigterm(ing.run, ing.metrics)


@ingest_app.command("mqtt")
@handle_errors
def ingest_mqtt(
    ctx: typer.Context,
    broker: str = typer.Option(..., "--broker", help="HOST:PORT of the MQTT broker."),
    group: str = typer.Option("+", "--group", help="Sparkplug group id to subscribe to (+: all)."),
    buffer: Path = typer.Option(None, "--buffer", help="Store-and-forward SQLite file."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Ingest Sparkplug B from an MQTT broker until SIGTERM; then flush and print the metrics."""
    from biotwin.connect.mqtt import MqttIngest
    from biotwin.lake import Lake

    _logging(verbose)
    ing = MqttIngest(broker, Lake(_lake_root(ctx)), _buffer_path(ctx, buffer, f"mqtt-{broker}"), group=group)
    _run_until_sigterm(ing.run, ing.metrics)


__all__ = ["ingest_app", "json", "plant_app"]
