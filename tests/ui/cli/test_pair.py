"""``therapyctl pair`` and ``unpair`` against ``sim serve``: bonds only in the pairing window,
kept across processes, forgotten on request; ``scan`` says which devices are bonded."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from tests.simserve import THERAPYCTL, SimServe, sim_serve

pytestmark = pytest.mark.slow


async def therapyctl(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        THERAPYCTL, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def bonded(serve: SimServe) -> bool:
    code, out, err = await therapyctl("scan", "--radio", serve.radio, "--timeout", "1", "--json")
    assert code == 0, err
    (device,) = json.loads(out)
    return bool(device["bonded"])


async def test_pair_in_the_window_then_run_and_unpair() -> None:
    """Paired within the window: scan says bonded, a session runs from another process;
    after unpair, run says how to pair again."""
    async with sim_serve("--device", "heat-pad:pad", time_scale=60) as serve:
        assert not await bonded(serve)
        code, out, err = await therapyctl("pair", "pad", "--radio", serve.radio)
        assert code == 0, err
        assert out.startswith(f"paired with pad ({serve.address('pad')}); keys in ")
        assert await bonded(serve)
        run = ("run", "--device", "pad", "--radio", serve.radio, "--mode", "heat", "--minutes")
        code, _out, err = await therapyctl(*run, "1")
        assert code == 0, err
        code, out, err = await therapyctl("unpair", "pad", "--radio", serve.radio)
        assert code == 0, err and out.startswith("forgot the bond with pad")
        assert not await bonded(serve)
        code, _out, err = await therapyctl(*run, "1")
        assert code == 1 and "is not paired with this controller" in err


async def test_outside_the_window_a_new_bond_is_refused_until_it_reopens() -> None:
    """With the window closed, pair is one error line (exit 1) saying to open it; SIGUSR1 to
    sim serve (the button held) opens it and the bond is taken."""
    async with sim_serve("--device", "heat-pad:pad", "--pairing-window", "0") as serve:
        code, _out, err = await therapyctl("pair", "pad", "--radio", serve.radio)
        assert code == 1
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "did not accept pairing" in lines[0]
        assert "open its pairing window" in lines[0] and "Traceback" not in err
        assert await serve.wait_for(event="pairing_refused")
        serve.process.send_signal(signal.SIGUSR1)
        await serve.wait_for(event="pairing_window")
        code, _out, err = await therapyctl("pair", "pad", "--radio", serve.radio)
        assert code == 0, err
        assert await bonded(serve)
