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
