"""PhoneSim: the embedded Android-like phone."""

from emulators.phonesim.device import SimDevice
from emulators.phonesim.phone import Phone

__all__ = ["Phone", "SimDevice"]
