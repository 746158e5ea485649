import pytest

from emulators.elements import BadUiDump, number_elements

DUMP = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation="0">
<node index="0" text="" resource-id="" class="android.widget.FrameLayout" package="p" content-desc=""
 checkable="false" checked="false" clickable="false" enabled="true" focusable="false" focused="false"
 scrollable="false" long-clickable="false" password="false" selected="false" bounds="[0,0][1080,2400]">
<node index="0" text="Wi-Fi" resource-id="android:id/title" class="android.widget.TextView" package="p"
 content-desc="" checkable="false" checked="false" clickable="false" enabled="true" focusable="false"
 focused="false" scrollable="false" long-clickable="false" password="false" selected="false"
 bounds="[40,300][600,380]" />
<node index="1" text="" resource-id="p:id/switch_widget" class="android.widget.Switch" package="p"
 content-desc="Wi-Fi" checkable="true" checked="true" clickable="true" enabled="true" focusable="true"
 focused="false" scrollable="false" long-clickable="false" password="false" selected="false"
 bounds="[900,300][1040,380]" />
<node index="2" text="Disabled" resource-id="" class="android.widget.Button" package="p" content-desc=""
 checkable="false" checked="false" clickable="true" enabled="false" focusable="true" focused="false"
 scrollable="false" long-clickable="false" password="false" selected="false" bounds="[0,400][100,500]" />
<node index="3" text="Name" resource-id="p:id/name" class="android.widget.EditText" package="p"
 content-desc="" checkable="false" checked="false" clickable="false" enabled="true" focusable="true"
 focused="true" scrollable="false" long-clickable="false" password="false" selected="false"
 bounds="[40,600][1040,700]" />
</node></hierarchy>"""


def test_numbers_interactive_enabled_elements_in_order():
    els = number_elements("UI hierchary dumped to: /sdcard/window_dump.xml\n" + DUMP)
    assert [e.index for e in els] == [0, 1]
    switch, field = els
    assert switch.class_name == "android.widget.Switch" and switch.checked and switch.label == "Wi-Fi"
    assert switch.center == (970, 340)
    assert field.editable and field.focused and field.text == "Name"
    assert switch.describe() == '[0] Switch "Wi-Fi" checked (970,340)'


@pytest.mark.parametrize("bad", ["", "<hierarchy><node bounds='[0,0]'></hierarchy>", "not xml </hierarchy>"])
def test_bad_dumps_raise_a_named_error(bad):
    with pytest.raises(BadUiDump):
        number_elements(bad)


def _node(attrs: str, inner: str = "") -> str:
    base = {"text": "", "content-desc": "", "class": "android.widget.TextView", "clickable": "false",
            "checkable": "false", "scrollable": "false", "long-clickable": "false", "enabled": "true",
            "bounds": "[0,0][100,100]"}
    for pair in attrs.split(";"):
        if pair:
            k, v = pair.split("=", 1)
            base[k] = v
    fields = " ".join(f'{k}="{v}"' for k, v in base.items())
    return f"<node {fields}>{inner}</node>"


def test_a_row_carries_the_text_its_children_show():
    """A settings row: clickable container, title in its content-desc, summary in a child TextView; the
    switch inside is an element of its own and its label is not repeated as the row's detail."""
    row = _node(
        "class=android.widget.LinearLayout;clickable=true;content-desc=Device name",
        _node("text=Device name")
        + _node("text=Fjord Kestrel 89")
        + _node("class=android.widget.Switch;checkable=true;clickable=true;content-desc=Sync",
                _node("text=On")),
    )
    listed = _node("class=android.widget.ScrollView;scrollable=true", row)
    els = number_elements(f"<hierarchy>{listed}</hierarchy>")
    scroll, parent, switch = els
    assert scroll.details == ()  # a scrolling container would repeat the whole screen
    assert parent.details == ("Fjord Kestrel 89",)
    assert switch.details == ("On",)
    assert parent.describe(with_center=False) == '[1] LinearLayout "Device name" ("Fjord Kestrel 89")'


def test_the_calculator_result_is_listed_with_its_value():
    from emulators.phonesim import SimDevice

    device = SimDevice(seed=3, resolution="small")
    device.shell("monkey -p com.android.calculator2 -c android.intent.category.LAUNCHER 1")
    for key in ("7", "×", "6", "="):
        e = next(x for x in device.elements() if x.label == key)
        device.tap(*e.center)
    assert device.elements()[0].label == "42"
