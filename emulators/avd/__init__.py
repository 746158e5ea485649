"""Android emulators for ``avd:NAME:N`` specs: a pool of instances, their console, and SDK tool lookup."""

from emulators.avd.console import EmulatorConsole, read_auth_token
from emulators.avd.instance import EmulatorInstance, PoolConfig
from emulators.avd.pool import EmulatorDevice, EmulatorPool
from emulators.avd.sdk import find_tool

__all__ = ["EmulatorConsole", "EmulatorDevice", "EmulatorInstance", "EmulatorPool", "PoolConfig", "find_tool",
           "read_auth_token"]
