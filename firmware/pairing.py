"""Who may command the device: bonds and the pairing window (docs/protocol.md, "Security
and pairing").

Pure: the firmware passes times in (wall milliseconds: the window is for a person holding
the button, whatever the simulated time scale) and the bond store's entries.

- The Control Point and the Lease are "write encrypted": NimBLE itself answers a write over
  a link that is not encrypted with an ATT error (0x05 Insufficient Authentication, or 0x0F
  Insufficient Encryption when it holds the peer's keys) and the firmware never sees it.
- An encrypted link may command only if it was encrypted with a bond: one kept from before
  (restored), or one made while the pairing window was open. A bond made while the window
  is closed is refused: its keys are forgotten and the link dropped. NimBLE offers no hook
  to refuse the pairing request itself, so the pairing completes first; the bond does not
  survive it, and no write from that link is acted on in the meantime (MicroPython cannot
  answer a write with an ATT error: the firmware ignores it and indicates Not Permitted).
- The window opens at boot for its length (None: always open) and again when the button is
  held (a control-file line on the simulated board).
"""

# NimBLE's store object types (ble_store.h) that make up one bond: our keys and the peer's.
BOND_KEY_TYPES = (1, 2)  # BLE_STORE_OBJ_TYPE_OUR_SEC, BLE_STORE_OBJ_TYPE_PEER_SEC
PAIRING_WINDOW_MS = 120000  # real hardware: two minutes after the button is held 3 s

PAIRED = "paired"  # a new bond, made in the window: trusted
RESTORED = "restored"  # encrypted with a bond kept from before: trusted
PENDING = "pending"  # encrypted by a pairing whose keys are not stored yet: not trusted yet
REFUSED = "refused"  # a new bond made while the window was closed: forget it, drop the link
UNBONDED = "unbonded"  # not encrypted, or encrypted without a bond: not trusted


class PairingWindow:
    """When a new bond is accepted. ``length_ms`` None: always."""

    def __init__(self, length_ms, now_ms):
        self.length_ms = length_ms
        self._until_ms = None if length_ms is None else now_ms + length_ms

    def is_open(self, now_ms):
        return self._until_ms is None or now_ms < self._until_ms

    def left_ms(self, now_ms):
        """Milliseconds the window stays open (None: always open)."""
        if self._until_ms is None:
            return None
        return max(0, self._until_ms - now_ms)

    def open(self, now_ms, length_ms=None):
        """Open (again) for ``length_ms`` (0: close it), or the configured length (the
        button held)."""
        if length_ms is None:
            length_ms = self.length_ms
            if length_ms == 0:  # closed at boot: the button gives two minutes
                length_ms = PAIRING_WINDOW_MS
        self._until_ms = None if length_ms is None else now_ms + length_ms

    def close(self, now_ms):
        self._until_ms = now_ms


def store_key(addr_type, addr):
    """The bond store's key for a peer: NimBLE's ble_addr_t (type, then the address least
    significant byte first); ``addr`` as MicroPython's IRQs give it (most significant first)."""
    return bytes((addr_type,)) + bytes(reversed(bytes(addr)))


class Trust:
    """Which connections may write the Control Point and the Lease.

    NimBLE reports a pairing's encryption before it stores the bond's keys, and a restored
    bond's encryption with no keys stored at all; so an encrypted link is trusted at once only
    if the store already holds its peer's keys, and otherwise once its keys are stored while
    the window is open. Keyed by connection handle; a handle's verdict stays until a new
    connection takes the handle, so a write queued just before its link went is judged as it
    was made. One connection at a time (the device stops advertising while connected).
    """

    def __init__(self, require_bond):
        self.require_bond = require_bond
        self._trusted = {}  # handle -> bool
        self._current = None  # (handle, store key of the peer)

    def connected(self, handle, addr_type, addr):
        self._trusted[handle] = False
        self._current = (handle, store_key(addr_type, addr))

    def disconnected(self, handle):
        if self._current is not None and self._current[0] == handle:
            self._current = None

    def encryption_changed(self, handle, encrypted, bonded, secrets):
        """The link's encryption changed; ``secrets`` is the bond store (``{(type, key):
        value}``). Returns the verdict."""
        self._trusted[handle] = False
        if not encrypted or not bonded:
            return UNBONDED
        current = self._current
        if current is not None and current[0] == handle and (2, current[1]) in secrets:
            self._trusted[handle] = True
            return RESTORED
        return PENDING

    def keys_stored(self, key_type, window_open):
        """A pairing stored a bond's keys (for the current connection's peer). Returns the
        verdict for that connection, or None if these are no bond keys or nobody is
        connected."""
        current = self._current
        if key_type not in BOND_KEY_TYPES or current is None:
            return None
        self._trusted[current[0]] = window_open
        return PAIRED if window_open else REFUSED

    def current_handle(self):
        return None if self._current is None else self._current[0]

    def may_write(self, handle):
        """May this connection write the Control Point and the Lease."""
        if not self.require_bond:
            return True
        return self._trusted.get(handle, False)
