"""The firmware's bond rules (firmware/pairing.py), pure, under CPython: the pairing window
and which link may command, in the order NimBLE reports a pairing."""

from __future__ import annotations

import pairing
from pairing import PAIRED, PENDING, REFUSED, RESTORED, UNBONDED, PairingWindow, Trust

PEER = b"\xf0\x11\x22\x33\x44\x55"  # as MicroPython's IRQs give an address
STORED = {(2, pairing.store_key(1, PEER)): b"keys", (1, pairing.store_key(1, PEER)): b"k"}


def test_the_window_opens_for_its_length_and_the_button_reopens_it() -> None:
    """Open for its length after boot; closed after; the button opens it again; 0 at boot
    means closed, and the button then gives two minutes; None is always open."""
    window = PairingWindow(1000, now_ms=0)
    assert window.is_open(999) and not window.is_open(1000)
    window.open(5000)
    assert window.is_open(5999) and not window.is_open(6000)
    window.open(6000, 0)  # pairing=0: closed at once
    assert not window.is_open(6000)
    closed = PairingWindow(0, now_ms=0)
    assert not closed.is_open(0)
    closed.open(10)
    assert closed.left_ms(10) == pairing.PAIRING_WINDOW_MS
    always = PairingWindow(None, now_ms=0)
    assert always.is_open(10**9) and always.left_ms(5) is None


def test_the_store_key_is_nimbles_address_least_significant_byte_first() -> None:
    """The key aioble.security keeps a bond under: type, then the reversed address."""
    assert pairing.store_key(1, PEER) == bytes.fromhex("01554433 2211f0".replace(" ", ""))


def test_a_restored_bond_is_trusted_at_once() -> None:
    """Encrypted, bonded, and the store already holds the peer's keys: may command."""
    trust = Trust(require_bond=True)
    trust.connected(1, 1, PEER)
    assert not trust.may_write(1)
    assert trust.encryption_changed(1, True, True, STORED) == RESTORED
    assert trust.may_write(1)


def test_a_pairing_is_trusted_only_once_its_keys_are_stored_in_the_window() -> None:
    """NimBLE reports the encryption before it stores the keys: not trusted in between;
    keys stored with the window open: trusted; with it closed: refused."""
    for window_open, verdict in ((True, PAIRED), (False, REFUSED)):
        trust = Trust(require_bond=True)
        trust.connected(7, 1, PEER)
        assert trust.encryption_changed(7, True, True, {}) == PENDING
        assert not trust.may_write(7)
        assert trust.keys_stored(1, window_open) == verdict
        assert trust.may_write(7) is window_open
        assert trust.keys_stored(10, window_open) is None  # our IRK: no bond key


def test_encryption_without_a_bond_and_a_new_link_are_not_trusted() -> None:
    """Encrypted without bonding, or encryption lost: no; a new connection on the same
    handle starts untrusted; without REQUIRE_BOND everyone may."""
    trust = Trust(require_bond=True)
    trust.connected(1, 1, PEER)
    assert trust.encryption_changed(1, True, False, STORED) == UNBONDED
    assert trust.encryption_changed(1, True, True, STORED) == RESTORED
    assert trust.encryption_changed(1, False, True, STORED) == UNBONDED
    assert trust.encryption_changed(1, True, True, STORED) == RESTORED
    trust.disconnected(1)
    assert trust.may_write(1)  # a write queued before the link went keeps its verdict
    trust.connected(1, 1, PEER)
    assert not trust.may_write(1)
    assert trust.keys_stored(1, True) == PAIRED
    trust.disconnected(1)
    assert trust.keys_stored(1, True) is None  # nobody connected
    assert Trust(require_bond=False).may_write(3)
