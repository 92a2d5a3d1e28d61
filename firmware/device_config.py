"""One board's configuration (edit before flashing; see docs/diy.md)."""

KIND = "heat-pad"  # or "light-belt-420", "light-belt-800", "light-belt-1000"
NAME = "heat-pad"  # 1-29 letters, digits, '.', '_' or '-': what a scan shows
SERIAL = "DIY-0001"
REQUIRE_BOND = True  # only a bonded controller may write the Control Point and the Lease
PAIRING_WINDOW_S = 0  # new bonds after power-on (0: only after the button is held 3 s)
MAX_DRIVE_MW = 15000  # the pad's (or strip's) power at 100 % duty
EMITTING_AREA_CM2 = 0  # a belt's (LED strip's) emitting area, cm2, for J/cm2 (0: unknown)
OUTPUT_PIN = 25  # PWM to the output MOSFET's gate
SUPPLY_PIN = 26  # the supply MOSFET (opened by the cut-out)
NTC_PIN = 34  # the NTC divider (ADC1: usable while the radio runs)
BUTTON_PIN = 0  # the BOOT button: hold 3 s to open the pairing window
CONTACT_PIN = None  # a belt's skin-contact switch (to ground); None: always in contact
BATTERY_PIN = None  # a battery divider; None: USB powered
