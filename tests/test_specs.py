import pytest

from emulators.errors import BadDeviceSpec
from emulators.specs import DeviceSpec, parse_device_spec


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("sim:8", DeviceSpec("sim", 8)),
        ("adb:127.0.0.1:6555", DeviceSpec("adb", 1, ("127.0.0.1:6555",))),
        ("adb:10.0.0.2:5555,phone.local:5557", DeviceSpec("adb", 2, ("10.0.0.2:5555", "phone.local:5557"))),
        ("serial:emulator-5554,R58M123ABC", DeviceSpec("serial", 2, ("emulator-5554", "R58M123ABC"))),
        ("avd:Pixel_6_API_34:4", DeviceSpec("avd", 4, ("Pixel_6_API_34",))),
    ],
)
def test_valid_specs(spec, expected):
    parsed = parse_device_spec(spec)
    assert parsed == expected
    assert parse_device_spec(str(parsed)) == parsed


@pytest.mark.parametrize(
    "spec",
    ["", "sim", "sim:", "sim:0", "sim:-1", "sim:x", "sim:99999", "adb:host", "adb:host:0", "adb:host:70000",
     "adb:h:1,,h:2", "adb:h:1,h:1", "serial:", "serial:a b", "avd:Pixel", "avd::2", "avd:P:0", "usb:1",
     "adb:;rm -rf:5555"],
)
def test_bad_specs_show_the_grammar(spec):
    with pytest.raises(BadDeviceSpec) as err:
        parse_device_spec(spec)
    message = str(err.value)
    assert repr(spec) in message
    assert "sim:N" in message and "adb:HOST:PORT" in message and "avd:NAME:N" in message
