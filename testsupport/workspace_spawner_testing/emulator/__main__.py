"""python -m workspace_spawner_testing.emulator --kubeconfig PATH [--openshift]"""

from __future__ import annotations

import argparse
import asyncio
import signal

from .emulator import Emulator


async def main(args: argparse.Namespace) -> None:
    emulator = Emulator(openshift=args.openshift)
    url = await emulator.start(args.host, args.port)
    if args.kubeconfig:
        emulator.write_kubeconfig(args.kubeconfig)
    print(f"Kubernetes API emulator listening on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await emulator.stop()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m workspace_spawner_testing.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the emulator here")
    parser.add_argument("--openshift", action="store_true", help="serve OpenShift's projects")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
