"""The virtual radio's controllers: bumble's emulated controller, completed where it falls short.

bumble 0.0.236's emulated controller answers LE Create Connection Cancel with success but
neither clears its pending connection nor reports the cancelled creation, so a host that
times out a connection attempt (to a device that is off, say) can never connect again:
every later attempt is refused as "command disallowed". A real controller (Bluetooth Core
Vol 4, Part E, 7.8.13) ends the pending creation and sends an LE Connection Complete event
with the status Unknown Connection Identifier; :class:`RadioController` does that.
"""

from __future__ import annotations

import asyncio

from bumble import hci
from bumble.controller import Controller


class RadioController(Controller):
    """An emulated controller on the virtual radio, with a working connection cancel."""

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        # The Command Complete goes first; then the creation is reported as cancelled.
        asyncio.get_running_loop().call_soon(self._report_cancelled, pending.peer_address)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def _report_cancelled(self, peer_address: hci.Address) -> None:
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer_address.address_type,
                peer_address=peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )
