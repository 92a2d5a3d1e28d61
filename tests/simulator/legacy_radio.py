"""A Bluetooth 4.x controller on the virtual radio: it hears legacy advertising PDUs only.

bumble 0.0.236's emulated controller puts every advertising set on the link as one
ADV_EXT_IND carrying the set's advertising data, whether the set uses legacy PDUs or not,
never sends a scan response, and reports every PDU to every scanner (then once more as a
"scan response" repeating the advertising data). A Bluetooth 4.x controller - an old phone,
an ESP32 proxy, a 4.x USB adapter - hears only legacy PDUs (ADV_IND and the like); when it
scans actively it sends a SCAN_REQ to a scannable advertiser and reports the SCAN_RSP.

:class:`LegacyController` does that on the same link. As the link does not say what kind of
PDU went out, it looks up the advertising set a PDU came from in the advertiser's controller
and keeps only sets that use legacy PDUs with at most 31 bytes of data and of scan response
(a real controller refuses more for a legacy set, so such a set would not be on air).
"""

from __future__ import annotations

from dataclasses import dataclass

from bumble import hci, ll
from bumble.controller import Controller

LEGACY_DATA_MAX = 31
_Properties = hci.HCI_LE_Set_Extended_Advertising_Parameters_Command.AdvertisingProperties
_EventType = hci.HCI_LE_Advertising_Report_Event.EventType
_ACTIVE_SCANNING = 0x01  # HCI LE Set Scan Parameters: LE_Scan_Type


@dataclass(frozen=True, slots=True)
class LegacyPdu:
    """What a legacy advertiser puts on air: its event type, data and scan response."""

    event_type: int
    data: bytes
    scan_response: bytes


class LegacyController(Controller):
    """An emulated Bluetooth 4.2 controller: no extended advertising, legacy PDUs only."""

    hci_version = hci.HCI_VERSION_BLUETOOTH_CORE_4_2
    le_features = (
        hci.LeFeatureMask.LE_ENCRYPTION
        | hci.LeFeatureMask.CONNECTION_PARAMETERS_REQUEST_PROCEDURE
        | hci.LeFeatureMask.EXTENDED_REJECT_INDICATION
        | hci.LeFeatureMask.PERIPHERAL_INITIATED_FEATURE_EXCHANGE
        | hci.LeFeatureMask.LE_PING
        | hci.LeFeatureMask.LE_DATA_PACKET_LENGTH_EXTENSION
        | hci.LeFeatureMask.LL_PRIVACY
        | hci.LeFeatureMask.EXTENDED_SCANNER_FILTER_POLICIES
    )

    def on_ll_advertising_pdu(self, packet: ll.AdvertisingPdu) -> None:
        if not isinstance(packet, ll.AdvInd | ll.AdvExtInd):
            super().on_ll_advertising_pdu(packet)
            return
        pdu = self._legacy_pdu(packet)
        if pdu is None:
            return  # an extended advertising PDU: a 4.x controller does not hear it
        address = packet.advertiser_address
        if self.le_scan_enable:
            self._report(pdu.event_type, address, pdu.data)
            if self.le_scan_type == _ACTIVE_SCANNING and pdu.event_type in (
                _EventType.ADV_IND,
                _EventType.ADV_SCAN_IND,
            ):
                self._report(_EventType.SCAN_RSP, address, pdu.scan_response)
        pending = self.pending_le_connection
        if (
            pending is not None
            and pending.peer_address == address
            and pdu.event_type == _EventType.ADV_IND
        ):
            self.create_le_connection(address)

    def _report(self, event_type: int, address: hci.Address, data: bytes) -> None:
        report = hci.HCI_LE_Advertising_Report_Event.Report(
            event_type=event_type,
            address_type=address.address_type,
            address=address,
            data=data,
            rssi=-50,
        )
        self.send_hci_packet(hci.HCI_LE_Advertising_Report_Event([report]))

    def _legacy_pdu(self, packet: ll.AdvInd | ll.AdvExtInd) -> LegacyPdu | None:
        """The legacy PDU ``packet`` stands for, or None if its set does not use them."""
        for controller in self.link.controllers:
            if controller is self:
                continue
            if isinstance(packet, ll.AdvInd):  # sent by legacy HCI commands: always legacy
                advertiser = controller.le_legacy_advertiser
                if advertiser.enabled and advertiser.address == packet.advertiser_address:
                    return _checked(
                        _EventType.ADV_IND,
                        packet.data,
                        bytes(advertiser.scan_response_data),
                    )
                continue
            for advertising_set in controller.advertising_sets.values():
                parameters = advertising_set.parameters
                if (
                    parameters is None
                    or not advertising_set.enabled
                    or advertising_set.address != packet.advertiser_address
                    or bytes(advertising_set.data) != packet.data
                ):
                    continue
                properties = _Properties(parameters.advertising_event_properties)
                if _Properties.USE_LEGACY_ADVERTISING_PDUS not in properties:
                    return None
                return _checked(
                    _event_type(properties),
                    packet.data,
                    bytes(advertising_set.scan_response_data),
                )
        return None


def _event_type(
    properties: hci.HCI_LE_Set_Extended_Advertising_Parameters_Command.AdvertisingProperties,
) -> int:
    connectable = _Properties.CONNECTABLE_ADVERTISING in properties
    scannable = _Properties.SCANNABLE_ADVERTISING in properties
    if connectable and scannable:
        return _EventType.ADV_IND
    if scannable:
        return _EventType.ADV_SCAN_IND
    return _EventType.ADV_NONCONN_IND


def _checked(event_type: int, data: bytes, scan_response: bytes) -> LegacyPdu | None:
    if len(data) > LEGACY_DATA_MAX or len(scan_response) > LEGACY_DATA_MAX:
        return None  # a real controller refuses such a legacy set: it is never on air
    return LegacyPdu(event_type, data, scan_response)
